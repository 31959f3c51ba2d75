"""The executor's interrupt handling where event loops take no signal
handlers (Windows): Ctrl-C is noticed by a plain handler and acted on."""

from __future__ import annotations

import signal
import threading

import pytest

from imagebuild.execution import executor
from tests.conftest import Project
from tests.execution.test_progress import SlowProvider, Watching, run_build


def test_ctrl_c_without_loop_signal_handlers_stops_the_build(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor, "POSIX_SIGNALS", False)
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        outcomes = run_build(project, Watching(jobs=2), SlowProvider(30.0), jobs=2)
    finally:
        timer.cancel()
    assert {outcome.error for outcome in outcomes} == {"interrupted"}
    assert signal.getsignal(signal.SIGINT) is before
