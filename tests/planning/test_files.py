"""Atomic writes and copies: whole files or none, usual permissions, no leftovers."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from imagebuild.planning import files
from imagebuild.planning.files import (
    DigestMismatch,
    atomic_copy,
    atomic_write,
    temporary_beside,
    verified_copy,
)


def test_atomic_write_creates_missing_folders_and_returns_the_files_stat(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "image.png"
    written = atomic_write(path, b"pixels" * 1000)
    assert path.read_bytes() == b"pixels" * 1000
    on_disk = path.stat()
    assert (written.st_size, written.st_mtime_ns, written.st_ino) == (
        on_disk.st_size,
        on_disk.st_mtime_ns,
        on_disk.st_ino,
    )


def test_atomic_write_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    atomic_write(path, b"old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["image.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_files_get_the_umask_not_owner_only_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        atomic_write(tmp_path / "image.png", b"x")
        atomic_copy(tmp_path / "image.png", tmp_path / "copy.png")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "image.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "copy.png").stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "image.png"
    atomic_write(path, b"old")

    def refuse(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["image.png"]


def test_temporary_names_never_repeat_across_threads(tmp_path: Path) -> None:
    names: list[Path] = []
    lock = threading.Lock()

    def draw() -> None:
        drawn = [temporary_beside(tmp_path / "image.png") for _ in range(500)]
        with lock:
            names.extend(drawn)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 4000
    assert all(name.parent == tmp_path and name.name.startswith(".image.png.") for name in names)


@pytest.mark.parametrize("size", [0, 1, 27_000, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 5])
def test_a_verified_copy_is_the_whole_file_whatever_its_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    source = tmp_path / "object"
    source.write_bytes(data)
    destination = tmp_path / "out" / "deep" / "image.png"
    verified_copy(source, destination, hashlib.sha256(data).hexdigest())
    assert destination.read_bytes() == data
    assert os.listdir(destination.parent) == ["image.png"]


def test_a_verified_copy_that_does_not_match_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "object"
    source.write_bytes(b"flipped" * 50_000)
    destination = tmp_path / "out" / "image.png"
    destination.parent.mkdir()
    destination.write_bytes(b"previous")
    with pytest.raises(DigestMismatch):
        verified_copy(source, destination, hashlib.sha256(b"original").hexdigest())
    assert destination.read_bytes() == b"previous"
    assert os.listdir(destination.parent) == ["image.png"], "no temporary left"
