"""``imagebuild build``: make every target up to date, paying only for what changed."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from imagebuild.cli.arguments import add_format, add_manifests, add_selection, output_format
from imagebuild.errors import CostLimitError, FrozenError, ImageBuildError
from imagebuild.execution.journal import Journal
from imagebuild.pipeline import Session, open_session, plan_session
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import Action, Plan, Step
from imagebuild.planning.shard import Shard, fragment
from imagebuild.registry.models import builtin_registry

if TYPE_CHECKING:
    from imagebuild.execution.executor import Outcome

EXIT_INTERRUPTED = 130


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("build", help="build targets")
    add_manifests(parser)
    add_selection(parser)
    add_format(parser)
    parser.add_argument(
        "-j", "--jobs", type=int, default=8, metavar="N", help="concurrent targets (default 8)"
    )
    parser.add_argument(
        "-k", "--keep-going", action="store_true", help="keep building after a failure"
    )
    parser.add_argument("--force", action="store_true", help="regenerate even what is up to date")
    parser.add_argument(
        "--frozen", action="store_true", help="fail if anything would change; touch nothing"
    )
    parser.add_argument(
        "--max-cost", type=float, metavar="USD", help="refuse to start above this estimate"
    )
    parser.add_argument(
        "--reseed", action="store_true", help="draw new seeds for targets without one"
    )
    parser.add_argument(
        "--shard",
        type=Shard.parse,
        metavar="I/N",
        help="build only share I of N (for CI); results go to NAME.shard-I-of-N.lock.json",
    )
    parser.set_defaults(handler=run)


@dataclass(slots=True)
class Report:
    targets: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("kept", "restored", "generated", "derived", "failed"), 0
        )
    )
    cost: float = 0.0
    interrupted: bool = False
    # Failed submissions the provider may still run and bill, out of sight.
    lost: int = 0

    def to_json(self, seconds: float) -> dict[str, Any]:
        summary: dict[str, Any] = {
            **self.counts,
            "lost": self.lost,
            "cost": round(self.cost, 6),
            "seconds": round(seconds, 3),
        }
        return {"targets": self.targets, "summary": summary}

    def line(self, seconds: float) -> str:
        counts = ", ".join(f"{value} {key}" for key, value in self.counts.items() if value)
        lost = (
            f"; {self.lost} lost submission{'s' if self.lost > 1 else ''} may still be billed"
            if self.lost
            else ""
        )
        return f"{counts or 'nothing to do'}; cost ${self.cost:.4f}{lost}; {seconds:.2f}s"


_COUNTED = {
    Action.KEEP: "kept",
    Action.RESTORE: "restored",
    Action.GENERATE: "generated",
    Action.DERIVE: "derived",
}


def run(arguments: argparse.Namespace) -> int:
    if arguments.jobs < 1:
        raise ImageBuildError("-j must be at least 1")
    chosen = output_format(arguments)
    started = time.monotonic()
    report = Report()
    for path in arguments.manifests:
        session = open_session(
            path, provider=arguments.provider, patterns=arguments.targets, shard=arguments.shard
        )
        if arguments.frozen:
            check_frozen(session, arguments)
        else:
            build_session(session, arguments, report)
    seconds = time.monotonic() - started
    if chosen == "json":
        sys.stdout.write(
            orjson.dumps(report.to_json(seconds), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    elif chosen == "markdown":
        from imagebuild.report.markdown import build_parts, write_parts

        parts = build_parts(report.to_json(seconds), report.line(seconds))
        write_parts(parts, arguments.output_dir, "build", sys.stdout)
    else:
        print(report.line(seconds), file=sys.stderr)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return 1 if report.counts["failed"] else 0


def check_frozen(session: Session, arguments: argparse.Namespace) -> None:
    """--frozen: the lock and the outputs must already say what the manifest says.
    Nothing is written, not even the stat cache."""
    workspace = session.workspace
    if Journal(workspace.journal_path).replay().built:
        raise FrozenError(
            f"{session.manifest.display}: an interrupted build left results not yet in the lock"
        )
    lock = LockFile.read(workspace.lock_path)
    _, plan = plan_session(
        session, lock, workspace.stat_cache(), workspace.cache(), force=arguments.force
    )
    stale = [f"{step.name} ({step.action}: {'; '.join(step.reasons)})" for step in plan.work]
    if session.selected_all:
        stale += [
            f"{name} (removed from the manifest)"
            for name in sorted(set(lock.entries) - session.all_names)
        ]
    if stale:
        raise FrozenError(
            f"{session.manifest.display}: --frozen but {len(stale)} targets would change: "
            + ", ".join(stale)
        )


def build_session(session: Session, arguments: argparse.Namespace, report: Report) -> None:
    workspace = session.workspace
    with workspace.build_lock():
        lock = LockFile.read(workspace.lock_path)
        journal = Journal(workspace.journal_path)
        replay = journal.replay()
        for name, entry in replay.built.items():
            lock.put(name, entry)
        stats = workspace.stat_cache()
        cache = workspace.cache()
        planner, plan = plan_session(
            session,
            lock,
            stats,
            cache,
            force=arguments.force,
            reseed=arguments.reseed,
            seeds=replay.seeds(),
        )
        check_cost(plan, arguments.max_cost)
        if session.shard is not None:
            names = {target.name for target in session.targets}
            lock = fragment(lock, session.shard, workspace.manifest, names)
        refresh_kept(plan, lock)
        if session.selected_all:
            lock.drop(set(lock.entries) - session.all_names)
        from imagebuild.execution.executor import Executor, Store

        store = Store(
            session.manifest.root, lock, stats, cache, journal, workspace.state_dir / "staging"
        )
        executor = Executor(
            store,
            _providers(session, plan),
            _progress(),
            planner,
            jobs=arguments.jobs,
            keep_going=arguments.keep_going,
            resumable={
                record["fingerprint"]: record["taskId"] for record in replay.pending.values()
            },
        )
        try:
            outcomes = _execute(executor, plan)
        finally:
            lock.write()
            stats.save()
            journal.sync()
            journal.close()
    report.interrupted = report.interrupted or executor.interrupted
    report.counts["kept"] += plan.count(Action.KEEP)
    for step in plan.steps:
        if step.action is Action.KEEP:
            report.targets.append(
                {"name": step.name, "action": "keep", "status": "ok", "cost": None, "error": None}
            )
    for outcome in outcomes:
        report.targets.append(outcome.to_json())
        if outcome.status == "ok":
            report.counts[_COUNTED[outcome.step.action]] += 1
            report.cost += outcome.cost or 0.0
        elif outcome.status == "failed":
            report.counts["failed"] += 1
            report.lost += outcome.lost
            print(failure_line(session, outcome), file=sys.stderr)


def failure_line(session: Session, outcome: Outcome) -> str:
    """One line per failed target; a rejected request field is located in the manifest."""
    target = outcome.step.target
    where = session.manifest.display
    if outcome.parameter:
        field = target.manifest_field((outcome.parameter,))
        where = str(session.manifest.source.locate(target.spec.origin(field)))
    return f"{where}: target {target.name}: {outcome.error}"


def check_cost(plan: Plan, limit: float | None) -> None:
    """--max-cost refuses before anything is spent or written."""
    if limit is None:
        return
    if plan.unpriced:
        names = ", ".join(step.name for step in plan.unpriced[:5])
        raise CostLimitError(f"--max-cost: no price known for {names}; set providers.<name>.prices")
    if plan.estimated_cost > limit:
        raise CostLimitError(
            f"--max-cost: estimated cost ${plan.estimated_cost:.4f} exceeds ${limit:.4f}; "
            "nothing was generated"
        )


def refresh_kept(plan: Plan, lock: LockFile) -> None:
    """Kept targets just validated under a newer schema remember that schema."""
    for step in plan.steps:
        entry = lock.get(step.name)
        if (
            step.action is Action.KEEP
            and entry is not None
            and entry.get("schema") != step.target.model.digest
        ):
            lock.put(step.name, {**entry, "schema": step.target.model.digest})


def _providers(session: Session, plan: Plan) -> dict[str, Any]:
    from imagebuild.providers.factory import create_providers

    needed = {step.target.provider for step in plan.steps if step.action is Action.GENERATE}
    return create_providers(needed, session.manifest.providers, builtin_registry())


def _progress() -> Any:
    from imagebuild.execution.progress import progress_for

    return progress_for(sys.stderr)


def _execute(executor: Any, plan: Plan) -> list[Any]:
    import anyio

    # Everything planning made lives until the end: freeze it out of the
    # collector's sight, then let the collector run for the executor's garbage.
    gc.freeze()
    gc.enable()

    steps: list[Step] = plan.steps
    result: list[Any] = anyio.run(executor.run, steps)
    return result
