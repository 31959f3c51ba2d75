"""``imagebuild watch`` as a user runs it: a save rebuilds exactly what it
changed and refreshes the report; Ctrl-C stops it cleanly; on a paid provider
it needs --max-cost and stops before going over it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from imagebuild.emulators import Faults, RunwareEmulator, serve
from tests.conftest import Project

MANIFEST = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - {name: a, prompt: "first, {% include 'prompts/style.j2' %}"}
  - {name: b, prompt: second}
  - {name: c, prompt: third}
"""


def start(root: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The watch, its stderr in a file outside the folder it watches."""
    log = root.parent / f"{root.name}-watch.log"
    return subprocess.Popen(
        [sys.executable, "-m", "imagebuild", "watch", *argv],
        cwd=root,
        env=env or dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )


def said(root: Path) -> str:
    return (root.parent / f"{root.name}-watch.log").read_text()


def settled(root: Path, rounds: int) -> None:
    """Until the watch has finished ``rounds`` builds and watches again; its
    watcher starts a moment after it says so."""
    until(lambda: said(root).count("waiting for changes") >= rounds)
    time.sleep(1.5)


def until(condition: Callable[[], object], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def locked(root: Path) -> dict[str, dict[str, object]]:
    path = root / "imagebuild.lock.json"
    if not path.exists():
        return {}
    targets: dict[str, dict[str, object]] = orjson.loads(path.read_bytes())["targets"]
    return targets


def stamp(root: Path) -> str:
    path = root / "report" / "reload.js"
    return path.read_text() if path.exists() else ""


@pytest.fixture
def watching(project: Project) -> Iterator[subprocess.Popen[str]]:
    (project.root / "prompts").mkdir()
    (project.root / "prompts/style.j2").write_text("cinematic light")
    project.write(MANIFEST)
    watch = start(project.root)
    try:
        yield watch
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


def test_a_save_rebuilds_exactly_what_changed_and_refreshes_the_report(
    project: Project, watching: subprocess.Popen[str]
) -> None:
    root = project.root
    settled(root, 1)
    first, before = locked(root), stamp(root)

    project.write(MANIFEST.replace("prompt: second", 'prompt: "second, at dusk"'))
    until(lambda: locked(root)["b"]["fingerprint"] != first["b"]["fingerprint"])
    until(lambda: stamp(root) != before)
    after_manifest = locked(root)
    assert after_manifest["a"] == first["a"] and after_manifest["c"] == first["c"]
    index = (root / "report/index.html").read_text()
    assert "second, at dusk" in index

    settled(root, 2)
    refreshed = stamp(root)
    (root / "prompts/style.j2").write_text("soft window light")  # an included template
    until(lambda: locked(root)["a"]["fingerprint"] != first["a"]["fingerprint"])
    until(lambda: stamp(root) != refreshed)
    assert locked(root)["b"] == after_manifest["b"]

    watching.send_signal(signal.SIGINT)
    watching.wait(timeout=30)
    err = said(root)
    assert watching.returncode == 0, err
    assert "Traceback" not in err
    assert err.rstrip().endswith("watch: stopped")
    rounds = [line for line in err.splitlines() if "; cost $" in line]
    assert rounds[0].startswith("3 generated")
    assert rounds[1].startswith("2 kept, 1 generated") and rounds[2].startswith(
        "2 kept, 1 generated"
    )
    generated = [line for line in err.splitlines() if line.startswith("generated ")]
    assert [line.split()[1] for line in generated[3:]] == ["b", "a"]


def test_a_manifest_that_does_not_parse_is_said_and_the_watch_goes_on(
    project: Project, watching: subprocess.Popen[str]
) -> None:
    root = project.root
    settled(root, 1)
    project.write(MANIFEST + "  - {name: d, prompt: [unclosed\n")
    until(lambda: "YAML syntax error" in said(root))
    time.sleep(1.5)
    project.write(MANIFEST.replace("prompt: third", "prompt: third again"))
    until(lambda: str(locked(root)["c"]["request"]).find("third again") >= 0)
    watching.send_signal(signal.SIGINT)
    watching.wait(timeout=30)
    err = said(root)
    assert watching.returncode == 0
    assert re.search(r"^imagebuild\.yaml:\d+:\d+: YAML syntax error", err, re.MULTILINE)
    assert "Traceback" not in err


PAID = """\
version: 1
providers:
  runware: {pollFirst: 0.05, pollInterval: 0.05}
targets:
  - name: poster
    model: "imagineart:1@5"
    prompt: PROMPT
    width: 2048
    height: 2048
"""


def test_a_paid_provider_needs_max_cost_and_the_watch_stops_before_going_over(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "rw-watch-key-0123456789abcdef0123456789abcd"
    emulator = RunwareEmulator(api_key=key, faults=Faults(latency=0.05))
    project.write(PAID.replace("PROMPT", "a poster"))
    with serve(emulator) as url:
        env = {**os.environ, "RUNWARE_API_URL": f"{url}/v1", "RUNWARE_API_KEY": key}
        refused = subprocess.run(
            [sys.executable, "-m", "imagebuild", "watch"],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 2
        assert "runware costs money: give --max-cost" in refused.stderr
        watch = start(project.root, "--max-cost", "0.05", env=env)
        try:
            settled(project.root, 1)
            project.write(PAID.replace("PROMPT", "another poster"))
            watch.wait(timeout=60)
        finally:
            if watch.poll() is None:
                watch.kill()
    err = said(project.root)
    assert watch.returncode == 1
    assert "watch: stopping: --max-cost: estimated cost $0.0300 exceeds $0.0200" in err
    assert emulator.stats.billed == 1
