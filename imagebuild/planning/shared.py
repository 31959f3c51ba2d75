"""The remote cache's part in a plan: a step about to generate or derive what
the remote cache already holds restores it instead.

Records are read in waves down the graph, each wave one batch: a target whose
upstream is about to be restored could not know its own fingerprint when it
was first planned (it was deferred), and is decided again once the
upstream's digests are known, so a fresh clone of a whole campaign plans
restores only. Local renders are free and stay out of the remote; derived
outputs go in, so that every clone gets the same bytes whatever its Pillow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from imagebuild.planning.lock import LockFile, record_of
from imagebuild.planning.plan import Action, Plan, Planner, Step

IN_REMOTE_CACHE = "in remote cache"


class Records(Protocol):
    def records(self, fingerprints: Iterable[str]) -> Mapping[str, dict[str, Any]]: ...

    def present(self, fingerprints: Iterable[str]) -> set[str]: ...


def is_shared(step: Step) -> bool:
    """Whether the step's result goes through the remote cache."""
    if step.action is Action.DERIVE:
        return True
    return step.action is Action.GENERATE and step.target.provider != "local"


def is_paid(step: Step) -> bool:
    """Whether the step buys something: it takes a lease before it does."""
    return step.action is Action.GENERATE and step.target.provider != "local"


def restore_shared(
    plan: Plan,
    planner: Planner,
    lock: LockFile,
    remote: Records,
    *,
    skip: Mapping[str, object],
) -> None:
    """Turn into restores the steps whose results ``remote`` holds; ``skip``
    names fingerprints that must be generated anyway (paid tasks to collect)."""
    known = {step.name: step.output_digests(lock.get(step.name)) for step in plan.steps}
    asked: set[str] = set()
    while True:
        wanted = [
            step
            for step in plan.steps
            if is_shared(step)
            and not step.deferred
            and step.fingerprint not in skip
            and step.fingerprint not in asked
        ]
        if not wanted:
            return
        asked.update(step.fingerprint for step in wanted)
        # A target whose lock entry has the fingerprint lacks only its files:
        # the entry says what they are, and the remote need only say it has
        # the record (one listing for many), not send it.
        locked = {
            step.fingerprint: entry
            for step in wanted
            if (entry := lock.get(step.name)) is not None
            and entry.get("fingerprint") == step.fingerprint
        }
        found: dict[str, dict[str, Any]] = {
            fingerprint: record_of(locked[fingerprint]) for fingerprint in remote.present(locked)
        }
        found.update(remote.records(s.fingerprint for s in wanted if s.fingerprint not in locked))
        restored = False
        for step in wanted:
            record = found.get(step.fingerprint)
            if record is not None and len(record.get("outputs", ())) == len(step.target.outputs):
                step.restore(record, IN_REMOTE_CACHE)
                known[step.name] = step.output_digests(None)
                restored = True
        if not restored or not _decide_deferred(plan, planner, lock, known):
            return


def _decide_deferred(
    plan: Plan, planner: Planner, lock: LockFile, known: dict[str, list[str] | None]
) -> bool:
    """Plan again, in graph order, the deferred steps whose upstreams are now
    known; whether any was."""
    decided = False
    for index, step in enumerate(plan.steps):
        if step.deferred and all(known.get(name) is not None for name in step.target.upstreams):
            plan.steps[index] = step = planner.step(step.target, known)
            known[step.name] = step.output_digests(lock.get(step.name))
            decided = True
    return decided
