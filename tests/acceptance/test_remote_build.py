"""Whole builds against the Runware and RunComfy emulators over real sockets:
what a user sees, and what the emulators billed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from PIL import Image

from imagebuild.emulators import Faults, RunComfyEmulator, RunwareEmulator, serve
from imagebuild.emulators.faults import API_FAULTS
from imagebuild.registry.models import SCHEMAS_DIR, Registry
from tests.conftest import Project

KEY = "rw-test-key-5f3c9e1d7a2b4c6e8f0a1b2c3d4e5f6a"
TOKEN = "rc-test-token-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"

FOUR_MODELS = """\
version: 1
providers:
  runware: {pollFirst: 0.05, pollInterval: 0.05}
  runcomfy: {pollFirst: 0.05, pollInterval: 0.05}
targets:
  - name: ia15
    model: "imagineart:1@5"
    prompt: a rain-slick neon alley portrait
    width: 2472
    height: 824
  - name: ia15pro
    model: "imagineart:1.5-pro@0"
    prompt: an art deco perfume poster
    width: 6592
    height: 2200
  - name: ia20
    model: "imagineart:2.0@0"
    prompt: a reasoning teapot
    width: 2048
    height: 2048
    settings: {thinkingLevel: high}
  - name: preview
    model: imagineart/imagineart-1.5-preview/text-to-image
    prompt: a fashion street portrait
    width: 1600
    height: 900
    output: out/preview.png
"""


@pytest.fixture
def runware(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunwareEmulator]:
    emulator = RunwareEmulator(api_key=KEY, faults=Faults(latency=0.05))
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        yield emulator


@pytest.fixture
def runcomfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunComfyEmulator]:
    emulator = RunComfyEmulator(token=TOKEN, faults=Faults(latency=0.05))
    with serve(emulator) as url:
        monkeypatch.setenv("RUNCOMFY_API_URL", url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
        yield emulator


def all_text(root: Path) -> str:
    """Every file a build left behind, as text, to search for secrets."""
    return "\n".join(
        path.read_bytes().decode("latin-1") for path in root.rglob("*") if path.is_file()
    )


def test_four_models_on_two_providers(
    project: Project, runware: RunwareEmulator, runcomfy: RunComfyEmulator
) -> None:
    project.write(FOUR_MODELS)
    report = project.build()
    assert report["summary"]["generated"] == 4, report
    # RunComfy reports no cost; the three Runware images report theirs.
    assert report["summary"]["cost"] == pytest.approx(0.03 + 0.045 + 0.05)
    locked = project.locked()
    for name in ("ia15", "ia15pro", "ia20"):
        entry = locked[name]
        assert entry["taskUUID"] and entry["outputs"][0]["imageUUID"]
        assert isinstance(entry["seed"], int) and entry["cost"] > 0
    assert locked["preview"]["taskUUID"]
    assert locked["preview"]["request"]["aspect_ratio"] == "16:9"
    with Image.open(project.root / "out/ia15pro.jpg") as image:
        assert (image.size, image.format) == ((6592, 2200), "JPEG")
    with Image.open(project.root / "out/preview.png") as image:
        assert image.format == "PNG"
    assert (runware.stats.billed, runcomfy.stats.billed) == (3, 1)
    requests = runware.stats.requests + runcomfy.stats.requests
    second = project.build()
    assert second["summary"]["kept"] == 4
    assert runware.stats.requests + runcomfy.stats.requests == requests
    assert KEY not in all_text(project.root) and TOKEN not in all_text(project.root)


MANY = """\
version: 1
providers:
  runware: {{concurrency: 32, pollFirst: 0.05, pollInterval: 0.05, retries: 8}}
defaults:
  model: "runware:101@1"
  width: 128
  height: 128
targets:
  - name: "tile-{{{{ n }}}}"
    matrix:
      n: [{numbers}]
    prompt: "tile number {{{{ n }}}}"
"""


def test_faults_at_twenty_percent_bill_each_target_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(latency=0.05, fail_rate=0.2, retry_after=0.05, seed=7)
    emulator = RunwareEmulator(api_key=KEY, faults=faults)
    project.write(MANY.format(numbers=", ".join(map(str, range(200)))))
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        result = project.run("build", "-j", "64", "--json")
    assert result.code == 0, result.err[-3000:]
    assert orjson.loads(result.out)["summary"]["generated"] == 200
    assert sum(emulator.stats.faults.values()) > 10, emulator.stats.faults
    assert emulator.stats.billed == 200
    locked = project.locked()
    assert len({entry["taskUUID"] for entry in locked.values()}) == 200
    for entry in locked.values():
        with Image.open(project.root / entry["outputs"][0]["path"]) as image:
            image.load()
            assert image.size == (128, 128)
    assert KEY not in all_text(project.root) + result.err + result.out


def start(root: Path, url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNWARE_API_URL": f"{url}/v1", "RUNWARE_API_KEY": KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "imagebuild", "build", "-j", "16", "--json"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("round_", range(10))
def test_kill_9_then_rebuild_pays_for_nothing_twice(tmp_path: Path, round_: int) -> None:
    emulator = RunwareEmulator(api_key=KEY, faults=Faults(latency=0.4))
    (tmp_path / "imagebuild.yaml").write_text(MANY.format(numbers=", ".join(map(str, range(30)))))
    with serve(emulator) as url:
        build = start(tmp_path, url)
        time.sleep(random.Random(round_).uniform(0.3, 2.0))
        os.kill(build.pid, signal.SIGKILL)
        build.wait(timeout=30)
        lock = tmp_path / "imagebuild.lock.json"
        before = orjson.loads(lock.read_bytes())["targets"] if lock.exists() else {}
        rebuild = start(tmp_path, url)
        _, err = rebuild.communicate(timeout=120)
    assert rebuild.returncode == 0, err.decode()[-3000:]
    after = orjson.loads(lock.read_bytes())["targets"]
    assert len(after) == 30
    for name, entry in before.items():
        assert after[name]["outputs"] == entry["outputs"]
    assert emulator.stats.billed == 30, (emulator.stats.billed, err.decode()[-2000:])


def test_bad_key_is_one_line_per_target(
    project: Project, runware: RunwareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", "rw-wrong-key-00000000000000000000")
    project.write(MANY.format(numbers="1, 2"))
    result = project.run("build", "--keep-going")
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.startswith("imagebuild.yaml: target")]
    assert sorted(lines) == [
        "imagebuild.yaml: target tile-1: Runware rejected the API key (RUNWARE_API_KEY)",
        "imagebuild.yaml: target tile-2: Runware rejected the API key (RUNWARE_API_KEY)",
    ]
    assert "rw-wrong-key" not in result.err + result.out
    assert runware.stats.billed == 0


def test_missing_key_is_a_clear_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWARE_API_KEY", raising=False)
    project.write(MANY.format(numbers="1"))
    result = project.run("build")
    assert result.code == 1
    assert "RUNWARE_API_KEY is not set" in result.err
    assert "Traceback" not in result.err


def test_no_credits_fails_the_targets_it_cannot_pay_and_keeps_the_rest(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = RunwareEmulator(api_key=KEY, faults=Faults(latency=0.05), credits=0.03 * 2 + 0.001)
    project.write(
        "version: 1\nproviders:\n  runware: {pollFirst: 0.05, pollInterval: 0.05}\ntargets:\n"
        + "".join(
            f'  - {{name: t{n}, model: "imagineart:1@5", prompt: "poster {n}", width: 2472, height: 824}}\n'
            for n in range(4)
        )
    )
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        result = project.run("build", "--keep-going", "-j", "1", "--json")
    assert result.code == 1
    statuses = sorted(t["status"] for t in orjson.loads(result.out)["targets"])
    assert statuses == ["failed", "failed", "ok", "ok"]
    assert result.err.count("insufficient") + result.err.count("credits") >= 2
    assert emulator.stats.billed == 2


def test_invalid_parameter_names_the_target_and_field(
    project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stricter = tmp_path_factory.mktemp("schemas")
    schema = orjson.loads((SCHEMAS_DIR / "runware-image-inference.json").read_bytes())
    schema["properties"]["steps"]["maximum"] = 10
    (stricter / "runware-image-inference.json").write_bytes(orjson.dumps(schema))
    for path in SCHEMAS_DIR.glob("*.json"):
        if path.name != "runware-image-inference.json":
            (stricter / path.name).write_bytes(path.read_bytes())
    (stricter.parent / "transforms.schema.json").write_bytes(
        (SCHEMAS_DIR.parent / "transforms.schema.json").read_bytes()
    )
    emulator = RunwareEmulator(
        api_key=KEY, faults=Faults(latency=0.05), registry=Registry.from_directory(stricter)
    )
    project.write(
        MANY.format(numbers="1, 2")
        .replace("  width: 128\n", "  width: 128\n  steps: 20\n")
        .replace(
            '    prompt: "tile number {{ n }}"',
            '    prompt: "tile number {{ n }}"\n    steps: "{{ 5 if n == 1 else 20 }}"',
        )
    )
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        result = project.run("build", "--keep-going", "--json")
    assert result.code == 1
    status = {t["name"]: t["status"] for t in orjson.loads(result.out)["targets"]}
    assert status == {"tile-1": "ok", "tile-2": "failed"}
    assert (
        "imagebuild.yaml:14:12: target tile-2: invalid parameter steps"
        in result.err.splitlines()[-1]
    )


@pytest.mark.parametrize("json_report", [False, True])
def test_a_lost_runcomfy_submission_is_counted_in_the_summary(
    project: Project, monkeypatch: pytest.MonkeyPatch, json_report: bool
) -> None:
    # The submit's answer is dropped: RunComfy may run and bill it, and no
    # client can learn its id. The build says so in its summary.
    seed = next(
        seed
        for seed in range(1000)
        if Faults(fail_rate=0.5, kinds=("drop",), seed=seed).draw(API_FAULTS) is not None
    )
    emulator = RunComfyEmulator(
        token=TOKEN, faults=Faults(latency=0.05, fail_rate=0.5, kinds=("drop",), seed=seed)
    )
    project.write(
        "version: 1\nproviders:\n  runcomfy: {pollFirst: 0.05, pollInterval: 0.05}\ntargets:\n"
        "  - name: preview\n    model: imagineart/imagineart-1.5-preview/text-to-image\n"
        "    prompt: a fashion street portrait\n"
    )
    with serve(emulator) as url:
        monkeypatch.setenv("RUNCOMFY_API_URL", url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
        result = project.run("build", *(["--json"] if json_report else []))
    assert result.code == 1
    assert "may still run and bill" in result.err
    assert emulator.stats.snapshot()["tasks"] == 1, "the submit was sent once"
    if json_report:
        assert orjson.loads(result.out)["summary"]["lost"] == 1
    else:
        assert (
            result.err.rstrip()
            .splitlines()[-1]
            .startswith("1 failed; cost $0.0000; 1 lost submission may still be billed; ")
        )


PRICED = """\
version: 1
providers:
  runware: {{pollFirst: 0.05, pollInterval: 0.05, retries: 1}}
defaults:
  model: "imagineart:1@5"
  width: {side}
  height: {side}
targets:
  - name: "p-{{{{ n }}}}"
    matrix:
      n: [{numbers}]
    prompt: "priced poster {{{{ n }}}}"
"""


def build_json(project: Project, *argv: str) -> tuple[int, dict[str, object]]:
    result = project.run("build", "--json", *argv)
    assert "Traceback" not in result.err
    return result.code, orjson.loads(result.out)["summary"]


def test_every_cost_that_may_have_been_billed_is_in_the_summary(
    project: Project, runware: RunwareEmulator
) -> None:
    """Faults after billing (a lost answer, a failed poll, a cut download) are
    owed: counted as possibly billed, and collected by the next build."""
    runware.faults = Faults(latency=0.05, fail_rate=0.4, seed=3)
    project.write(PRICED.format(side=2048, numbers=", ".join(map(str, range(12)))))
    code, first = build_json(project, "-k")
    assert code == 1
    assert first["failed"] and first["owed"], first
    billed = runware.stats.snapshot()["billed_cost"]
    # Nothing billed is missing from the summary; an answer lost before the
    # server took the task is counted as possibly billed, as a client must.
    assert first["cost"] == pytest.approx(0.03 * first["generated"])
    assert first["cost"] <= billed + 1e-9
    assert billed <= first["cost"] + first["possiblyBilled"] + 1e-9

    runware.faults = Faults(latency=0.05)
    code, second = build_json(project)
    assert code == 0, second
    assert second["generated"] == first["failed"]
    assert runware.stats.billed == 12, "the owed tasks were collected, not bought again"
    assert second["owed"] == 0


def test_a_failed_force_is_collected_by_the_next_plain_build(
    project: Project, runware: RunwareEmulator
) -> None:
    project.write(PRICED.format(side=2048, numbers="1"))
    build_json(project)
    before = project.locked()["p-1"]
    runware.faults = Faults(latency=0.05, fail_rate=1.0, kinds=("truncate",))
    code, forced = build_json(project, "--force")
    assert (code, forced["failed"], forced["owed"]) == (1, 1, 1)
    assert runware.stats.billed == 2

    runware.faults = Faults(latency=0.05)
    plan = project.plan()
    (step,) = plan["targets"]
    assert step["action"] == "generate"
    assert step["reasons"][-1].endswith("paid by an interrupted build")
    assert step["estimatedCost"] == 0.0
    code, plain = build_json(project)
    assert (code, plain["generated"]) == (0, 1)
    assert runware.stats.billed == 2, "collected, not bought a third time"
    after = project.locked()["p-1"]
    assert after["taskUUID"] != before["taskUUID"]
    assert not (project.root / ".imagebuild/imagebuild.journal").exists()


def test_a_refused_submission_is_not_owed(project: Project, runware: RunwareEmulator) -> None:
    runware.balance = 0.0
    project.write(PRICED.format(side=2048, numbers="1"))
    code, summary = build_json(project)
    assert (code, summary["failed"], summary["owed"]) == (1, 1, 0)
    assert not (project.root / ".imagebuild/imagebuild.journal").exists()


SEEDS_AND_SAFETY = """\
version: 1
providers:
  runware: {pollFirst: 0.05, pollInterval: 0.05}
targets:
  - name: trio
    model: "runware:101@1"
    prompt: PROMPT
    width: 128
    height: 128
    numberResults: 3
    safety: {checkContent: true}
"""


def test_every_output_keeps_its_own_seed(project: Project, runware: RunwareEmulator) -> None:
    project.write(SEEDS_AND_SAFETY.replace("PROMPT", "three foxes"))
    project.build()
    entry = project.locked()["trio"]
    seeds = [output["seed"] for output in entry["outputs"]]
    assert seeds == [entry["seed"], entry["seed"] + 1, entry["seed"] + 2]
    assert not any(output.get("nsfw") for output in entry["outputs"])


def test_nsfw_flags_are_recorded_shown_and_can_fail_the_build(
    project: Project, runware: RunwareEmulator
) -> None:
    project.write(SEEDS_AND_SAFETY.replace("PROMPT", "three foxes [nsfw]"))
    result = project.run("build")
    assert result.code == 0, result.err
    assert "3 images flagged NSFW" in result.err.splitlines()[-1]
    outputs = project.locked()["trio"]["outputs"]
    assert [output["nsfw"] for output in outputs] == [True, True, True]
    assert all((project.root / output["path"]).is_file() for output in outputs)
    failing = project.run("build", "--fail-on-nsfw", "--json")
    assert failing.code == 1
    assert orjson.loads(failing.out)["summary"]["nsfw"] == 3
    assert "--fail-on-nsfw: 3 images flagged NSFW" in failing.err
    assert runware.stats.billed == 3


def test_a_runcomfy_result_is_converted_to_the_outputs_format(
    project: Project, runcomfy: RunComfyEmulator
) -> None:
    project.write(
        "version: 1\nproviders:\n  runcomfy: {pollFirst: 0.05, pollInterval: 0.05}\ntargets:\n"
        "  - name: preview\n    model: imagineart/imagineart-1.5-preview/text-to-image\n"
        "    prompt: a fashion street portrait\n    output: out/preview.jpg\n"
    )
    project.build()
    with Image.open(project.root / "out/preview.jpg") as image:
        assert image.format == "JPEG"
    entry = project.locked()["preview"]
    assert entry["request"]["outputFormat"] == "JPG"
    project.write(project.manifest.read_text().replace("preview.jpg", "preview.webp"))
    (step,) = project.plan()["targets"]
    assert step["action"] == "generate", "another format is another image"
    assert "outputFormat changed JPG -> WEBP" in step["reasons"]


def test_a_paid_task_the_plan_does_not_collect_is_reported(
    project: Project, runware: RunwareEmulator
) -> None:
    text = PRICED.format(side=2048, numbers="1")
    project.write(text)
    runware.faults = Faults(latency=0.05, fail_rate=1.0, kinds=("truncate",))
    assert build_json(project)[1]["owed"] == 1
    runware.faults = Faults(latency=0.05)
    project.write(text.replace("priced poster", "another poster"))
    result = project.run("build")
    assert result.code == 0
    assert (
        "target p-1: task " in result.err
        and "paid by an interrupted build, waits in the journal: its request changed since;"
        " reverting the change collects it"
        in result.err
    )
    project.write(text)
    code, reverted = build_json(project)
    assert (code, reverted["generated"]) == (0, 1)
    assert runware.stats.billed == 2, "the first task was collected on the revert"
