"""The target graph: references and derivations as edges, checked and ordered.

A missing reference names the closest existing targets; a cycle is reported
once, naming every member with its place in the manifest.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from imagebuild.errors import ManifestError, collected, unknown_name
from imagebuild.manifest.expand import Manifest
from imagebuild.targets import Target


def order_targets(manifest: Manifest, targets: list[Target]) -> list[Target]:
    """Dependencies first; otherwise manifest order (stable, so plans diff well)."""
    by_name = {target.name: target for target in targets}
    _check_references(manifest, targets, by_name)
    position = {target.name: index for index, target in enumerate(targets)}
    waiting = {target.name: len(target.upstreams) for target in targets}
    dependents: dict[str, list[str]] = {name: [] for name in by_name}
    for target in targets:
        for upstream in target.upstreams:
            dependents[upstream].append(target.name)
    ready = [(position[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[Target] = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (position[dependent], dependent))
    if len(ordered) != len(targets):
        raise _cycle_error(manifest, by_name, {name for name, count in waiting.items() if count})
    return ordered


def with_upstreams(targets: list[Target], chosen: Iterable[str]) -> set[str]:
    """``chosen`` and everything it needs, transitively."""
    by_name = {target.name: target for target in targets}
    needed: set[str] = set()
    stack = list(chosen)
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        stack.extend(by_name[name].upstreams)
    return needed


def _check_references(
    manifest: Manifest, targets: list[Target], by_name: dict[str, Target]
) -> None:
    errors = []
    for target in targets:
        for path, reference in target.references.items():
            where = target.spec.origin(target.manifest_field(path))
            if reference.target not in by_name:
                message = unknown_name("target", reference.target, by_name).replace(
                    "unknown", "reference to unknown", 1
                )
                errors.append(manifest.error(message, where, target.name))
            elif reference.target == target.name:
                errors.append(
                    manifest.error("a target cannot use its own output", where, target.name)
                )
            elif reference.index > len(by_name[reference.target].outputs):
                count = len(by_name[reference.target].outputs)
                errors.append(
                    manifest.error(
                        f"{reference.target} has {count} output(s), not {reference.index}",
                        where,
                        target.name,
                    )
                )
    if errors:
        raise collected(errors)


def _cycle_error(manifest: Manifest, by_name: dict[str, Target], stuck: set[str]) -> ManifestError:
    """Walk upstream from any stuck target until a name repeats: that loop is a cycle."""
    path: list[str] = []
    name = min(stuck)
    while name not in path:
        path.append(name)
        name = next(upstream for upstream in by_name[name].upstreams if upstream in stuck)
    cycle = [*path[path.index(name) :], name]
    members = " -> ".join(
        f"{member} ({manifest.source.locate(by_name[member].spec.origin(()))})" for member in cycle
    )
    first = by_name[cycle[0]]
    return ManifestError(
        f"dependency cycle: {members}", manifest.source.locate(first.spec.origin(())), first.name
    )
