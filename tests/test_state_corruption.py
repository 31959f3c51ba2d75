"""Every file imagebuild keeps, damaged in each way a crash or a person can
damage it: every run gives one clear line (a record: the lock, the journal)
or a warning (a cache: the index, the objects, the stat file), never a
traceback; nothing built is lost; and the next build recovers."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.conftest import Project

MANIFEST = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - {name: a, prompt: first}
  - {name: b, prompt: second}
"""
STATE = Path(".imagebuild")


def built(project: Project) -> dict[str, bytes]:
    project.write(MANIFEST)
    project.build()
    return {name: (project.root / f"out/{name}.png").read_bytes() for name in "ab"}


def first_object(root: Path) -> Path:
    return sorted((root / STATE / "cache/objects").glob("??/*"))[0]


def replace_by_folder(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.mkdir(parents=True)
    (path / "inside").write_text("x")


def set_entry(project: Project, field: str, value: object) -> None:
    document = orjson.loads(project.lock.read_bytes())
    document["targets"]["b"][field] = value
    project.lock.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def journal_with(project: Project, line: bytes) -> None:
    (project.root / STATE / "imagebuild.journal").write_bytes(line + b"\n")


Damage = Callable[[Project], None]

# A record is refused with one located line that says how to repair it.
RECORD_DAMAGE: dict[str, tuple[Damage, str]] = {
    "lock entry not an object": (
        lambda p: set_entry(p, "outputs", 5),
        "imagebuild.lock.json:",
    ),
    "lock entry with a bad digest": (
        lambda p: set_entry(p, "outputs", [{"path": "out/b.png", "sha256": "xyz", "size": 1}]),
        "target b: outputs[0].sha256 is not a sha256 digest; repair the entry or delete it",
    ),
    "lock replaced by a folder": (
        lambda p: replace_by_folder(p.lock),
        "the lock is a folder, not a file: move it away",
    ),
    "journal record of the wrong type": (
        lambda p: journal_with(p, b'{"event": "submitted", "target": 5}'),
        "imagebuild.journal:1:1: damaged submitted record: target is not a string",
    ),
    "journal of an unknown event": (
        lambda p: journal_with(p, b'["not", "a", "record"]'),
        "imagebuild.journal:1:1: damaged record: not an object",
    ),
    "journal replaced by a folder": (
        lambda p: replace_by_folder(p.root / STATE / "imagebuild.journal"),
        "cannot read the journal",
    ),
    "state folder replaced by a file": (
        lambda p: (shutil.rmtree(p.root / STATE), (p.root / STATE).write_text("x")),
        ".imagebuild is not a folder: move it away",
    ),
}


@pytest.mark.parametrize("case", sorted(RECORD_DAMAGE))
def test_a_damaged_record_is_one_clear_line(project: Project, case: str) -> None:
    outputs = built(project)
    damage, expected = RECORD_DAMAGE[case]
    damage(project)
    for command in ("plan", "build"):
        result = project.run(command)
        assert "Traceback" not in result.err
        if result.code == 0:
            # plan reads no state folder that is a file: only build must fail.
            assert command == "plan" and case == "state folder replaced by a file"
            continue
        assert result.code == 1, (command, result.err)
        assert expected in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1
    for name, data in outputs.items():
        assert (project.root / f"out/{name}.png").read_bytes() == data


def test_the_lock_repaired_by_deleting_an_entry_recovers(project: Project) -> None:
    built(project)
    set_entry(project, "outputs", 5)
    document = orjson.loads(project.lock.read_bytes())
    del document["targets"]["b"]
    project.lock.write_bytes(orjson.dumps(document))
    assert project.actions() == {"a": "keep", "b": "restore"}
    assert project.build()["summary"]["restored"] == 1


def flip_a_bit(root: Path) -> None:
    target = first_object(root)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))


# A cache is only a cache: a damaged part is skipped with a warning.
CACHE_DAMAGE: dict[str, tuple[Damage, str]] = {
    "index record of the wrong type": (
        lambda p: (p.root / STATE / "cache/index.log").write_bytes(
            b"".join(
                b"\n" + line.split(b" ", 1)[0] + b' {"outputs": 7}'
                for line in (p.root / STATE / "cache/index.log").read_bytes().split(b"\n")
                if line
            )
        ),
        "a damaged record of",
    ),
    "object emptied": (lambda p: first_object(p.root).write_bytes(b""), "has the wrong size"),
    "stat value of the wrong type": (
        lambda p: (p.root / STATE / "stat.json").write_bytes(
            orjson.dumps({"out/a.png": "garbage", "out/b.png": [1, 2, 3]})
        ),
        "stat.json: a damaged record of out/a.png is skipped",
    ),
    "stat file not JSON": (
        lambda p: (p.root / STATE / "stat.json").write_bytes(b"{not json"),
        "stat.json cannot be read",
    ),
    "stat file replaced by a folder": (
        lambda p: replace_by_folder(p.root / STATE / "stat.json"),
        "stat.json cannot be read",
    ),
}


@pytest.mark.parametrize("case", sorted(CACHE_DAMAGE))
def test_a_damaged_cache_is_a_warning_and_the_build_recovers(project: Project, case: str) -> None:
    outputs = built(project)
    if not case.startswith("stat"):  # the cache serves outputs that are missing
        for name in "ab":
            (project.root / f"out/{name}.png").unlink()
    damage, expected = CACHE_DAMAGE[case]
    damage(project)
    result = project.run("build", "--json")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert expected in result.err
    summary = result.json()["summary"]
    assert summary["restored"] + summary["generated"] + summary["kept"] == 2
    for name, data in outputs.items():
        assert (project.root / f"out/{name}.png").read_bytes() == data  # deterministic model
    assert set(project.actions().values()) == {"keep"}


def test_a_flipped_bit_never_becomes_an_output(project: Project) -> None:
    built(project)
    damaged = first_object(project.root)
    name = next(n for n in "ab" if project.locked()[n]["outputs"][0]["sha256"] == damaged.name)
    (project.root / f"out/{name}.png").unlink()
    flip_a_bit(project.root)
    result = project.run("build")
    assert result.code == 1
    assert f"cache object {damaged.name} was damaged and is removed" in result.err
    assert not (project.root / f"out/{name}.png").exists()
    assert not damaged.exists()
    assert project.run("build", "--frozen").code == 1
    report = project.build()
    assert report["summary"]["generated"] == 1
    assert project.run("build", "--frozen").code == 0


@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are a POSIX resource")
def test_a_lock_that_cannot_be_written_loses_nothing(project: Project) -> None:
    """The disk refuses the lock (a size limit stands in for a full disk: the
    same failed write, arranged without privileges): one clear line, the old
    lock intact, the new output on disk and journaled, and the next build
    records it without generating anything."""
    long_prompt = "a very detailed prompt " * 120
    many = "\n".join(f"  - {{name: t{n}, prompt: '{long_prompt} {n}'}}" for n in range(40))
    project.write(MANIFEST.split("targets:")[0] + "targets:\n" + many + "\n")
    project.build()
    old_lock = project.lock.read_bytes()
    assert len(old_lock) > 100_000
    project.write(project.manifest.read_text().replace(f"{long_prompt} 7'", "changed'"))

    def limited() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    failed = subprocess.run(
        [sys.executable, "-m", "imagebuild", "build"],
        cwd=project.root,
        capture_output=True,
        text=True,
        preexec_fn=limited,
        check=False,
    )
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert (
        "imagebuild.lock.json:1:1: cannot write the lock: File too large; the previous lock"
        " is intact" in failed.stderr
    )
    assert project.lock.read_bytes() == old_lock
    assert (project.root / ".imagebuild/imagebuild.journal").is_file()
    recovered = project.build()
    assert recovered["summary"]["generated"] == 0
    assert recovered["summary"]["kept"] == 40
    assert project.locked()["t7"]["request"]["positivePrompt"] == "changed"
