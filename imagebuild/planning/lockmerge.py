"""Merging lock files, per target: shard fragments into the main lock, and
the three-way merge git asks a merge driver for.

A lock holds one entry per target, so a merge is decided target by target;
two results for one target are never blended, because each records a
different paid image.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field

import orjson

from imagebuild.errors import RefusedError
from imagebuild.planning.lock import LOCK_VERSION, Entry, LockFile

OURS_MARKER = "<<<<<<< ours"
SEPARATOR_MARKER = "======="
THEIRS_MARKER = ">>>>>>> theirs"


@dataclass(frozen=True, slots=True)
class FragmentsMerged:
    changed: int
    dropped: int


def merge_fragments(
    lock: LockFile, fragments: Sequence[LockFile], names: Set[str]
) -> FragmentsMerged:
    """Fold ``fragments`` into ``lock``: their entries replace the lock's, and
    entries of targets not in ``names`` (no longer in the manifest) go. Two
    fragments with different entries for one target are refused before
    anything changes."""
    chosen: dict[str, tuple[LockFile, Entry]] = {}
    for fragment in fragments:
        for name, entry in fragment.entries.items():
            if name not in names:
                continue
            earlier = chosen.setdefault(name, (fragment, entry))
            if earlier[1] != entry:
                raise RefusedError(
                    f"lock merge: target {name}: {earlier[0].path} and {fragment.path} "
                    "record different results; nothing was merged"
                )
    dropped = set(lock.entries) - names
    lock.drop(dropped)
    changed = 0
    for name, (_, entry) in chosen.items():
        if lock.get(name) != entry:
            lock.put(name, entry)
            changed += 1
    return FragmentsMerged(changed, len(dropped))


@dataclass(slots=True)
class ThreeWay:
    """A merged lock: the entries both sides agree on, and for each target
    changed differently on both sides, ours and theirs (None: removed)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    conflicts: dict[str, tuple[Entry | None, Entry | None]] = field(default_factory=dict)

    def with_conflict_markers(self) -> bytes:
        """The lock in its normal layout, each conflict left as git leaves one:
        markers around the two versions of that target's entry."""
        names = sorted({*self.entries, *self.conflicts})
        lines = ["{", '  "targets": {']
        for position, name in enumerate(names):
            comma = "," if position < len(names) - 1 else ""
            if name in self.conflicts:
                ours, theirs = self.conflicts[name]
                lines.append(OURS_MARKER)
                lines += _entry_lines(name, ours, comma)
                lines.append(SEPARATOR_MARKER)
                lines += _entry_lines(name, theirs, comma)
                lines.append(THEIRS_MARKER)
            else:
                lines += _entry_lines(name, self.entries[name], comma)
        lines += ["  },", f'  "version": {LOCK_VERSION}', "}", ""]
        return "\n".join(lines).encode()


def three_way(base: LockFile, ours: LockFile, theirs: LockFile) -> ThreeWay:
    """Each target from the side that changed it; a removal is a change, and
    the same change on both sides is no conflict."""
    merged = ThreeWay()
    for name in sorted({*base.entries, *ours.entries, *theirs.entries}):
        original, mine, other = base.get(name), ours.get(name), theirs.get(name)
        if mine == other or other == original:
            result = mine
        elif mine == original:
            result = other
        else:
            merged.conflicts[name] = (mine, other)
            continue
        if result is not None:
            merged.entries[name] = result
    return merged


def _entry_lines(name: str, entry: Entry | None, comma: str) -> list[str]:
    """``"NAME": {...}`` exactly as it sits inside the lock's ``targets``."""
    if entry is None:
        return []
    rendered = orjson.dumps({name: entry}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    lines = ["  " + line for line in rendered.decode().splitlines()[1:-1]]
    lines[-1] += comma
    return lines
