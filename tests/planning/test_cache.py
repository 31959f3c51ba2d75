"""The content-addressed cache: objects by sha256, an index by fingerprint."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from imagebuild.planning.cache import INDEX, Cache


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
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / INDEX).write_bytes(f'\n{FINGERPRINT} {{"outputs": ['.encode())
    assert Cache(tmp_path / "cache").lookup(FINGERPRINT) is None


def test_a_line_torn_by_a_crash_spoils_neither_earlier_nor_later_records(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.record(FINGERPRINT, {"outputs": [], "seed": 1})
    with (tmp_path / "cache" / INDEX).open("ab") as index:
        index.write(f'\n{FINGERPRINT} {{"outputs": [], "se'.encode())
    other = "e" * 64
    Cache(tmp_path / "cache").record(other, {"outputs": [], "seed": 3})
    reader = Cache(tmp_path / "cache")
    assert reader.lookup(FINGERPRINT) == {"outputs": [], "seed": 1}
    assert reader.lookup(other) == {"outputs": [], "seed": 3}


def test_records_are_read_back_by_a_later_build(tmp_path: Path) -> None:
    Cache(tmp_path / "cache").record(FINGERPRINT, {"outputs": [], "seed": 1})
    Cache(tmp_path / "cache").record(FINGERPRINT, {"outputs": [], "seed": 2})
    assert Cache(tmp_path / "cache").lookup(FINGERPRINT) == {"outputs": [], "seed": 2}


def test_a_fingerprint_that_is_a_prefix_of_another_finds_only_its_own(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.record(FINGERPRINT + "0", {"outputs": [], "seed": 9})
    assert Cache(tmp_path / "cache").lookup(FINGERPRINT) is None


def test_appends_from_many_threads_all_land(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    fingerprints = [f"{n:064x}" for n in range(400)]

    def append(chunk: list[str]) -> None:
        for fingerprint in chunk:
            cache.record(fingerprint, {"outputs": [], "seed": int(fingerprint, 16)})

    threads = [threading.Thread(target=append, args=(fingerprints[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader = Cache(tmp_path / "cache")
    assert all(reader.lookup(f) == {"outputs": [], "seed": int(f, 16)} for f in fingerprints)


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
