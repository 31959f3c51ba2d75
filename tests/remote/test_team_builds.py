"""Whole builds by a team sharing one remote cache, against the Runware
emulator: a fresh clone restores everything without a provider request, two
machines building the same new targets pay once, a damaged remote object is
never an output, a remote that is down is one warning (or, required, one
error), and CI shards merge into one complete lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from imagebuild.emulators import Faults, RunwareEmulator, serve
from imagebuild.execution.executor import Executor
from imagebuild.execution.placement import Placement
from imagebuild.execution.sharing import Sharing
from imagebuild.planning.cache import Cache
from imagebuild.planning.plan import Step
from imagebuild.remote.store import object_key
from imagebuild.workspace import CACHE_ENV
from tests.conftest import Project
from tests.remote.conftest import Remote, make_bucket, start_moto, use_aws
from tests.remote.test_client import raw

KEY = "rw-team-key-7c1d9e2f4a6b8c0d1e3f5a7b9c1d3e5f"

CAMPAIGN = """\
version: 1
cache:
  remote: {url}
providers:
  runware: {{pollFirst: 0.05, pollInterval: 0.05}}
defaults:
  model: "runware:101@1"
  width: 128
  height: 128
targets:
  - name: "poster-{{{{ n }}}}"
    matrix:
      n: [{numbers}]
    prompt: "campaign poster number {{{{ n }}}}"
"""


@pytest.fixture
def runware(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunwareEmulator]:
    emulator = RunwareEmulator(api_key=KEY, faults=Faults(latency=0.05))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        yield emulator


def machine(project: Project, name: str, text: str) -> Path:
    """A clone on another machine: its own folder, its own local cache."""
    root = project.root / name
    root.mkdir()
    (root / "imagebuild.yaml").write_text(text)
    return root / "imagebuild.yaml"


def fresh_clone(project: Project, built: Path, name: str) -> Path:
    """A CI clone: the manifest and the lock, nothing else."""
    manifest = machine(project, name, built.read_text())
    shutil.copy2(
        built.with_name("imagebuild.lock.json"), manifest.with_name("imagebuild.lock.json")
    )
    return manifest


def outputs(manifest: Path) -> dict[str, bytes]:
    lock = orjson.loads(manifest.with_name("imagebuild.lock.json").read_bytes())["targets"]
    return {
        output["path"]: (manifest.parent / output["path"]).read_bytes()
        for entry in lock.values()
        for output in entry["outputs"]
    }


def test_a_fresh_clone_restores_everything_and_asks_no_provider(
    project: Project, remote: Remote, runware: RunwareEmulator
) -> None:
    laptop = machine(project, "laptop", CAMPAIGN.format(url=remote.url, numbers="1, 2, 3, 4, 5"))
    assert project.build(str(laptop))["summary"]["generated"] == 5
    assert runware.stats.billed == 5
    requests = runware.stats.requests

    ci = fresh_clone(project, laptop, "ci")
    plan = project.plan(str(ci))
    assert {t["action"] for t in plan["targets"]} == {"restore"}
    assert all("in remote cache" in t["reasons"] for t in plan["targets"])
    assert plan["summary"]["estimatedCost"] == 0.0
    report = project.build(str(ci))
    assert report["summary"]["restored"] == 5
    assert runware.stats.requests == requests, "no provider request"
    assert outputs(ci) == outputs(laptop), "byte-identical outputs"
    assert set(project.actions(str(ci)).values()) == {"keep"}


def test_restores_go_on_as_their_objects_arrive_written_where_they_land(
    project: Project, remote: Remote, runware: RunwareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    laptop = machine(project, "laptop", CAMPAIGN.format(url=remote.url, numbers="1, 2, 3, 4, 5"))
    project.build(str(laptop))
    requests = runware.stats.requests
    recorded: list[str] = []
    arrivals: list[int] = []
    copies: list[str] = []
    record, stored, restore = Executor._record, Placement.stored, Cache.restore

    def recording(executor: Executor, step: Step, entry: dict[str, Any]) -> None:
        recorded.append(step.name)
        record(executor, step, entry)

    def holding(placement: Placement, digest: str, data: bytes) -> None:
        if len(arrivals) == 4:
            # The last object holds back until earlier steps have recorded.
            deadline = time.monotonic() + 10
            while not recorded and time.monotonic() < deadline:
                time.sleep(0.01)
        arrivals.append(len(recorded))
        stored(placement, digest, data)

    def copying(cache: Cache, digest: str, destination: Path) -> None:
        copies.append(digest)
        restore(cache, digest, destination)

    monkeypatch.setattr(Executor, "_record", recording)
    monkeypatch.setattr(Placement, "stored", holding)
    monkeypatch.setattr(Cache, "restore", copying)
    ci = fresh_clone(project, laptop, "ci")
    assert project.build(str(ci), "-j", "1")["summary"]["restored"] == 5
    assert len(arrivals) == 5
    assert arrivals[-1] > 0, "no restore went on before the last object arrived"
    assert copies == [], "every output was written as its object landed, not copied after"
    assert runware.stats.requests == requests
    assert outputs(ci) == outputs(laptop)
    assert set(project.actions(str(ci)).values()) == {"keep"}


def test_a_build_that_stops_stops_its_restore_stream(
    project: Project, remote: Remote, runware: RunwareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_at_a_time = f"  remote: {remote.url}\n  concurrency: 1\n"
    text = CAMPAIGN.format(url=remote.url, numbers="1, 2, 3, 4, 5")
    laptop = machine(project, "laptop", text.replace(f"  remote: {remote.url}\n", one_at_a_time))
    project.build(str(laptop))
    requests = runware.stats.requests
    arrivals: list[str] = []
    stopped: list[Callable[[], bool]] = []
    prefetch, stored = Sharing.prefetch, Placement.stored

    def watching(sharing: Sharing, steps: list[Step], *handlers: Any) -> None:
        stopped.append(handlers[1])
        prefetch(sharing, steps, *handlers)

    def interrupting(placement: Placement, digest: str, data: bytes) -> None:
        arrivals.append(digest)
        stored(placement, digest, data)
        if len(arrivals) == 2:
            signal.raise_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            while not stopped[0]() and time.monotonic() < deadline:
                time.sleep(0.01)

    monkeypatch.setattr(Sharing, "prefetch", watching)
    monkeypatch.setattr(Placement, "stored", interrupting)
    ci = fresh_clone(project, laptop, "ci")
    assert project.run("build", str(ci)).code == 130
    assert len(arrivals) == 2, "nothing more was asked for once the build stopped"
    monkeypatch.setattr(Placement, "stored", stored)
    summary = project.build(str(ci))["summary"]
    assert summary["restored"] + summary["kept"] == 5
    assert runware.stats.requests == requests
    assert outputs(ci) == outputs(laptop)


def test_a_damaged_remote_object_is_never_an_output(
    project: Project, remote: Remote, runware: RunwareEmulator
) -> None:
    laptop = machine(project, "laptop", CAMPAIGN.format(url=remote.url, numbers="1, 2"))
    project.build(str(laptop))
    lock = orjson.loads(laptop.with_name("imagebuild.lock.json").read_bytes())["targets"]
    damaged = lock["poster-1"]["outputs"][0]["sha256"]
    fs, root = raw(remote)
    path = f"{root}/{object_key(damaged)}"
    data = bytearray(fs.cat_file(path))
    data[len(data) // 2] ^= 0x01
    fs.rm_file(path)
    fs.pipe_file(path, bytes(data))

    ci = fresh_clone(project, laptop, "ci")
    result = project.run("build", "--json", str(ci))
    assert result.code == 0, result.err
    assert f"object {object_key(damaged)}" in result.err and "is corrupt" in result.err
    actions = {t["name"]: t["action"] for t in result.json()["targets"]}
    assert actions == {"poster-1": "generate", "poster-2": "restore"}
    assert runware.stats.billed == 3, "the damaged one was bought again, once"
    relocked = orjson.loads(ci.with_name("imagebuild.lock.json").read_bytes())["targets"]
    output = ci.parent / relocked["poster-1"]["outputs"][0]["path"]
    assert output.read_bytes() != bytes(data)
    with Image.open(output) as image:
        image.verify()
    # The damaged record gave way to the new result: the next clone restores it.
    later = fresh_clone(project, ci, "later")
    assert set(project.actions(str(later)).values()) == {"restore"}
    assert project.build(str(later))["summary"]["restored"] == 2
    assert runware.stats.billed == 3


def start(manifest: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imagebuild", "build", "--json", "-j", "8", *argv, str(manifest)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(build: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = build.communicate(timeout=180)
    assert build.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    summary: dict[str, Any] = orjson.loads(out)["summary"]
    return summary


@pytest.mark.parametrize("remote", ["s3", "file"], indirect=True)
def test_two_machines_building_the_same_new_targets_pay_once(
    project: Project, remote: Remote, runware: RunwareEmulator
) -> None:
    runware.faults = Faults(latency=0.8)
    text = CAMPAIGN.format(url=remote.url, numbers=", ".join(map(str, range(20))))
    first, second = machine(project, "alice", text), machine(project, "bob", text)
    builds = [start(first), start(second)]
    summaries = [finished(build) for build in builds]
    assert runware.stats.billed == 20, "each target billed exactly once"
    assert sum(s["generated"] for s in summaries) == 20
    assert sum(s["restored"] for s in summaries) == 20
    assert sum(s["waited"] for s in summaries) > 0
    assert outputs(first) == outputs(second)


def test_a_remote_that_is_down_is_one_warning_or_a_required_error(
    project: Project, runware: RunwareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, endpoint = start_moto()
    use_aws(monkeypatch, endpoint)
    url = f"s3://{make_bucket(endpoint)}/cache"
    server.stop()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    text = CAMPAIGN.format(url=url, numbers="1, 2")
    text = text.replace("cache:\n  remote:", "cache:\n  timeout: 2\n  remote:")
    manifest = machine(project, "laptop", text)

    required = project.run("build", "--require-remote", str(manifest))
    assert required.code == 1
    assert "Traceback" not in required.err
    (line,) = required.err.strip().splitlines()
    assert line.startswith(f"remote cache {url}")
    assert runware.stats.billed == 0, "nothing is bought when the remote is required and down"

    started = time.monotonic()
    result = project.run("build", "--json", str(manifest))
    assert result.code == 0, result.err
    assert time.monotonic() - started < 60, "every remote wait is bounded"
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "going on without the remote cache" in warnings[0]
    assert result.json()["summary"]["generated"] == 2
    assert runware.stats.billed == 2
    assert "Traceback" not in result.err


SHARDED = (
    CAMPAIGN.split("targets:")[0]
    + """targets:
  - name: hero
    prompt: a glass teapot on a counter
  - name: hero-night
    prompt: the same teapot at night
    seedImage: {{target: hero}}
    strength: 0.5
  - name: "hero-{{{{ size }}}}"
    from: hero-night
    matrix:
      size: [96, 64, 32]
    transform:
      - resize: {{width: "{{{{ size }}}}", height: "{{{{ size }}}}"}}
  - name: "tile-{{{{ n }}}}"
    matrix:
      n: [1, 2, 3, 4, 5, 6, 7, 8]
    prompt: "tile number {{{{ n }}}}"
"""
)
HERO_UNIT = {"hero", "hero-night", "hero-96", "hero-64", "hero-32"}
GENERATED = {"hero", "hero-night", *(f"tile-{n}" for n in range(1, 9))}


def test_shards_on_three_runners_merge_in_a_fourth(
    project: Project, remote: Remote, runware: RunwareEmulator
) -> None:
    text = SHARDED.format(url=remote.url)
    shares = []
    for index in (1, 2, 3):
        runner = machine(project, f"runner-{index}", text)
        project.build(str(runner), "--shard", f"{index}/3")
        fragment = runner.with_name(f"imagebuild.shard-{index}-of-3.lock.json")
        shares.append(set(orjson.loads(fragment.read_bytes())["targets"]))
    assert runware.stats.billed == len(GENERATED), "no target generated twice"
    assert sum(1 for share in shares if share >= HERO_UNIT) == 1, "a DAG stays on one shard"

    merger = machine(project, "merge", text)
    fragments = []
    for index in (1, 2, 3):
        name = f"imagebuild.shard-{index}-of-3.lock.json"
        shutil.copy2(project.root / f"runner-{index}" / name, merger.parent / name)
        fragments.append(str(merger.parent / name))
    merged = project.run("lock", "merge", str(merger), *fragments)
    assert merged.code == 0, merged.err
    lock = orjson.loads(merger.with_name("imagebuild.lock.json").read_bytes())["targets"]
    assert set(lock) == HERO_UNIT | set(GENERATED)
    actions = project.actions(str(merger))
    assert set(actions.values()) <= {"keep", "restore"}
    report = project.build(str(merger))
    assert report["summary"]["generated"] == 0
    assert runware.stats.billed == len(GENERATED)
