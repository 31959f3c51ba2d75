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
    try:
        descriptor = os.open(temporary, _CREATE, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, _CREATE, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            stat = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return stat


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
    ``digest``; on a mismatch nothing is written and ``DigestMismatch`` raised."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(destination)
    hasher = hashlib.sha256()
    try:
        with source.open("rb") as reader, temporary.open("wb") as writer:
            while chunk := reader.read(_CHUNK):
                hasher.update(chunk)
                writer.write(chunk)
        if hasher.hexdigest() != digest:
            raise DigestMismatch(f"{source.name} does not hash to its name")
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
