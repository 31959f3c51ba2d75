"""File digests remembered by (mtime, size): a no-op plan must not re-hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson

from imagebuild.planning.statcache import StatCache


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make(tmp_path: Path) -> StatCache:
    return StatCache(tmp_path / ".imagebuild" / "stat.json", tmp_path)


def test_digest_is_the_sha256_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"pixels")
    assert make(tmp_path).digest("out/a.png") == sha(b"pixels")


def test_digest_of_a_large_file_spanning_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "big.bin").write_bytes(data)
    assert make(tmp_path).digest("big.bin") == sha(data)


def test_missing_file_is_none(tmp_path: Path) -> None:
    stats = make(tmp_path)
    assert stats.digest("absent.png") is None
    (tmp_path / "file").write_bytes(b"x")
    assert stats.digest("file/below.png") is None  # a file where a folder should be
    assert stats.entries == {}
    assert not stats.dirty


def test_unchanged_stat_is_trusted_without_rehashing(tmp_path: Path) -> None:
    """The trade-off, as in doit and DVC: same mtime_ns and size means same content."""
    path = tmp_path / "a.png"
    path.write_bytes(b"original")
    stats = make(tmp_path)
    assert stats.digest("a.png") == sha(b"original")
    before = path.stat()
    path.write_bytes(b"imposter")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert stats.digest("a.png") == sha(b"original")


def test_changed_size_is_rehashed(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"original")
    stats = make(tmp_path)
    stats.digest("a.png")
    before = path.stat()
    path.write_bytes(b"longer content")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert stats.digest("a.png") == sha(b"longer content")


def test_changed_mtime_is_rehashed(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"original")
    stats = make(tmp_path)
    stats.digest("a.png")
    before = path.stat()
    path.write_bytes(b"imposter")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert stats.digest("a.png") == sha(b"imposter")


def test_a_file_that_disappears_is_none_again(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    stats = make(tmp_path)
    assert stats.digest("a.png") is not None
    path.unlink()
    assert stats.digest("a.png") is None


def test_remember_records_a_file_just_written(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"written by the executor")
    stats = make(tmp_path)
    stats.remember("a.png", "d" * 64)
    assert stats.dirty
    stat = path.stat()
    assert stats.entries["a.png"] == [stat.st_mtime_ns, stat.st_size, "d" * 64]
    # trusted from then on, without hashing
    assert stats.digest("a.png") == "d" * 64


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "b.png").write_bytes(b"bb")
    stats = make(tmp_path)
    stats.digest("a.png")
    stats.digest("b.png")
    stats.save()
    reloaded = make(tmp_path)
    assert reloaded.entries == stats.entries
    assert reloaded.digest("b.png") == sha(b"bb")
    assert orjson.loads(stats.path.read_bytes()) == stats.entries


def test_reloaded_cache_trusts_saved_stats(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"original")
    stats = make(tmp_path)
    stats.digest("a.png")
    stats.save()
    before = path.stat()
    path.write_bytes(b"imposter")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert make(tmp_path).digest("a.png") == sha(b"original")


def test_dirty_flag_follows_new_digests_and_saves(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a")
    stats = make(tmp_path)
    assert not stats.dirty
    stats.digest("a.png")
    assert stats.dirty
    stats.save()
    assert not stats.dirty
    stats.digest("a.png")  # known and unchanged: nothing new to save
    assert not stats.dirty
    reloaded = make(tmp_path)
    reloaded.digest("a.png")
    assert not reloaded.dirty


def test_save_writes_nothing_when_clean(tmp_path: Path) -> None:
    stats = make(tmp_path)
    stats.save()
    assert not stats.path.exists()
    assert not stats.path.parent.exists()


def test_a_corrupt_stat_file_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / ".imagebuild" / "stat.json"
    path.parent.mkdir()
    path.write_bytes(b'{"a.png": [1, 2,')
    (tmp_path / "a.png").write_bytes(b"a")
    stats = make(tmp_path)
    assert stats.entries == {}
    assert stats.digest("a.png") == sha(b"a")
