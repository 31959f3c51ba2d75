"""CI shards: ``build --shard I/N`` builds a deterministic, balanced share of a manifest.

Every machine must agree on the shares whatever its ``.imagebuild/`` or its
outputs hold, so they are computed from the manifest alone: the target graph
and the static price of generating each target, never the plan's keep or
restore state. A share is made of whole units, the weakly connected
components of the graph: a master, its edits and all its variants land on
one shard, so a shard never waits for, or pays again for, another's upstream.
Units are dealt out longest first (LPT), by cost and then by target count,
ties broken by name.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagebuild.errors import UsageError
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import generation_price
from imagebuild.targets import Target

_SHARD = re.compile(r"(\d+)/(\d+)")
# Costs are summed in integer micro-dollars: sums of floats in another order
# could round differently and deal a unit elsewhere.
_MICRO = 1_000_000


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (from 1) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.fullmatch(text.strip())
        if match is None:
            raise UsageError(f"--shard {text}: expected I/N, such as 1/3")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise UsageError(f"--shard {text}: I must be between 1 and N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def fragment_path(self, manifest: Path) -> Path:
        """``NAME.shard-I-of-N.lock.json`` beside ``NAME.yaml``."""
        return manifest.with_name(f"{manifest.stem}.shard-{self.index}-of-{self.count}.lock.json")


@dataclass(frozen=True, slots=True)
class Unit:
    """Targets that must build on one machine, and what generating them costs."""

    names: tuple[str, ...]
    cost: int

    @property
    def key(self) -> tuple[int, int, str]:
        """Largest first; a name settles ties, identically everywhere."""
        return (-self.cost, -len(self.names), self.names[0])


def units(targets: list[Target], prices: Mapping[str, Mapping[str, float]]) -> list[Unit]:
    """The weakly connected components of the target graph."""
    parent = {target.name: target.name for target in targets}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for target in targets:
        for upstream in target.upstreams:
            first, second = sorted((root(target.name), root(upstream)))
            parent[second] = first
    members: dict[str, list[str]] = {}
    cost: dict[str, int] = {}
    for target in targets:
        component = root(target.name)
        members.setdefault(component, []).append(target.name)
        cost[component] = cost.get(component, 0) + static_cost(target, prices)
    return [Unit(tuple(sorted(names)), cost[component]) for component, names in members.items()]


def static_cost(target: Target, prices: Mapping[str, Mapping[str, float]]) -> int:
    """Micro-dollars to generate ``target`` with the provider its manifest names
    (``--provider`` does not move a shard boundary); unknown prices count nothing."""
    if target.derived:
        return 0
    price = generation_price(target, target.model.provider, prices)
    return round((price or 0.0) * _MICRO)


def assign(units: list[Unit], count: int) -> list[list[Unit]]:
    """Longest processing time first: each unit, largest first, to the shard
    with the least cost so far, then the fewest targets, then the lowest index."""
    shares: list[list[Unit]] = [[] for _ in range(count)]
    loads = [(0, 0, index) for index in range(count)]
    for unit in sorted(units, key=lambda unit: unit.key):
        cost, size, index = heapq.heappop(loads)
        shares[index].append(unit)
        heapq.heappush(loads, (cost + unit.cost, size + len(unit.names), index))
    return shares


def shard_names(
    targets: list[Target], shard: Shard, prices: Mapping[str, Mapping[str, float]]
) -> set[str]:
    """The names of every target in ``shard``'s share of ``targets``."""
    share = assign(units(targets, prices), shard.count)[shard.index - 1]
    return {name for unit in share for name in unit.names}


def fragment(lock: LockFile, shard: Shard, manifest: Path, names: set[str]) -> LockFile:
    """The lock a shard writes: the main lock's entries for the shard's targets,
    written beside the manifest even when nothing changed, so that the
    fragments together cover every target; the main lock is left alone."""
    entries = {name: entry for name, entry in lock.entries.items() if name in names}
    shard_lock = LockFile(shard.fragment_path(manifest), entries)
    shard_lock.changed = True
    return shard_lock
