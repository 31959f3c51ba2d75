"""Helpers shared by the benchmarks: a work folder and timing of whole commands."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "work"


def fresh_folder(name: str) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def imagebuild(folder: Path, *argv: str) -> float:
    """Run the command line in a new process, as a user would; seconds of wall time."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "imagebuild", *argv],
        cwd=folder,
        capture_output=True,
        env=_with_bytecode_cache(),
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"imagebuild {' '.join(argv)} failed: {completed.stderr.decode()[-2000:]}"
        )
    return elapsed


def _with_bytecode_cache() -> dict[str, str]:
    """The environment without PYTHONDONTWRITEBYTECODE (any value, even "0",
    turns the cache off): an installed tool runs from cached bytecode, and a
    benchmark that recompiles every module it edited measures the compiler."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def settle() -> None:
    """Flush what a full build left for the kernel to write (20,000 files and
    more), so that the runs timed next do not share the disk and the CPU with
    that write-back."""
    os.sync()
    time.sleep(1.0)


def repeat(runs: int, action: object) -> tuple[float, float]:
    """(best, median) seconds of ``runs`` calls of ``action``."""
    assert callable(action)
    times = [action() for _ in range(runs)]
    return min(times), statistics.median(times)


def report(label: str, best: float, median: float, goal: float | None = None) -> None:
    verdict = ""
    if goal is not None:
        verdict = f"  (goal < {goal:.2f} s: {'met' if median < goal else 'MISSED'})"
    print(f"{label:<58} best {best:6.3f} s   median {median:6.3f} s{verdict}", flush=True)
