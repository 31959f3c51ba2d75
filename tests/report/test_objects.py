"""Earlier outputs restored from the local cache, re-hashed on the way."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imagebuild.errors import ImageBuildError
from imagebuild.planning.cache import Cache
from imagebuild.report.objects import CorruptObjectError, ObjectSource, restore_verified


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_local_cache_is_a_source(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    source: ObjectSource = cache
    cache.store(sha(b"old pixels"), b"old pixels")
    destination = tmp_path / "report" / "before" / "x.png"
    assert restore_verified(source, sha(b"old pixels"), destination)
    assert destination.read_bytes() == b"old pixels"


def test_an_object_the_source_lacks_is_false_and_writes_nothing(tmp_path: Path) -> None:
    destination = tmp_path / "before" / "x.png"
    assert not restore_verified(Cache(tmp_path / "cache"), sha(b"never"), destination)
    assert not destination.exists()
    assert not list((tmp_path / "before").glob("*"))


def test_a_corrupt_object_is_refused_and_removed(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    digest = sha(b"old pixels")
    cache.store(digest, b"old pixels")
    (tmp_path / "cache" / "objects" / digest[:2] / digest).write_bytes(b"old pixelz")
    destination = tmp_path / "before" / "x.png"
    with pytest.raises(CorruptObjectError, match=digest):
        restore_verified(cache, digest, destination)
    assert not destination.exists()


def test_a_file_already_restored_is_not_fetched_again(tmp_path: Path) -> None:
    class Counting:
        calls = 0

        def restore(self, digest: str, destination: Path) -> None:
            self.calls += 1
            destination.write_bytes(b"old pixels")

    source = Counting()
    destination = tmp_path / "x.png"
    assert restore_verified(source, sha(b"old pixels"), destination)
    assert restore_verified(source, sha(b"old pixels"), destination)
    assert source.calls == 1


def test_a_source_that_finds_its_object_damaged(tmp_path: Path) -> None:
    class Checking:
        def restore(self, digest: str, destination: Path) -> None:
            raise ImageBuildError(f"cache object {digest} was damaged")

    with pytest.raises(CorruptObjectError, match="was damaged"):
        restore_verified(Checking(), sha(b"x"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
