"""A real install: a wheel built from the tracked files, installed into a fresh
virtual environment, run from a folder that has nothing of the clone in it.

The wheel is installed without its dependencies, which this environment
already has: a ``.pth`` line lends them to the fresh environment, while
``imagebuild`` itself can only come from the wheel (the editable install here
is a finder that a plain path line does not activate). ``pip check`` there
proves that the wheel declares every dependency it is run with.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import orjson
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def tracked_files() -> list[str]:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout to know which files a clone has")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def scripts_dir(environment: Path) -> Path:
    return environment / ("Scripts" if sys.platform == "win32" else "bin")


def site_packages(environment: Path) -> Path:
    variables = {"base": str(environment), "platbase": str(environment)}
    return Path(sysconfig.get_path("purelib", vars=variables))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``imagebuild`` command of a fresh environment that has only the wheel."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    for name in tracked_files():
        destination = source / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    wheels = work / "wheels"
    build = ["wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels)]
    subprocess.run([sys.executable, "-m", "pip", *build, str(source)], check=True)
    (wheel,) = wheels.glob("imagebuild-*.whl")
    environment = work / "env"
    venv.create(environment, with_pip=True)
    python = scripts_dir(environment) / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    lent = site_packages(environment) / "lent_dependencies.pth"
    lent.write_text(sysconfig.get_path("purelib") + "\n")
    return scripts_dir(environment) / "imagebuild"


def run(command: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(command), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": str(command.parent), "SYSTEMROOT": "C:\\Windows"},
        timeout=120,
    )


def test_the_wheel_carries_the_schemas_and_declares_its_dependencies(installed: Path) -> None:
    python = installed.parent / "python"
    where = subprocess.run(
        [str(python), "-c", "import imagebuild; print(imagebuild.__file__)"],
        cwd=installed.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parents[1]), where
    package = Path(where).parent
    assert (package / "schemas" / "manifest.schema.json").is_file()
    assert {path.stem for path in (package / "schemas" / "models").glob("*.json")} >= {
        "local",
        "imagineart-1.5",
        "runware-image-inference",
    }
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], cwd=installed.parent, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_validate_plan_and_build_the_demo_from_outside_the_clone(
    installed: Path, tmp_path: Path
) -> None:
    shutil.copy2(ROOT / "manifests" / "demo.yaml", tmp_path / "demo.yaml")
    shutil.copytree(ROOT / "manifests" / "prompts", tmp_path / "prompts")

    validated = run(installed, "validate", "demo.yaml", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "10 targets valid" in validated.stdout

    planned = run(installed, "plan", "--json", "demo.yaml", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert orjson.loads(planned.stdout)["summary"]["generate"] == 10

    built = run(installed, "build", "demo.yaml", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr
    locked = orjson.loads((tmp_path / "demo.lock.json").read_bytes())["targets"]
    assert len(locked) == 10
    for entry in locked.values():
        for output in entry["outputs"]:
            with Image.open(tmp_path / output["path"]) as image:
                assert image.width > 0

    again = run(installed, "plan", "--json", "demo.yaml", cwd=tmp_path)
    assert orjson.loads(again.stdout)["summary"]["keep"] == 10

    reported = run(installed, "report", "demo.yaml", cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert reported.stdout.strip() == str(tmp_path / "report" / "index.html")
    assert "content-visibility" in page and "IntersectionObserver" in page  # CSS and script inline
