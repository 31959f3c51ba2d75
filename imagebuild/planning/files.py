"""Small file primitives shared by the lock, the caches and the executor."""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import shutil
from pathlib import Path

from imagebuild.errors import StateError

_CHUNK = 1 << 20
# Temporary names unique without asking the file system: the process id, a token
# drawn once (processes on other machines may share a network folder), a counter.
# ``mkstemp`` costs a name draw and a buffered file object per call, and creates
# files only their owner can read; outputs should get the usual umask.
_TOKEN = secrets.token_hex(4)
_COUNTER = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
# Written into every folder of machine state imagebuild makes (``.imagebuild/``,
# a shared cache), so that ``git add -A`` never commits it.
STATE_GITIGNORE = b"# imagebuild's machine state (caches, journal, staging): not for git.\n*\n"


def make_state_dir(directory: Path) -> Path:
    """``directory``, made with its own ``.gitignore`` if it did not exist."""
    if directory.is_dir():
        return directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ".gitignore").write_bytes(STATE_GITIGNORE)
    except (FileExistsError, NotADirectoryError):
        raise StateError(
            f"{directory} is not a folder: move it away; imagebuild keeps its state there"
        ) from None
    return directory


def temporary_beside(path: Path) -> Path:
    """A name in ``path``'s folder that no other writer uses, hidden and ``.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}-{_TOKEN}-{next(_COUNTER)}.tmp")


def atomic_write(path: Path, data: bytes) -> os.stat_result:
    """Write ``data`` so that readers see the old file or the new one, never half.
    Returns the new file's stat, which is what a stat cache needs to trust it."""
    temporary = temporary_beside(path)
    descriptor = _create(temporary)
    try:
        try:
            _write_all(descriptor, data)
            stat = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return stat


def _create(temporary: Path) -> int:
    """A descriptor of the new file ``temporary``; its folder is made only if
    it is missing (asking first costs two system calls per file)."""
    try:
        return os.open(temporary, _CREATE, 0o666)
    except FileNotFoundError:
        temporary.parent.mkdir(parents=True, exist_ok=True)
        return os.open(temporary, _CREATE, 0o666)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def atomic_copy(source: Path, destination: Path) -> None:
    """Copy ``source`` so that ``destination`` is never seen half-written."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(destination)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class DigestMismatch(ValueError):
    """A copy's bytes do not have the digest they were stored under."""


def verified_copy(source: Path, destination: Path, digest: str) -> None:
    """Copy ``source`` atomically, checking on the way that its sha256 is
    ``digest``; on a mismatch nothing is written and ``DigestMismatch`` raised.

    Unbuffered, in reads of the file's size (up to a MiB): a restore of a
    small image is two reads and one write, with none of the buffered
    layer's extra system calls, each of which lets another thread take the
    interpreter (a build of 1,000 local restores: 28,000 system calls
    instead of 36,000)."""
    temporary = temporary_beside(destination)
    hasher = hashlib.sha256()
    reader = os.open(source, _READ)
    try:
        size = min(os.fstat(reader).st_size + 1, _CHUNK)
        writer = _create(temporary)
        try:
            while chunk := os.read(reader, size):
                hasher.update(chunk)
                _write_all(writer, chunk)
        finally:
            os.close(writer)
        if hasher.hexdigest() != digest:
            raise DigestMismatch(f"{source.name} does not hash to its name")
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        os.close(reader)


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
