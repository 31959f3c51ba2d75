"""The lock file: stable bytes so git diffs and merges stay per target."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagebuild.errors import ManifestError
from imagebuild.planning.lock import LOCK_VERSION, LockFile, entry_problem, lock_path_for, record_of

ENTRY = {
    "fingerprint": "ab" * 32,
    "seed": 42,
    "provider": "local",
    "request": {"width": 64, "positivePrompt": "a fox", "model": "local"},
    "outputs": [{"path": "out/a.png", "sha256": "cd" * 32, "size": 10}],
}


def test_lock_path_sits_beside_the_manifest() -> None:
    assert lock_path_for(Path("campaigns/spring.yaml")) == Path("campaigns/spring.lock.json")
    assert lock_path_for(Path("imagebuild.yaml")) == Path("imagebuild.lock.json")


def test_round_trip(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "m.lock.json")
    lock.put("hero", ENTRY)
    lock.put("logo", {"seed": 1})
    lock.write()
    reread = LockFile.read(tmp_path / "m.lock.json")
    assert reread.entries == {"hero": ENTRY, "logo": {"seed": 1}}
    assert reread.get("hero") == ENTRY
    assert reread.get("absent") is None
    assert not reread.changed


def test_formatting_is_sorted_indented_and_ends_with_a_newline(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "m.lock.json")
    lock.put("b", {"z": 1, "a": [1, {"y": 2, "x": 3}]})
    lock.put("a", {"seed": 7})
    assert lock.render() == (
        b"{\n"
        b'  "targets": {\n'
        b'    "a": {\n'
        b'      "seed": 7\n'
        b"    },\n"
        b'    "b": {\n'
        b'      "a": [\n'
        b"        1,\n"
        b"        {\n"
        b'          "x": 3,\n'
        b'          "y": 2\n'
        b"        }\n"
        b"      ],\n"
        b'      "z": 1\n'
        b"    }\n"
        b"  },\n"
        b'  "version": 1\n'
        b"}\n"
    )


def test_rendering_twice_is_byte_identical(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "m.lock.json")
    lock.put("hero", ENTRY)
    assert lock.render() == lock.render()
    lock.write()
    assert (tmp_path / "m.lock.json").read_bytes() == lock.render()
    assert LockFile.read(tmp_path / "m.lock.json").render() == lock.render()


def test_insertion_order_does_not_change_the_bytes(tmp_path: Path) -> None:
    forward = LockFile(tmp_path / "a.lock.json")
    forward.put("alpha", {"seed": 1, "fingerprint": "x"})
    forward.put("beta", {"seed": 2, "fingerprint": "y"})
    backward = LockFile(tmp_path / "b.lock.json")
    backward.put("beta", {"fingerprint": "y", "seed": 2})
    backward.put("alpha", {"fingerprint": "x", "seed": 1})
    assert forward.render() == backward.render()


def test_rendered_lock_is_plain_json_with_the_version(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "m.lock.json")
    lock.put("hero", ENTRY)
    assert json.loads(lock.render()) == {"version": LOCK_VERSION, "targets": {"hero": ENTRY}}


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    lock = LockFile.read(tmp_path / "absent.lock.json")
    assert lock.entries == {}
    assert not lock.changed


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"version": 1, "targets": {'])
def test_invalid_json_is_a_manifest_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.lock.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError) as caught:
        LockFile.read(path)
    assert str(caught.value).startswith(f"{path}:1:1: lock file is not valid JSON")


@pytest.mark.parametrize(
    "content", [b'{"version": 2, "targets": {}}', b'{"targets": {}}', b"[1]", b'"1"']
)
def test_wrong_version_is_a_manifest_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.lock.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match="lock file version is not 1"):
        LockFile.read(path)


def test_targets_that_are_not_a_mapping_are_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    path.write_bytes(b'{"version": 1, "targets": ["hero"]}')
    with pytest.raises(ManifestError):
        LockFile.read(path).get("hero")


def test_write_happens_only_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    lock = LockFile(path)
    lock.write()
    assert not path.exists()
    lock.put("hero", ENTRY)
    assert lock.changed
    lock.write()
    assert path.exists()
    assert not lock.changed
    path.write_bytes(b"edited by someone else")
    lock.write()  # nothing changed since the last write: the file is left alone
    assert path.read_bytes() == b"edited by someone else"


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "m.lock.json")
    lock.put("hero", ENTRY)
    lock.write()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lock.json"]


def test_drop_removes_entries_and_marks_a_change(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    lock = LockFile(path)
    lock.put("hero", ENTRY)
    lock.put("logo", {"seed": 1})
    lock.write()
    reread = LockFile.read(path)
    reread.drop({"logo", "never-there"})
    assert reread.changed
    assert set(reread.entries) == {"hero"}
    reread.write()
    assert set(LockFile.read(path).entries) == {"hero"}


def test_dropping_unknown_names_is_no_change(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "m.lock.json", {"hero": ENTRY})
    lock.drop({"never-there"})
    assert not lock.changed
    assert lock.entries == {"hero": ENTRY}


def test_a_lock_with_conflict_markers_names_the_conflicts_line(tmp_path: Path) -> None:
    path = tmp_path / "imagebuild.lock.json"
    path.write_text(
        '{\n  "targets": {\n'
        '<<<<<<< ours\n    "hero": {\n      "seed": 1\n    }\n'
        '=======\n    "hero": {\n      "seed": 2\n    }\n'
        '>>>>>>> theirs\n  },\n  "version": 1\n}\n'
    )
    with pytest.raises(ManifestError) as caught:
        LockFile.read(path)
    assert str(caught.value) == (
        f"{path}:3:1: unresolved merge conflict: keep one side's entry and delete the "
        "<<<<<<<, ======= and >>>>>>> lines"
    )


# What a lock entry may hold: the JSON a manifest and a provider produce.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=8,
)
# Entries a reader accepts: the fields planning reads have their types.
entries = st.dictionaries(
    st.text(min_size=1),
    st.dictionaries(st.text(), json_values, max_size=4).filter(
        lambda entry: entry_problem(entry) is None
    ),
    max_size=3,
)


@settings(max_examples=50, deadline=None)
@given(entries)
def test_reading_a_rendered_lock_gives_its_entries_back(entries: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.lock.json"
        path.write_bytes(LockFile(path, entries).render())
        again = LockFile.read(path)
    assert again.entries == entries
    assert again.render() == LockFile(path, entries).render()


def test_the_record_a_lock_entry_was_made_from() -> None:
    digest = "ab" * 32
    entry = {
        "outputs": [{"path": "out/a.png", "sha256": digest, "size": 10, "imageUUID": "u"}],
        "seed": 3,
        "cost": 0.01,
        "fingerprint": "fp",
        "provider": "runware",
        "request": {"prompt": "x"},
        "schema": "s",
        "inputs": {"seedImage": digest},
    }
    assert record_of(entry) == {
        "outputs": [{"sha256": digest, "size": 10, "imageUUID": "u"}],
        "seed": 3,
        "cost": 0.01,
    }
