"""What a build shows while it runs: a live display that keeps moving on its
own timer, counts no more running steps than there are slots, and stays out
of the way of a build with nothing to do."""

from __future__ import annotations

import io
import re
import time

import anyio

from imagebuild.execution.executor import Executor, Outcome, Store
from imagebuild.execution.progress import LineProgress, Tally, TerminalProgress
from imagebuild.pipeline import open_session, plan_session, read_recorded
from imagebuild.planning.plan import Step
from imagebuild.providers.base import GeneratedImage, Generation, GenerationTask, TaskJournal
from tests.conftest import Project

MANIFEST = """\
version: 1
defaults: {model: local, width: 16, height: 16}
targets:
  - name: "t-{{ n }}"
    matrix: {n: [1, 2, 3, 4, 5, 6]}
    prompt: "tile {{ n }}"
"""


class SlowProvider:
    """Takes ``seconds`` per image, like a remote model."""

    name = "local"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        await anyio.sleep(self.seconds)
        from imagebuild.render import RenderSpec, render

        spec = RenderSpec(width=16, height=16, seed=1, prompt=task.target, output_format="PNG")
        return Generation([GeneratedImage(data=render(spec))])

    async def resume(self, task: GenerationTask, task_id: str) -> Generation:
        raise AssertionError("nothing to resume")

    async def aclose(self) -> None:
        return None


def run_build(
    project: Project, progress: object, provider: SlowProvider, jobs: int
) -> list[Outcome]:
    project.write(MANIFEST)
    session = open_session("imagebuild.yaml")
    workspace = session.workspace
    recorded = read_recorded(session)
    stats = workspace.stat_cache()
    cache = workspace.cache()
    planner, plan = plan_session(session, recorded, stats, cache)
    store = Store(
        project.root, recorded.lock, stats, cache, recorded.journal, workspace.state_dir / "staging"
    )
    executor = Executor(store, {"local": provider}, progress, planner, jobs=jobs, keep_going=False)  # type: ignore[arg-type]
    return anyio.run(executor.run, plan.steps)


class Watching(LineProgress):
    """Checks the tally after every event, as a redraw would see it."""

    def __init__(self, jobs: int) -> None:
        super().__init__(io.StringIO())
        self.tally = Tally()
        self.jobs = jobs
        self.most_running = 0

    def start(self, steps: list[Step]) -> None:
        self.tally.start(steps)

    def began(self, step: Step) -> None:
        self.tally.began(step)
        self.most_running = max(self.most_running, len(self.tally.running))

    def released(self, step: Step) -> None:
        self.tally.released(step)

    def finished(self, outcome: Outcome) -> None:
        self.tally.finished(outcome)


def test_running_never_exceeds_the_slots(project: Project) -> None:
    watching = Watching(jobs=2)
    outcomes = run_build(project, watching, SlowProvider(0.05), jobs=2)
    assert [outcome.status for outcome in outcomes] == ["ok"] * 6
    assert watching.most_running == 2
    assert watching.tally.done == 6
    assert watching.tally.lines(time.monotonic())[0].endswith("6/6  0:00 elapsed")


def test_the_display_keeps_redrawing_during_a_slow_request(project: Project) -> None:
    stream = io.StringIO()
    progress = TerminalProgress(stream, force_terminal=True)
    run_build(project, progress, SlowProvider(1.2), jobs=6)
    drawn = stream.getvalue()
    # One request of 1.2 s: the timer redraws the display several times while
    # no event arrives, the elapsed clock moving with it.
    frames = re.findall(r"0/6  0:0(\d) elapsed", drawn)
    assert len(frames) >= 3, drawn[-500:]
    assert "local: 6 running, 0 queued" in drawn
    assert "longest running: t-1" in drawn


def test_a_build_with_nothing_to_do_draws_nothing(project: Project) -> None:
    stream = io.StringIO()
    progress = TerminalProgress(stream, force_terminal=True)
    progress.start([])
    progress.close()
    assert stream.getvalue() == ""


def test_the_tally_estimates_the_time_left() -> None:
    tally = Tally(total=4, done=1, started=100.0)
    tally.queued = {"b": "runware", "c": "runware"}
    tally.running = {"a": ("runware", 101.0)}
    first, providers, longest = tally.lines(110.0)
    assert "1/4" in first and "0:10 elapsed" in first and "~0:30 left" in first
    assert providers == "runware: 1 running, 2 queued"
    assert longest == "longest running: a (0:09)"


class CountedWrites(io.StringIO):
    """A stream that counts the writes made to it, as a write-through stderr
    would make one system call for each."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_each_finished_target_is_one_whole_line_in_one_write(project: Project) -> None:
    stream = CountedWrites()
    outcomes = run_build(project, LineProgress(stream), SlowProvider(0.0), jobs=3)
    lines = stream.getvalue().splitlines()
    assert sorted(lines) == sorted(f"generated {o.step.name} ({o.seconds:.2f}s)" for o in outcomes)
    assert stream.writes == len(outcomes) == 6
