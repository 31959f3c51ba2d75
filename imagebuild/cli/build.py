"""``imagebuild build``: make every target up to date, paying only for what changed."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagebuild.cli.arguments import (
    add_format,
    add_manifests,
    add_planning,
    add_remote,
    add_selection,
    non_negative_cost,
    output_format,
    print_json,
    remote_mode,
)
from imagebuild.errors import (
    CostLimitError,
    FrozenError,
    ManifestError,
    UsageError,
    collected,
)
from imagebuild.pipeline import (
    RemoteAccess,
    Session,
    open_session,
    plan_session,
    read_recorded,
    stranded,
)
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import Action, Plan, Step
from imagebuild.planning.shard import Shard, fragment
from imagebuild.planning.shared import is_shared
from imagebuild.providers.factory import ProviderSet
from imagebuild.providers.settings import CREDENTIAL_VARIABLES, credential_problem
from imagebuild.registry.models import builtin_registry

if TYPE_CHECKING:
    from imagebuild.execution.executor import Outcome
    from imagebuild.execution.sharing import Sharing

EXIT_INTERRUPTED = 130


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("build", help="build targets")
    add_manifests(parser)
    add_selection(parser)
    add_planning(parser)
    add_format(parser)
    add_remote(parser, writes=True)
    parser.add_argument(
        "-j", "--jobs", type=int, default=8, metavar="N", help="concurrent targets (default 8)"
    )
    parser.add_argument(
        "-k", "--keep-going", action="store_true", help="keep building after a failure"
    )
    parser.add_argument(
        "--frozen", action="store_true", help="fail if anything would change; touch nothing"
    )
    parser.add_argument(
        "--max-cost",
        type=non_negative_cost,
        metavar="USD",
        help="refuse to start above this estimate, or with a model of unknown price",
    )
    parser.add_argument(
        "--allow-unknown-cost",
        action="store_true",
        help="with --max-cost: accept models of unknown price (they count as $0)",
    )
    parser.add_argument(
        "--fail-on-nsfw",
        action="store_true",
        help="exit 1 when a provider flags an image NSFW (the image is kept: it is paid for)",
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
            ("kept", "restored", "generated", "derived", "failed", "skipped"), 0
        )
    )
    # Known cost: what providers reported, else the registry's price.
    cost: float = 0.0
    # Generations whose cost nobody knows (no report, no price).
    unpriced: int = 0
    # Failed targets whose submission a provider accepted: they may be billed,
    # and the next build collects them.
    owed: int = 0
    possibly_billed: float = 0.0
    # Failed submissions the provider may still run and bill, out of sight.
    lost: int = 0
    nsfw: int = 0
    interrupted: bool = False
    not_started: int = 0
    # Targets another build (through the remote cache's lease) was making.
    waited: int = 0

    def add(self, session: Session, outcome: Outcome) -> None:
        self.targets.append(outcome.to_json())
        self.waited += outcome.waited_for is not None
        step = outcome.step
        if outcome.status == "ok":
            self.counts[_COUNTED[step.action]] += 1
            if outcome.cost is None:
                self.unpriced += 1
            else:
                self.cost += outcome.cost
            return
        if outcome.status == "failed":
            self.counts["failed"] += 1
            self.lost += outcome.lost
            print(failure_line(session, outcome), file=sys.stderr)
        elif outcome.error == "interrupted" and not outcome.owed:
            self.not_started += 1
        else:
            self.counts["skipped"] += 1
        if outcome.owed:
            self.owed += 1
            self.possibly_billed += step.estimated_cost or 0.0

    def to_json(self, seconds: float) -> dict[str, Any]:
        summary: dict[str, Any] = {
            **self.counts,
            "cost": round(self.cost, 6),
            "unpriced": self.unpriced,
            "owed": self.owed,
            "possiblyBilled": round(self.possibly_billed, 6),
            "lost": self.lost,
            "nsfw": self.nsfw,
            "interrupted": self.interrupted,
            "notStarted": self.not_started,
            "waited": self.waited,
            "seconds": round(seconds, 3),
        }
        return {"targets": self.targets, "summary": summary}

    def line(self, seconds: float) -> str:
        counts = ", ".join(f"{value} {key}" for key, value in self.counts.items() if value)
        parts = [counts or "nothing to do", f"cost ${self.cost:.4f}"]
        if self.unpriced:
            parts[-1] += f" + unknown for {self.unpriced}"
        if self.owed:
            billed = f" (${self.possibly_billed:.4f})" if self.possibly_billed else ""
            parts.append(
                f"{_plural(self.owed, 'failed submission')} may be billed{billed}: "
                "journaled, the next build collects it"
            )
        if self.lost:
            parts.append(f"{_plural(self.lost, 'lost submission')} may still be billed")
        if self.nsfw:
            parts.append(f"{_plural(self.nsfw, 'image')} flagged NSFW")
        if self.waited:
            parts.append(f"{self.waited} made by another build (waited for its lease)")
        if self.interrupted:
            parts.insert(0, "interrupted")
            parts.append(f"{self.not_started} not started")
        parts.append(f"{seconds:.2f}s")
        return "; ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


_COUNTED = {
    Action.KEEP: "kept",
    Action.RESTORE: "restored",
    Action.GENERATE: "generated",
    Action.DERIVE: "derived",
}


def run(arguments: argparse.Namespace) -> int:
    chosen = output_format(arguments)
    report, seconds = execute(arguments)
    if chosen == "json":
        print_json(report.to_json(seconds))
    elif chosen == "markdown":
        from imagebuild.report.markdown import build_parts, write_parts

        parts = build_parts(report.to_json(seconds), report.line(seconds))
        write_parts(parts, arguments.output_dir, "build", sys.stdout)
    else:
        print(report.line(seconds), file=sys.stderr)
    return exit_code(report, arguments.fail_on_nsfw)


def execute(arguments: argparse.Namespace) -> tuple[Report, float]:
    """Build (or check, with --frozen) every manifest; what happened, and how long."""
    if arguments.jobs < 1:
        raise UsageError("-j must be at least 1")
    if arguments.allow_unknown_cost and arguments.max_cost is None:
        raise UsageError("--allow-unknown-cost goes with --max-cost")
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
            report.nsfw += flagged_images(session)
    return report, time.monotonic() - started


def exit_code(report: Report, fail_on_nsfw: bool) -> int:
    if report.interrupted:
        return EXIT_INTERRUPTED
    if fail_on_nsfw and report.nsfw:
        print(f"--fail-on-nsfw: {_plural(report.nsfw, 'image')} flagged NSFW", file=sys.stderr)
        return 1
    return 1 if report.counts["failed"] else 0


def check_frozen(session: Session, arguments: argparse.Namespace) -> None:
    """--frozen: the lock and the outputs must already say what the manifest says.
    Nothing is written, not even the stat cache."""
    workspace = session.workspace
    recorded = read_recorded(session)
    if recorded.replay.built:
        raise FrozenError(
            f"{session.manifest.display}: an interrupted build left results not yet in the lock"
        )
    _, plan = plan_session(
        session,
        recorded,
        workspace.stat_cache(),
        workspace.cache(),
        force=arguments.force,
        reseed=arguments.reseed,
    )
    stale = [f"{step.name} ({step.action}: {'; '.join(step.reasons)})" for step in plan.work]
    if session.selected_all:
        stale += [f"{name} (removed from the manifest)" for name in plan.removed]
    if stale:
        raise FrozenError(
            f"{session.manifest.display}: --frozen but {len(stale)} targets would change: "
            + ", ".join(stale)
        )


def build_session(session: Session, arguments: argparse.Namespace, report: Report) -> None:
    workspace = session.workspace
    with workspace.build_lock():
        recorded = read_recorded(session)
        lock = recorded.lock
        stats = workspace.stat_cache()
        cache = workspace.cache()
        remote = RemoteAccess(session, cache, remote_mode(arguments))
        try:
            planner, plan = plan_session(
                session,
                recorded,
                stats,
                cache,
                force=arguments.force,
                reseed=arguments.reseed,
                remote=remote,
            )
            check_cost(plan, arguments.max_cost, allow_unknown=arguments.allow_unknown_cost)
            check_credentials(session, plan)
            for line in stranded(session, plan, recorded):
                print(line, file=sys.stderr)
            if session.shard is not None:
                names = {target.name for target in session.targets}
                lock = fragment(lock, session.shard, workspace.manifest, names)
            refresh_kept(plan, lock)
            from imagebuild.execution.executor import Executor, Store

            store = Store(
                session.manifest.root,
                lock,
                stats,
                cache,
                recorded.journal,
                workspace.state_dir / "staging",
                session.manifest.path,
            )
            progress = _progress()
            executor = Executor(
                store,
                ProviderSet(session.manifest.providers, builtin_registry()),
                progress,
                planner,
                jobs=arguments.jobs,
                keep_going=arguments.keep_going,
                resumable={
                    fingerprint: record["taskId"]
                    for fingerprint, record in recorded.collectable.items()
                },
                sharing=_sharing(remote, plan, progress),
                budget=None
                if arguments.max_cost is None
                else arguments.max_cost - plan.estimated_cost,
            )
            try:
                outcomes = _execute(executor, plan)
            finally:
                lock.write()
                stats.save()
                recorded.journal.sync()
                recorded.journal.close()
        finally:
            remote.close()
    report.interrupted = report.interrupted or executor.interrupted
    report.counts["kept"] += plan.count(Action.KEEP)
    from imagebuild.execution.executor import Outcome

    for step in plan.steps:
        if step.action is Action.KEEP:
            report.targets.append(Outcome(step, "ok").to_json())
    for outcome in outcomes:
        report.add(session, outcome)


def flagged_images(session: Session) -> int:
    """Images of the selected targets that a provider flagged NSFW, as the lock
    records them: kept targets count too, so --fail-on-nsfw fails every build
    until the flagged image is dealt with."""
    lock = LockFile.read(session.workspace.lock_path)
    return sum(
        1
        for target in session.targets
        for output in (lock.get(target.name) or {}).get("outputs", ())
        if output.get("nsfw") is True
    )


def failure_line(session: Session, outcome: Outcome) -> str:
    """One line per failed target; a rejected request field is located in the manifest."""
    target = outcome.step.target
    where = session.manifest.display
    if outcome.parameter:
        field = target.manifest_field((outcome.parameter,))
        where = str(session.manifest.source.locate(target.spec.origin(field)))
    return f"{where}: target {target.name}: {outcome.error}"


def check_cost(plan: Plan, limit: float | None, *, allow_unknown: bool = False) -> None:
    """--max-cost refuses before anything is spent or written."""
    if limit is None:
        return
    if plan.unpriced and not allow_unknown:
        names = ", ".join(step.name for step in plan.unpriced[:5])
        more = f" and {len(plan.unpriced) - 5} more" if len(plan.unpriced) > 5 else ""
        raise CostLimitError(
            f"--max-cost: the price of {names}{more} is unknown; set providers.<name>.prices, "
            "or accept it with --allow-unknown-cost; nothing was generated"
        )
    if plan.estimated_cost > limit:
        raise CostLimitError(
            f"--max-cost: estimated cost ${plan.estimated_cost:.4f} exceeds ${limit:.4f}; "
            "nothing was generated"
        )


def check_credentials(
    session: Session, plan: Plan, environ: Mapping[str, str] = os.environ
) -> None:
    """Every missing credential at once, each at the first target that needs it,
    before anything is spent."""
    needing: dict[str, list[Step]] = {}
    for step in plan.steps:
        if step.action is Action.GENERATE:
            needing.setdefault(step.target.provider, []).append(step)
    errors: list[ManifestError] = []
    for provider, steps in needing.items():
        variable = CREDENTIAL_VARIABLES.get(provider)
        problem = variable and credential_problem(variable, environ.get(variable, "").strip())
        if not problem:
            continue
        first = steps[0].target
        others = f" and {len(steps) - 1} more" if len(steps) > 1 else ""
        field = ("provider",) if "provider" in first.spec.fields else ("model",)
        errors.append(
            session.manifest.target_error(
                first.spec,
                f"{problem}: provider {provider} needs it for this target{others}",
                field,
            )
        )
    if errors:
        raise collected(errors)


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


def _sharing(access: RemoteAccess, plan: Plan, progress: Any) -> Sharing | None:
    """The remote cache for the executor, when the plan restores from it, the
    build may pay for something, or an earlier build left pushes to make."""
    needed = access.opened or any(is_shared(step) for step in plan.steps)
    if not (needed or access.pushes_owed()):
        return None
    remote = access.get()
    if remote is None:
        return None
    from imagebuild.execution.sharing import Sharing

    remote.resume_pushes()
    return Sharing(remote, progress)


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
