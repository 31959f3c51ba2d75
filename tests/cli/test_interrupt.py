"""An interrupted build keeps every finished target, and the next build
does only the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from PIL import Image

MANY = """\
version: 1
defaults:
  model: local
targets:
  - name: "tile-{{{{ n }}}}"
    matrix:
      n: [{numbers}]
    prompt: "tile number {{{{ n }}}}"
    width: 1024
    height: 1024
    output: "out/{{{{ n }}}}.png"
"""


def start_build(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "imagebuild", "build", "-j", "2"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_outputs(root: Path, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((root / "out").glob("*.png"))) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} outputs after {timeout}s")


def test_ctrl_c_keeps_finished_targets(tmp_path: Path) -> None:
    (tmp_path / "imagebuild.yaml").write_text(MANY.format(numbers=", ".join(map(str, range(60)))))
    build = start_build(tmp_path)
    wait_for_outputs(tmp_path, 4)
    build.send_signal(signal.SIGINT)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 130, err.decode()
    assert b"Traceback" not in err
    locked = orjson.loads((tmp_path / "imagebuild.lock.json").read_bytes())["targets"]
    assert 4 <= len(locked) < 60
    # The summary says what was built and what was not started.
    summary = err.decode().rstrip().splitlines()[-1]
    assert summary.startswith(f"interrupted; {len(locked)} generated; ")
    not_started = int(summary.split(" not started")[0].rsplit("; ", 1)[1])
    assert len(locked) + not_started == 60
    for entry in locked.values():
        path = tmp_path / entry["outputs"][0]["path"]
        with Image.open(path) as image:
            image.verify()
    assert not (tmp_path / ".imagebuild" / "imagebuild.journal").exists()
    rebuild = subprocess.run(
        [sys.executable, "-m", "imagebuild", "build", "--json"], cwd=tmp_path, capture_output=True
    )
    summary = orjson.loads(rebuild.stdout)["summary"]
    assert summary["kept"] == len(locked)
    assert summary["generated"] == 60 - len(locked)


def wait_for_journaled(journal: Path, timeout: float = 60.0) -> None:
    """Until a finished target is journaled: an output on disk may still be
    on its way to the journal (it is written first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and b'"event":"built"' in journal.read_bytes():
            return
        time.sleep(0.02)
    raise AssertionError(f"nothing journaled after {timeout}s")


def test_killed_build_is_recovered_from_the_journal(tmp_path: Path) -> None:
    (tmp_path / "imagebuild.yaml").write_text(MANY.format(numbers=", ".join(map(str, range(40)))))
    build = start_build(tmp_path)
    journal = tmp_path / ".imagebuild" / "imagebuild.journal"
    wait_for_outputs(tmp_path, 3)
    wait_for_journaled(journal)
    os.kill(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    recorded = [orjson.loads(line) for line in journal.read_bytes().splitlines() if line.strip()]
    built = {record["target"] for record in recorded if record["event"] == "built"}
    assert built
    rebuild = subprocess.run(
        [sys.executable, "-m", "imagebuild", "build", "--json"], cwd=tmp_path, capture_output=True
    )
    assert rebuild.returncode == 0, rebuild.stderr.decode()
    report = orjson.loads(rebuild.stdout)
    done_before = {t["name"] for t in report["targets"] if t["action"] == "keep"}
    assert built <= done_before
    assert report["summary"]["generated"] == 40 - len(done_before)
    assert not journal.exists()
