"""Atomic writes and copies: whole files or none, usual permissions, no leftovers."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from imagebuild.planning import files
from imagebuild.planning.files import atomic_copy, atomic_write, temporary_beside


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
