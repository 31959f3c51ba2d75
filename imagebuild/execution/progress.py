"""What a build shows while it runs: a live status line on a terminal, plain
lines otherwise (CI logs). Both go to stderr; stdout is for results."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from imagebuild.execution.executor import Outcome
from imagebuild.planning.plan import Action, Step

_VERBS = {Action.GENERATE: "generated", Action.RESTORE: "restored", Action.DERIVE: "derived"}
_REDRAW_SECONDS = 0.1


def describe(outcome: Outcome) -> str:
    step = outcome.step
    if outcome.status == "ok":
        cost = f" ${outcome.cost:.4f}" if outcome.cost else ""
        verb = _VERBS.get(step.action, str(step.action))
        return f"{verb} {step.name} ({outcome.seconds:.2f}s){cost}"
    return f"{outcome.status} {step.name}: {outcome.error}"


class LineProgress:
    """One line per finished target."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def start(self, steps: list[Step]) -> None:
        return None

    def began(self, step: Step) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        print(describe(outcome), file=self.stream, flush=True)

    def close(self) -> None:
        return None


class TerminalProgress:
    """A status line redrawn in place; failures scroll above it."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0
        self.failed = 0
        self.cost = 0.0
        self.running: dict[str, float] = {}
        self.last_draw = 0.0

    def start(self, steps: list[Step]) -> None:
        self.total = len(steps)
        self._draw(force=True)

    def began(self, step: Step) -> None:
        self.running[step.name] = time.monotonic()
        self._draw()

    def finished(self, outcome: Outcome) -> None:
        self.running.pop(outcome.step.name, None)
        self.done += 1
        self.cost += outcome.cost or 0.0
        if outcome.status != "ok":
            self.failed += 1
            self.stream.write("\r\033[K" + describe(outcome) + "\n")
        self._draw(force=self.done == self.total)

    def close(self) -> None:
        if self.total:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < _REDRAW_SECONDS:
            return
        self.last_draw = now
        oldest = min(self.running, key=self.running.__getitem__, default="")
        status = f"[{self.done}/{self.total}] {len(self.running)} running"
        if self.failed:
            status += f", {self.failed} failed"
        if self.cost:
            status += f", ${self.cost:.4f}"
        if oldest:
            status += f"  {oldest} ({now - self.running[oldest]:.0f}s)"
        self.stream.write("\r\033[K" + status)
        self.stream.flush()


def progress_for(stream: TextIO = sys.stderr) -> LineProgress | TerminalProgress:
    return TerminalProgress(stream) if stream.isatty() else LineProgress(stream)
