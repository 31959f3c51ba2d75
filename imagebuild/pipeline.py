"""The offline half of every command: load, expand, resolve, select, plan.

Nothing here touches the network; the only write is the stat cache, and
only when the caller saves it.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebuild.collisions import check_collisions
from imagebuild.errors import UsageError, collected
from imagebuild.execution.journal import Journal, Replay
from imagebuild.graph import order_targets, with_upstreams
from imagebuild.manifest.expand import Manifest, load_manifest
from imagebuild.planning.cache import Cache
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import Plan, Planner, PlanOptions
from imagebuild.planning.shard import Shard, shard_names
from imagebuild.planning.shared import is_shared, restore_shared
from imagebuild.planning.statcache import StatCache
from imagebuild.providers.settings import parse_prices
from imagebuild.registry.models import builtin_registry
from imagebuild.remote.settings import REMOTE_ENV, Mode
from imagebuild.targets import Target, check_defaults, replace_at, resolve_targets
from imagebuild.workspace import Workspace

if TYPE_CHECKING:
    from imagebuild.remote.client import RemoteCache

READ_ONLY = Mode(read_only=True)

DEFAULT_MANIFEST = "imagebuild.yaml"


@dataclass(slots=True)
class Session:
    manifest: Manifest
    workspace: Workspace
    targets: list[Target]
    all_names: set[str]
    shard: Shard | None = None

    @property
    def selected_all(self) -> bool:
        return len(self.targets) == len(self.all_names)

    def prices(self) -> dict[str, dict[str, float]]:
        return {
            name: parse_prices(name, settings["prices"])
            for name, settings in self.manifest.providers.items()
            if "prices" in settings
        }


def open_session(
    path: str,
    *,
    provider: str | None = None,
    patterns: list[str] | None = None,
    shard: Shard | None = None,
) -> Session:
    manifest = load_manifest(Path(path), display=path)
    resolved = resolve_targets(manifest, builtin_registry(), provider)
    check_defaults(manifest, resolved)
    check_collisions(manifest, resolved)
    targets = order_targets(manifest, resolved)
    names = {target.name for target in targets}
    selected = select_targets(manifest, targets, patterns or [])
    session = Session(manifest, Workspace(manifest.path), selected, names, shard)
    if shard is not None:
        share = shard_names(targets, shard, session.prices())
        session.targets = [target for target in selected if target.name in share]
    return session


TAG_PREFIX = "tag:"


def select_targets(manifest: Manifest, targets: list[Target], patterns: list[str]) -> list[Target]:
    """Targets named by ``-t`` (exact names or shell globs, or ``tag:NAME``
    for the targets carrying a tag; each must match something) and everything
    they need, as make builds prerequisites."""
    if not patterns:
        return targets
    names = [target.name for target in targets]
    tags = sorted({tag for target in targets for tag in target.tags})
    chosen: set[str] = set()
    for pattern in patterns:
        if pattern.startswith(TAG_PREFIX):
            tag = pattern[len(TAG_PREFIX) :]
            matched = [t.name for t in targets if fnmatch.filter(t.tags, tag)]
            known, what = tags, "tag"
        else:
            matched = fnmatch.filter(names, pattern)
            known, what = names, "target"
        if not matched:
            closest = difflib.get_close_matches(pattern.removeprefix(TAG_PREFIX), known, 3, 0.5)
            hint = f" (closest: {', '.join(closest)})" if closest else ""
            raise UsageError(f"-t {pattern}: no {what} of {manifest.display} matches{hint}")
        chosen.update(matched)
    needed = with_upstreams(targets, chosen)
    return [target for target in targets if target.name in needed]


def check_requests(manifest: Manifest, targets: list[Target]) -> None:
    """Validate requests against their model schemas; every problem is reported."""
    if not targets:
        return
    from imagebuild.registry.rules import file_sizes
    from imagebuild.registry.validation import find_problems

    errors = []
    for target in targets:
        sizes = file_sizes(manifest.root, target.inputs)
        for problem in find_problems(target.model, _placeholders(target), sizes):
            origin = target.spec.origin(target.manifest_field(problem.path))
            errors.append(
                manifest.source.error(problem.message, origin, target.name, key=problem.at_key)
            )
    if errors:
        raise collected(errors)


# Where a request names another target's output, the provider will receive an
# uploaded image's id or data: validate the rest of the request around a stand-in.
_PLACEHOLDER_IMAGE = "00000000-0000-4000-8000-000000000000"


def _placeholders(target: Target) -> dict[str, Any]:
    if not target.references or target.derived:
        return target.request
    request: Any = target.request
    for path in target.references:
        request = replace_at(request, path, _PLACEHOLDER_IMAGE)
    result: dict[str, Any] = request
    return result


@dataclass(slots=True)
class Recorded:
    """What earlier builds left: the lock, with the results an interrupted build
    journaled replayed into it, and the journal with the tasks still owed."""

    lock: LockFile
    journal: Journal
    replay: Replay

    @property
    def collectable(self) -> dict[str, dict[str, Any]]:
        """Journaled submissions a provider still owes, by fingerprint: paid for,
        so the next build collects them instead of buying again."""
        return {record["fingerprint"]: record for record in self.replay.pending.values()}


def read_recorded(session: Session) -> Recorded:
    workspace = session.workspace
    lock = LockFile.read(workspace.lock_path)
    journal = Journal(workspace.journal_path)
    replay = journal.replay()
    for name, entry in replay.built.items():
        lock.put(name, entry)
    return Recorded(lock, journal, replay)


def plan_session(
    session: Session,
    recorded: Recorded,
    stats: StatCache,
    cache: Cache,
    *,
    force: bool = False,
    reseed: bool = False,
    remote: RemoteAccess | None = None,
) -> tuple[Planner, Plan]:
    """The validated plan, and the planner the executor needs for deferred steps."""
    lock = recorded.lock
    departed = {
        name: entry for name, entry in lock.entries.items() if name not in session.all_names
    }
    options = PlanOptions(
        force=force,
        reseed=reseed,
        prices=session.prices(),
        seeds=recorded.replay.seeds(),
        departed=departed,
    )
    planner = Planner(lock, stats, cache, options)
    plan = planner.plan(session.targets)
    check_requests(session.manifest, plan.unvalidated)
    _collect_paid(plan, recorded.collectable)
    if remote is not None and not force and any(is_shared(step) for step in plan.steps):
        opened = remote.get()
        if opened is not None:
            restore_shared(plan, planner, lock, opened, skip=recorded.collectable)
            _collect_paid(plan, recorded.collectable)
    return planner, plan


class RemoteAccess:
    """The manifest's remote cache in ``mode``, used through the local
    ``cache`` and opened on first use: a plan or build with nothing to buy
    never contacts it, nor imports fsspec."""

    def __init__(self, session: Session, cache: Cache, mode: Mode) -> None:
        self.cache = cache
        self.mode = mode
        self._block = session.manifest.cache
        self.configured = mode.enabled and bool(self._block or os.environ.get(REMOTE_ENV))
        self._opened: RemoteCache | None = None

    @property
    def opened(self) -> bool:
        return self._opened is not None

    def get(self) -> RemoteCache | None:
        if self._opened is None and self.configured:
            from imagebuild.remote.client import open_remote

            self._opened = open_remote(self._block, self.cache, self.mode)
        return self._opened

    def pushes_owed(self) -> bool:
        """Whether an earlier build left pushes to make (read from the local log)."""
        if not self.configured or self.mode.read_only:
            return False
        from imagebuild.remote.pushlog import PushLog
        from imagebuild.remote.settings import resolve

        settings = resolve(self._block, os.environ)
        return settings is not None and PushLog(self.cache.directory, settings.url).unfinished()

    def close(self) -> None:
        """Push what is queued (bounded), then let go; a required remote's
        failure is raised."""
        if self._opened is not None:
            try:
                self._opened.flush()
            finally:
                self._opened.close()


def _collect_paid(plan: Plan, collectable: dict[str, dict[str, Any]]) -> None:
    """A step whose request an interrupted build already paid for collects that
    task for nothing, even when the target looks up to date (a failed --force)."""
    for step in plan.steps:
        record = collectable.get(step.fingerprint)
        if record is not None and not step.target.derived:
            step.collect(record["taskId"])


def stranded(session: Session, plan: Plan, recorded: Recorded) -> list[str]:
    """Paid tasks in the journal that this plan does not collect, each said in
    a line: they stay journaled until a build of their target collects them."""
    planned = {step.fingerprint for step in plan.steps}
    selected = {target.name for target in session.targets}
    lines = []
    for fingerprint, record in sorted(recorded.collectable.items()):
        if fingerprint in planned:
            continue
        name = record["target"]
        why = (
            "its request changed since; reverting the change collects it"
            if name in selected
            else "build the target to collect it"
            if name in session.all_names
            else "the target left the manifest"
        )
        lines.append(
            f"{session.manifest.display}: target {name}: task {record['taskId']}, paid by an"
            f" interrupted build, waits in the journal: {why}"
        )
    return lines


def preview_plan(
    session: Session,
    stats: StatCache,
    *,
    force: bool = False,
    reseed: bool = False,
    mode: Mode = READ_ONLY,
) -> Plan:
    """What ``build`` with the same flags would do, touching nothing but
    ``stats``: a remote cache is only read."""
    cache = session.workspace.cache()
    remote = RemoteAccess(session, cache, replace(mode, read_only=True))
    try:
        _, plan = plan_session(
            session,
            read_recorded(session),
            stats,
            cache,
            force=force,
            reseed=reseed,
            remote=remote,
        )
    finally:
        remote.close()
    return plan
