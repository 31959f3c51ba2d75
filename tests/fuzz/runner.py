"""Runs manifests through the real command line, many per child process, for the fuzz tests.

:func:`run_batches` starts the children and gathers what they print. A child reads ``{"cases": [{"name", "text", "commands": [[arg, ...], ...], "env"}]}`` on stdin
and prints one JSON line per command run (``case``, ``command``, ``code``, ``out``,
``err``, ``seconds``) as soon as it finishes, so that the parent can name a case that
hangs; then ``{"peak_rss_mb": N}``. An exception escaping ``main`` is printed as the
traceback it would have shown. Python's own address space is capped first, where the
platform allows, so that a manifest which slips through cannot take the machine down.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from imagebuild.cli import main

ADDRESS_SPACE = 3 * 1024**3
ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "manifests" / "prompts"


@dataclass
class Batch:
    """What one child printed: a record per command run, and its peak memory."""

    records: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    unfinished: str | None = None  # the case running when the child was stopped


def run_batches(cases: list[dict[str, Any]], processes: int, timeout: float) -> list[Batch]:
    """``cases`` shared out among ``processes`` children run side by side; a child
    still running after ``timeout`` seconds is killed, and its batch says where."""
    shares = [cases[index::processes] for index in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.runner"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )
        for _ in shares
    ]
    batches = []
    deadline = time.monotonic() + timeout
    for child, share in zip(children, shares, strict=True):
        try:
            out, _ = child.communicate(
                orjson.dumps({"cases": share}), timeout=max(1.0, deadline - time.monotonic())
            )
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
        batches.append(_batch(out, share))
    return batches


def _batch(out: bytes, share: list[dict[str, Any]]) -> Batch:
    batch = Batch()
    for line in out.splitlines():
        record = orjson.loads(line)
        if "peak_rss_mb" in record:
            batch.peak_rss_mb = record["peak_rss_mb"]
        else:
            batch.records.append(record)
    if not batch.peak_rss_mb:
        runs = Counter(record["case"] for record in batch.records)
        batch.unfinished = next(
            (case["name"] for case in share if runs[case["name"]] < len(case["commands"])), "?"
        )
    return batch


def cap_memory() -> None:
    if sys.platform == "win32":
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def peak_rss_mb() -> float:
    if sys.platform == "win32":
        return 0.0
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def run_command(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 2
            except BaseException:
                traceback.print_exc(file=err)
                code = -1
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        gc.unfreeze()
    return code, out.getvalue(), err.getvalue()


def run_case(case: dict[str, Any]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="imagebuild-fuzz-"))
    previous = Path.cwd()
    try:
        shutil.copytree(PROMPTS, folder / "prompts")
        (folder / "imagebuild.yaml").write_text(case["text"], encoding="utf-8", errors="replace")
        os.chdir(folder)
        for argv in case["commands"]:
            started = time.monotonic()
            code, out, err = run_command(argv, case.get("env", {}))
            record = {
                "case": case["name"],
                "command": argv,
                "code": code,
                "out": out,
                "err": err,
                "seconds": time.monotonic() - started,
            }
            sys.__stdout__.write(orjson.dumps(record).decode() + "\n")
            sys.__stdout__.flush()
    finally:
        os.chdir(previous)
        shutil.rmtree(folder, ignore_errors=True)


def run() -> None:
    cap_memory()
    for case in orjson.loads(sys.stdin.buffer.read())["cases"]:
        run_case(case)
    sys.__stdout__.write(orjson.dumps({"peak_rss_mb": peak_rss_mb()}).decode() + "\n")


if __name__ == "__main__":
    run()
