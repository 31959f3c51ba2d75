"""What a build shows while it runs: a live display on a terminal, plain lines
otherwise (CI logs). Both go to stderr; stdout is for results.

The live display is rich's ``Live``: its own thread redraws it four times a
second from a snapshot of the counters, so it keeps moving while the event loop
waits on a slow request. The executor reports every change through the
``Progress`` protocol; the counters are guarded by a lock because the redraw
thread reads them while the event loop writes them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from imagebuild.execution.executor import Outcome
from imagebuild.planning.plan import Action, Step

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

_VERBS = {Action.GENERATE: "generated", Action.RESTORE: "restored", Action.DERIVE: "derived"}
_REFRESHES_PER_SECOND = 4
_BAR_WIDTH = 30


def describe(outcome: Outcome) -> str:
    step = outcome.step
    if outcome.status == "ok":
        cost = f" ${outcome.cost:.4f}" if outcome.cost else ""
        verb = _VERBS.get(step.action, str(step.action))
        return f"{verb} {step.name} ({outcome.seconds:.2f}s){cost}"
    return f"{outcome.status} {step.name}: {outcome.error}"


def provider_of(step: Step) -> str:
    """Where a step's time goes: its provider, or the local cache or transforms."""
    if step.action is Action.RESTORE:
        return "cache"
    return step.target.provider


class LineProgress:
    """One line per finished target."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def start(self, steps: list[Step]) -> None:
        return None

    def waiting(self, step: Step, holder: str) -> None:
        self._line(f"waiting for {step.name}: {holder} is generating it")

    def began(self, step: Step) -> None:
        return None

    def released(self, step: Step) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        self._line(describe(outcome))

    def close(self) -> None:
        return None

    def _line(self, text: str) -> None:
        # One write per line: ``print`` writes the text and its newline apart,
        # two system calls each on a stderr that writes through.
        self.stream.write(f"{text}\n")
        self.stream.flush()


@dataclass(slots=True)
class Tally:
    """The counters behind the live display; ``lines`` is what one redraw shows.
    Steps are tracked by name: a deferred step is planned again when it starts,
    and may come back as another action."""

    total: int = 0
    done: int = 0
    failed: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.monotonic)
    queued: dict[str, str] = field(default_factory=dict)
    running: dict[str, tuple[str, float]] = field(default_factory=dict)
    # Steps waiting for another build's result, by the holder of their lease.
    waiting: dict[str, str] = field(default_factory=dict)

    def start(self, steps: list[Step]) -> None:
        self.total = len(steps)
        self.started = time.monotonic()
        self.queued = {step.name: provider_of(step) for step in steps}

    def wait(self, step: Step, holder: str) -> None:
        self.waiting[step.name] = holder

    def began(self, step: Step) -> None:
        provider = self.queued.pop(step.name, provider_of(step))
        self.waiting.pop(step.name, None)
        self.running[step.name] = (provider, time.monotonic())

    def released(self, step: Step) -> None:
        self.running.pop(step.name, None)

    def finished(self, outcome: Outcome) -> None:
        name = outcome.step.name
        self.queued.pop(name, None)
        self.running.pop(name, None)
        self.waiting.pop(name, None)
        self.done += 1
        self.cost += outcome.cost or 0.0
        if outcome.status != "ok":
            self.failed += 1

    def lines(self, now: float) -> list[str]:
        elapsed = now - self.started
        filled = round(self.done / self.total * _BAR_WIDTH) if self.total else _BAR_WIDTH
        status = [
            f"{'━' * filled}{'─' * (_BAR_WIDTH - filled)} {self.done}/{self.total}",
            f"{_clock(elapsed)} elapsed",
        ]
        if 0 < self.done < self.total:
            status.append(f"~{_clock(elapsed / self.done * (self.total - self.done))} left")
        if self.cost:
            status.append(f"${self.cost:.4f}")
        if self.failed:
            status.append(f"{self.failed} failed")
        running = Counter(provider for provider, _ in self.running.values())
        queued = Counter(self.queued.values())
        per_provider = [
            f"{provider}: {running[provider]} running, {queued[provider]} queued"
            for provider in sorted(running.keys() | queued.keys())
        ]
        lines = ["  ".join(status)]
        if per_provider:
            lines.append("  ".join(per_provider))
        if self.waiting:
            holders = sorted(set(self.waiting.values()))
            lines.append(
                f"waiting for other builds: {len(self.waiting)} ({', '.join(holders[:3])})"
            )
        if self.running:
            name, (_, since) = min(self.running.items(), key=lambda item: item[1][1])
            lines.append(f"longest running: {name} ({_clock(now - since)})")
        return lines


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class TerminalProgress:
    """A live display redrawn on a timer; failures scroll above it."""

    def __init__(self, stream: TextIO = sys.stderr, *, force_terminal: bool = False) -> None:
        from rich.console import Console

        self.console = Console(file=stream, force_terminal=force_terminal or None)
        self.tally = Tally()
        self._lock = threading.Lock()
        self._live: Live | None = None

    def start(self, steps: list[Step]) -> None:
        with self._lock:
            self.tally.start(steps)
        if not steps:
            return  # nothing to show: a no-op build prints only its summary
        from rich.live import Live

        live = Live(
            self,
            console=self.console,
            refresh_per_second=_REFRESHES_PER_SECOND,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        live.start()
        self._live = live

    def __rich__(self) -> RenderableType:
        from rich.text import Text

        with self._lock:
            lines = self.tally.lines(time.monotonic())
        return Text("\n".join(lines))

    def waiting(self, step: Step, holder: str) -> None:
        with self._lock:
            self.tally.wait(step, holder)

    def began(self, step: Step) -> None:
        with self._lock:
            self.tally.began(step)

    def released(self, step: Step) -> None:
        with self._lock:
            self.tally.released(step)

    def finished(self, outcome: Outcome) -> None:
        with self._lock:
            self.tally.finished(outcome)
        if outcome.status != "ok":
            self.console.print(describe(outcome), markup=False, highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def progress_for(stream: TextIO = sys.stderr) -> LineProgress | TerminalProgress:
    return TerminalProgress(stream) if stream.isatty() else LineProgress(stream)
