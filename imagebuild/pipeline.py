"""The offline half of every command: load, expand, resolve, select, plan.

Nothing here touches the network; the only write is the stat cache, and
only when the caller saves it.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebuild.errors import UsageError, collected
from imagebuild.graph import order_targets, with_upstreams
from imagebuild.manifest.expand import Manifest, load_manifest
from imagebuild.planning.cache import Cache
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import Plan, Planner, PlanOptions
from imagebuild.planning.statcache import StatCache
from imagebuild.providers.settings import parse_prices
from imagebuild.registry.models import builtin_registry
from imagebuild.targets import Target, replace_at, resolve_targets
from imagebuild.workspace import Workspace

DEFAULT_MANIFEST = "imagebuild.yaml"


@dataclass(slots=True)
class Session:
    manifest: Manifest
    workspace: Workspace
    targets: list[Target]
    all_names: set[str]

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
    path: str, *, provider: str | None = None, patterns: list[str] | None = None
) -> Session:
    manifest = load_manifest(Path(path), display=path)
    targets = order_targets(manifest, resolve_targets(manifest, builtin_registry(), provider))
    names = {target.name for target in targets}
    selected = select_targets(manifest, targets, patterns or [])
    return Session(manifest, Workspace(manifest.path), selected, names)


def select_targets(manifest: Manifest, targets: list[Target], patterns: list[str]) -> list[Target]:
    """Targets named by ``-t`` (exact names or shell globs, each must match
    something) and everything they need, as make builds prerequisites."""
    if not patterns:
        return targets
    names = [target.name for target in targets]
    chosen: set[str] = set()
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if not matched:
            closest = difflib.get_close_matches(pattern, names, n=3, cutoff=0.5)
            hint = f" (closest: {', '.join(closest)})" if closest else ""
            raise UsageError(f"-t {pattern}: no target of {manifest.display} matches{hint}")
        chosen.update(matched)
    needed = with_upstreams(targets, chosen)
    return [target for target in targets if target.name in needed]


def check_requests(manifest: Manifest, targets: list[Target]) -> None:
    """Validate requests against their model schemas; every problem is reported."""
    if not targets:
        return
    from imagebuild.registry.validation import find_problems

    errors = []
    for target in targets:
        for problem in find_problems(target.model, _placeholders(target)):
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


def plan_session(
    session: Session,
    lock: LockFile,
    stats: StatCache,
    cache: Cache,
    *,
    force: bool = False,
    reseed: bool = False,
    seeds: dict[str, int] | None = None,
) -> tuple[Planner, Plan]:
    """The validated plan, and the planner the executor needs for deferred steps."""
    options = PlanOptions(force=force, reseed=reseed, prices=session.prices(), seeds=seeds or {})
    planner = Planner(lock, stats, cache, options)
    plan = planner.plan(session.targets)
    check_requests(session.manifest, plan.unvalidated)
    return planner, plan
