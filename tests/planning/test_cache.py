"""The content-addressed cache: objects by sha256, an index by fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagebuild.planning.cache import Cache


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FINGERPRINT = "f" * 8 + "0" * 56


def test_store_and_restore_round_trip(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.store(sha(b"pixels"), b"pixels")
    destination = tmp_path / "out" / "deep" / "a.png"
    cache.restore(sha(b"pixels"), destination)
    assert destination.read_bytes() == b"pixels"


def test_objects_are_sharded_by_digest_prefix(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    digest = sha(b"pixels")
    cache.store(digest, b"pixels")
    assert (tmp_path / "cache" / "objects" / digest[:2] / digest).read_bytes() == b"pixels"


def test_lookup_returns_the_record(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.store(sha(b"one"), b"one")
    cache.store(sha(b"two"), b"two")
    record = {"outputs": [{"sha256": sha(b"one")}, {"sha256": sha(b"two")}], "seed": 3}
    cache.record(FINGERPRINT, record)
    assert cache.lookup(FINGERPRINT) == record


def test_lookup_of_an_unknown_fingerprint_is_none(tmp_path: Path) -> None:
    assert Cache(tmp_path / "cache").lookup(FINGERPRINT) is None


def test_lookup_is_none_when_an_object_is_missing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.store(sha(b"one"), b"one")
    record = {"outputs": [{"sha256": sha(b"one")}, {"sha256": sha(b"never stored")}]}
    cache.record(FINGERPRINT, record)
    assert cache.lookup(FINGERPRINT) is None
    cache.store(sha(b"never stored"), b"never stored")
    assert cache.lookup(FINGERPRINT) == record


def test_lookup_of_a_corrupt_index_entry_is_none(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    index = tmp_path / "cache" / "index" / FINGERPRINT[:2] / f"{FINGERPRINT}.json"
    index.parent.mkdir(parents=True)
    index.write_bytes(b'{"outputs": [')
    assert cache.lookup(FINGERPRINT) is None


def test_restore_is_a_copy_not_a_link(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    digest = sha(b"pixels")
    cache.store(digest, b"pixels")
    destination = tmp_path / "a.png"
    cache.restore(digest, destination)
    with destination.open("r+b") as handle:  # edit in place, as an image editor might
        handle.write(b"PIX")
    assert destination.read_bytes() == b"PIXels"
    other = tmp_path / "b.png"
    cache.restore(digest, other)
    assert other.read_bytes() == b"pixels"
    assert not destination.samefile(other)


def test_restore_replaces_an_existing_file(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.store(sha(b"pixels"), b"pixels")
    destination = tmp_path / "a.png"
    destination.write_bytes(b"stale and much longer than the object")
    cache.restore(sha(b"pixels"), destination)
    assert destination.read_bytes() == b"pixels"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_store_file_copies_a_file_into_the_cache(tmp_path: Path) -> None:
    source = tmp_path / "staged.png"
    source.write_bytes(b"downloaded")
    cache = Cache(tmp_path / "cache")
    cache.store_file(sha(b"downloaded"), source)
    assert source.read_bytes() == b"downloaded"  # the source stays
    destination = tmp_path / "out.png"
    cache.restore(sha(b"downloaded"), destination)
    assert destination.read_bytes() == b"downloaded"


def test_store_keeps_an_existing_object(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    digest = sha(b"pixels")
    cache.store(digest, b"pixels")
    cache.store(digest, b"other bytes under the same name")
    source = tmp_path / "s"
    source.write_bytes(b"yet other bytes")
    cache.store_file(digest, source)
    destination = tmp_path / "a.png"
    cache.restore(digest, destination)
    assert destination.read_bytes() == b"pixels"


def test_record_overwrites_the_index_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.record(FINGERPRINT, {"outputs": [], "seed": 1})
    cache.record(FINGERPRINT, {"outputs": [], "seed": 2})
    assert cache.lookup(FINGERPRINT) == {"outputs": [], "seed": 2}
