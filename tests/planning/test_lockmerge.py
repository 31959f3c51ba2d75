"""Lock merging per target: shard fragments into the main lock, and git's three-way merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebuild.errors import RefusedError
from imagebuild.planning.lock import LockFile
from imagebuild.planning.lockmerge import merge_fragments, three_way


def entry(seed: int, digest: str = "aa") -> dict[str, object]:
    return {
        "fingerprint": digest * 32,
        "seed": seed,
        "outputs": [{"path": f"out/{seed}.png", "sha256": digest * 32, "size": seed}],
    }


def lock(tmp_path: Path, name: str, **entries: dict[str, object]) -> LockFile:
    return LockFile(tmp_path / name, dict(entries))


def test_fragments_replace_the_main_locks_entries(tmp_path: Path) -> None:
    main = lock(tmp_path, "m.lock.json", a=entry(1), b=entry(2), c=entry(3))
    first = lock(tmp_path, "m.shard-1-of-2.lock.json", a=entry(10), b=entry(2))
    second = lock(tmp_path, "m.shard-2-of-2.lock.json", d=entry(4))
    merged = merge_fragments(main, [first, second], {"a", "b", "c", "d"})
    assert main.entries == {"a": entry(10), "b": entry(2), "c": entry(3), "d": entry(4)}
    assert (merged.changed, merged.dropped) == (2, 0)
    assert main.changed


def test_targets_gone_from_the_manifest_are_dropped(tmp_path: Path) -> None:
    main = lock(tmp_path, "m.lock.json", a=entry(1), gone=entry(2))
    shard = lock(tmp_path, "s.lock.json", a=entry(1), left=entry(3))
    merged = merge_fragments(main, [shard], {"a"})
    assert main.entries == {"a": entry(1)}
    assert (merged.changed, merged.dropped) == (0, 1)


def test_identical_entries_in_two_fragments_are_fine(tmp_path: Path) -> None:
    main = lock(tmp_path, "m.lock.json")
    first = lock(tmp_path, "1.lock.json", a=entry(1))
    second = lock(tmp_path, "2.lock.json", a=entry(1), b=entry(2))
    merge_fragments(main, [first, second], {"a", "b"})
    assert main.entries == {"a": entry(1), "b": entry(2)}


def test_contradicting_fragments_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    main = lock(tmp_path, "m.lock.json", a=entry(1))
    first = lock(tmp_path, "1.lock.json", a=entry(5), b=entry(2))
    second = lock(tmp_path, "2.lock.json", a=entry(6))
    with pytest.raises(RefusedError) as caught:
        merge_fragments(main, [first, second], {"a", "b"})
    assert str(caught.value) == (
        f"lock merge: target a: {tmp_path / '1.lock.json'} and {tmp_path / '2.lock.json'} "
        "record different results; nothing was merged"
    )
    assert main.entries == {"a": entry(1)}
    assert not main.changed


def test_contradictions_over_removed_targets_do_not_matter(tmp_path: Path) -> None:
    main = lock(tmp_path, "m.lock.json")
    first = lock(tmp_path, "1.lock.json", gone=entry(5))
    second = lock(tmp_path, "2.lock.json", gone=entry(6))
    merge_fragments(main, [first, second], {"a"})
    assert main.entries == {}


def test_an_unchanged_merge_changes_nothing(tmp_path: Path) -> None:
    main = lock(tmp_path, "m.lock.json", a=entry(1))
    merged = merge_fragments(main, [lock(tmp_path, "1.lock.json", a=entry(1))], {"a"})
    assert (merged.changed, merged.dropped) == (0, 0)
    assert not main.changed


BASE = {"a": entry(1), "b": entry(2), "c": entry(3)}


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        # each side added a different target
        ({**BASE, "d": entry(4)}, {**BASE, "e": entry(5)}, {**BASE, "d": entry(4), "e": entry(5)}),
        # each side changed a different target
        ({**BASE, "a": entry(9)}, {**BASE, "b": entry(8)}, {**BASE, "a": entry(9), "b": entry(8)}),
        # the same change on both sides
        ({**BASE, "a": entry(9)}, {**BASE, "a": entry(9)}, {**BASE, "a": entry(9)}),
        # one side removed a target the other left alone
        ({"a": entry(1), "b": entry(2)}, {**BASE, "a": entry(7)}, {"a": entry(7), "b": entry(2)}),
        # both removed it
        ({"a": entry(1)}, {"a": entry(1)}, {"a": entry(1)}),
        # both added the same target identically
        ({**BASE, "d": entry(4)}, {**BASE, "d": entry(4)}, {**BASE, "d": entry(4)}),
    ],
)
def test_three_way_takes_each_target_from_the_side_that_changed_it(
    tmp_path: Path,
    ours: dict[str, dict[str, object]],
    theirs: dict[str, dict[str, object]],
    expected: dict[str, dict[str, object]],
) -> None:
    merged = three_way(
        lock(tmp_path, "o", **BASE), lock(tmp_path, "a", **ours), lock(tmp_path, "b", **theirs)
    )
    assert merged.conflicts == {}
    assert merged.entries == expected


def test_the_same_target_changed_differently_is_a_conflict(tmp_path: Path) -> None:
    merged = three_way(
        lock(tmp_path, "o", **BASE),
        lock(tmp_path, "a", **{**BASE, "b": entry(20), "d": entry(4)}),
        lock(tmp_path, "b", **{**BASE, "b": entry(21)}),
    )
    assert merged.conflicts == {"b": (entry(20), entry(21))}
    assert merged.entries == {"a": entry(1), "c": entry(3), "d": entry(4)}


def test_changed_on_one_side_removed_on_the_other_is_a_conflict(tmp_path: Path) -> None:
    merged = three_way(
        lock(tmp_path, "o", **BASE),
        lock(tmp_path, "a", a=entry(1), b=entry(2)),
        lock(tmp_path, "b", **{**BASE, "c": entry(30)}),
    )
    assert merged.conflicts == {"c": (None, entry(30))}


def test_a_target_added_differently_on_both_sides_is_a_conflict(tmp_path: Path) -> None:
    merged = three_way(
        lock(tmp_path, "o"), lock(tmp_path, "a", n=entry(1)), lock(tmp_path, "b", n=entry(2))
    )
    assert merged.conflicts == {"n": (entry(1), entry(2))}


def conflicted(tmp_path: Path) -> bytes:
    merged = three_way(
        lock(tmp_path, "o", **BASE),
        lock(tmp_path, "a", **{**BASE, "b": entry(20, "bb")}),
        lock(tmp_path, "b", **{**BASE, "b": entry(21, "cc")}),
    )
    return merged.with_conflict_markers()


def resolve(text: str, keep: str) -> str:
    """What a person does: keep one side of each conflict, drop the markers."""
    kept, side = [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("<<<<<<< "):
            side = "ours"
        elif line.startswith("=======") and side:
            side = "theirs"
        elif line.startswith(">>>>>>> "):
            side = None
        elif side in (None, keep):
            kept.append(line)
    return "".join(kept)


def test_conflict_markers_surround_only_that_targets_entry(tmp_path: Path) -> None:
    text = conflicted(tmp_path).decode()
    lines = text.splitlines()
    start, middle, end = (lines.index(m) for m in ("<<<<<<< ours", "=======", ">>>>>>> theirs"))
    assert lines[start + 1] == '    "b": {'
    assert lines[middle + 1] == '    "b": {'
    assert lines[middle - 1] == lines[end - 1] == "    },"
    assert '"seed": 20' in "\n".join(lines[start:middle])
    assert '"seed": 21' in "\n".join(lines[middle:end])
    assert text.count('"a": {') == text.count('"c": {') == 1


@pytest.mark.parametrize(("keep", "seed"), [("ours", 20), ("theirs", 21)])
def test_either_resolution_is_the_lock_in_its_normal_bytes(
    tmp_path: Path, keep: str, seed: int
) -> None:
    resolved = resolve(conflicted(tmp_path).decode(), keep)
    digest = "bb" if keep == "ours" else "cc"
    expected = LockFile(tmp_path / "x", {**BASE, "b": entry(seed, digest)}).render()
    assert resolved.encode() == expected
    assert json.loads(resolved)["targets"]["b"]["seed"] == seed


def test_a_conflict_on_the_last_target_resolves_to_valid_json(tmp_path: Path) -> None:
    merged = three_way(
        lock(tmp_path, "o", **BASE),
        lock(tmp_path, "a", **{**BASE, "c": entry(30)}),
        lock(tmp_path, "b", **{**BASE, "c": entry(31)}),
    )
    text = merged.with_conflict_markers().decode()
    for keep, seed in (("ours", 30), ("theirs", 31)):
        assert json.loads(resolve(text, keep))["targets"]["c"]["seed"] == seed
