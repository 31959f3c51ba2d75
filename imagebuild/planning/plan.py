"""The plan: for every target, keep, restore, generate or derive, and why.

A plan is a value: printable, serialisable, testable. Making it reads the
lock, the stat cache and the cache index, and writes nothing but the stat
cache (and that only when the caller saves it).

Targets are planned in dependency order. A target whose upstream will be
regenerated cannot know its own fingerprint yet: its step is *deferred*,
planned as generate/derive with the reason ``upstream NAME changed``, and
decided again by the executor once the upstream's bytes exist. If they are
identical to before, the dependent is kept (make's ``restat``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from imagebuild.errors import ManifestError
from imagebuild.planning.cache import Cache
from imagebuild.planning.fingerprint import canonical_json, fingerprint
from imagebuild.planning.lock import Entry, LockFile
from imagebuild.planning.reasons import CHECKERS, Candidate
from imagebuild.planning.statcache import StatCache
from imagebuild.targets import Target, replace_at

_SEEDS = random.SystemRandom()
SEED_RANGE = (1, 2**31 - 1)  # inside every seed range the schemas allow


class Action(StrEnum):
    KEEP = "keep"
    RESTORE = "restore"
    GENERATE = "generate"
    DERIVE = "derive"


@dataclass(slots=True)
class Step:
    target: Target
    action: Action
    reasons: list[str]
    fingerprint: str
    request: dict[str, Any]
    input_digests: dict[str, str]
    estimated_cost: float | None
    cached: dict[str, Any] | None = None
    deferred: bool = False

    @property
    def name(self) -> str:
        return self.target.name

    def output_digests(self, entry: dict[str, Any] | None) -> list[str] | None:
        """The digests dependents will see of this step's outputs, when known before running."""
        if self.action is Action.KEEP and entry is not None:
            return content_digests(entry["outputs"])
        if self.action is Action.RESTORE and self.cached is not None:
            return content_digests(self.cached["outputs"])
        return None

    def restore(self, record: dict[str, Any], reason: str) -> None:
        """Restore ``record``'s outputs instead (from the remote cache), free."""
        self.action = Action.RESTORE
        self.cached = record
        self.reasons.append(reason)
        self.estimated_cost = 0.0

    def collect(self, task_id: str) -> None:
        """Generate by collecting a task an interrupted build already paid for:
        free, and done even when the target looks up to date (a failed --force)."""
        self.action = Action.GENERATE
        self.reasons.append(f"collects task {task_id}, paid by an interrupted build")
        self.estimated_cost = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": str(self.action),
            "reasons": self.reasons,
            "estimatedCost": self.estimated_cost,
            "outputs": list(self.target.outputs),
        }


def content_digests(outputs: list[dict[str, Any]]) -> list[str]:
    """What dependents are fingerprinted with: each image as delivered, before
    its provenance was written in (``sha256`` of the file when none was), so
    identical pixels keep them although the file names a new task (restat)."""
    return [output.get("content", output["sha256"]) for output in outputs]


@dataclass(slots=True)
class Plan:
    steps: list[Step]
    unvalidated: list[Target] = field(default_factory=list)
    # Lock entries of targets that left the manifest (a build drops them).
    removed: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for step in self.steps if step.action is action)

    @property
    def estimated_cost(self) -> float:
        return round(sum(step.estimated_cost or 0.0 for step in self.steps), 6)

    @property
    def unpriced(self) -> list[Step]:
        return [s for s in self.steps if s.action is Action.GENERATE and s.estimated_cost is None]

    @property
    def work(self) -> list[Step]:
        return [step for step in self.steps if step.action is not Action.KEEP]

    def to_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = {str(action): self.count(action) for action in Action}
        summary["estimatedCost"] = self.estimated_cost
        summary["unpriced"] = len(self.unpriced)
        summary["removed"] = len(self.removed)
        return {
            "targets": [step.to_json() for step in self.steps],
            "removed": self.removed,
            "summary": summary,
        }


@dataclass(frozen=True, slots=True)
class PlanOptions:
    force: bool = False
    reseed: bool = False
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # Seeds an interrupted build already sent; they win over --reseed and the
    # lock, because a task with that seed may be paid for and collectable.
    seeds: dict[str, int] = field(default_factory=dict)
    # Lock entries of targets no longer in the manifest: a new target whose
    # request is one of theirs was renamed, and inherits its seed.
    departed: dict[str, Entry] = field(default_factory=dict)


UpstreamDigests = Mapping[str, list[str] | None]


class Planner:
    """Decides one target at a time; the executor reuses it for deferred steps."""

    def __init__(
        self, lock: LockFile, stats: StatCache, cache: Cache, options: PlanOptions
    ) -> None:
        self.lock = lock
        self.stats = stats
        self.cache = cache
        self.options = options
        self._departed_keys: dict[bytes, tuple[str, Entry]] | None = None

    def plan(self, targets: list[Target]) -> Plan:
        """``targets`` in dependency order. Requests whose fingerprint the lock
        already saw validated under the same schema need no validation."""
        steps = []
        unvalidated = []
        known: dict[str, list[str] | None] = {}
        for target in targets:
            step = self.step(target, known)
            entry = self.lock.get(target.name)
            if (
                step.deferred
                or entry is None
                or entry.get("fingerprint") != step.fingerprint
                or entry.get("schema") != target.model.digest
            ):
                unvalidated.append(target)
            known[target.name] = step.output_digests(entry)
            steps.append(step)
        return Plan(steps, unvalidated, sorted(self.options.departed))

    def step(self, target: Target, upstream: UpstreamDigests) -> Step:
        entry = self.lock.get(target.name)
        changed = [name for name in target.upstreams if upstream.get(name) is None]
        if changed:
            # Decided again once the upstream exists; until then the request
            # stands in without the seed that depends on the upstream's bytes.
            action = Action.DERIVE if target.derived else Action.GENERATE
            reasons = [f"upstream {name} changed" for name in changed]
            return Step(
                target,
                action,
                reasons,
                "",
                target.request,
                {},
                self.estimate(target, action),
                deferred=True,
            )
        digests = _input_digests(target, self.stats)
        for path, reference in target.references.items():
            outputs = upstream[reference.target]
            assert outputs is not None
            digests[_dotted(path)] = outputs[reference.index - 1]
        renamed = self._renamed(target, digests) if entry is None else None
        request = self._with_seed(target, entry or (renamed[1] if renamed else None), digests)
        candidate = Candidate(
            target,
            entry,
            fingerprint(target.provider, _substitute(request, target, digests)),
            request,
            digests,
            renamed[0] if renamed else None,
        )
        reasons = [reason for checker in CHECKERS for reason in checker(candidate, self.stats)]
        if self.options.force:
            reasons.append("forced (--force)")
        return self._decide(candidate, reasons)

    def _with_seed(
        self, target: Target, entry: Entry | None, digests: dict[str, str]
    ) -> dict[str, Any]:
        """A manifest seed wins; then one an interrupted build already sent;
        then the locked one, so a prompt tweak keeps the composition. A new
        target gets one derived from its request, so that every machine
        building it chooses the same seed (and the same fingerprint);
        --reseed draws one at random instead."""
        if not target.model.seed or "seed" in target.request:
            return target.request
        options = self.options
        locked = entry.get("seed") if entry is not None and not options.reseed else None
        seed = options.seeds.get(target.name, locked)
        if not isinstance(seed, int) or isinstance(seed, bool):
            seed = (
                _SEEDS.randint(*SEED_RANGE)
                if options.reseed
                else derived_seed(target.provider, target.request, digests)
            )
        return {**target.request, "seed": seed}

    def _renamed(self, target: Target, digests: dict[str, str]) -> tuple[str, Entry] | None:
        """The departed entry whose request this new target repeats, seed aside."""
        if not self.options.departed:
            return None
        if self._departed_keys is None:
            self._departed_keys = {}
            for name, entry in sorted(self.options.departed.items()):
                request = entry.get("request")
                if isinstance(request, dict):
                    key = _seedless_key(
                        str(entry.get("provider")), request, entry.get("inputs") or {}
                    )
                    self._departed_keys.setdefault(key, (name, entry))
        return self._departed_keys.get(_seedless_key(target.provider, target.request, digests))

    def _decide(self, candidate: Candidate, reasons: list[str]) -> Step:
        target = candidate.target
        step = Step(
            target,
            Action.KEEP,
            reasons,
            candidate.fingerprint,
            candidate.request,
            candidate.input_digests,
            0.0,
        )
        if not reasons:
            return step
        cached = None if self.options.force else self.cache.lookup(candidate.fingerprint)
        if cached is not None and len(cached.get("outputs", ())) == len(target.outputs):
            step.action, step.cached = Action.RESTORE, cached
            return step
        step.action = Action.DERIVE if target.derived else Action.GENERATE
        step.estimated_cost = self.estimate(target, step.action)
        return step

    def estimate(self, target: Target, action: Action) -> float | None:
        if action is not Action.GENERATE or target.provider == "local":
            return 0.0
        return generation_price(target, target.provider, self.options.prices)


def generation_price(
    target: Target, provider: str, prices: Mapping[str, Mapping[str, float]]
) -> float | None:
    """What generating ``target`` on ``provider`` costs: the manifest's
    ``providers.NAME.prices`` for its model, else the registry's price, per
    result. None when neither knows."""
    model_id = target.request.get("model")
    price = prices.get(provider, {}).get(str(model_id), target.model.price)
    return None if price is None else round(price * target.number_results, 6)


def make_plan(
    targets: list[Target], lock: LockFile, stats: StatCache, cache: Cache, options: PlanOptions
) -> Plan:
    return Planner(lock, stats, cache, options).plan(targets)


def derived_seed(provider: str, request: dict[str, Any], digests: dict[str, str]) -> int:
    """A seed in ``SEED_RANGE`` that depends only on what the request asks for."""
    digest = hashlib.sha256(_seedless_key(provider, request, digests)).digest()
    low, high = SEED_RANGE
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def _seedless_key(provider: str, request: dict[str, Any], digests: dict[str, Any]) -> bytes:
    seedless = {key: value for key, value in request.items() if key != "seed"}
    return canonical_json({"provider": provider, "request": seedless, "inputs": digests})


def _input_digests(target: Target, stats: StatCache) -> dict[str, str]:
    digests = {}
    for path, relative in target.inputs.items():
        digest = stats.digest(relative)
        if digest is None:
            raise ManifestError(f"input file not found: {relative}", target=target.name)
        digests[_dotted(path)] = digest
    return digests


def _substitute(request: dict[str, Any], target: Target, digests: dict[str, str]) -> dict[str, Any]:
    """The request as fingerprinted: input files and upstream outputs replaced
    by content digests, so moving a file or renaming an upstream's output does
    not regenerate."""
    fingerprinted: Any = request
    for path in (*target.inputs, *target.references):
        fingerprinted = replace_at(fingerprinted, path, "sha256:" + digests[_dotted(path)])
    result: dict[str, Any] = fingerprinted
    return result


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path)
