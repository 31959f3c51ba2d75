"""Content-addressed store of every output ever made, indexed by fingerprint.

``objects/ab/<sha256>`` hold the bytes; ``index.log`` says which objects a
fingerprint produced, one line per record, the last for a fingerprint
winning. A renamed or deleted output, or a reverted prompt, comes back from
here without a provider call.

The index is a log rather than a file per fingerprint because creating a file
is what recording an image costs most (about 0.25 ms of kernel time each on a
virtual disk): an append is one ``os.write``. Each record starts with its own
newline, so a line torn by a crash ends where the next record begins and is
skipped when read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from imagebuild.errors import ImageBuildError
from imagebuild.notices import warn
from imagebuild.planning.files import (
    DigestMismatch,
    atomic_copy,
    atomic_write,
    make_state_dir,
    verified_copy,
)
from imagebuild.planning.lock import is_sha256

INDEX = "index.log"
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index_path = directory / INDEX
        self._index: dict[str, list[bytes]] | None = None
        self._recorded: dict[str, dict[str, Any]] = {}
        self._made = False

    def _writable(self) -> None:
        if not self._made:
            make_state_dir(self.directory)
            self._made = True

    def object_path(self, digest: str) -> Path:
        return self.directory / "objects" / digest[:2] / digest

    def lookup(self, fingerprint: str) -> dict[str, Any] | None:
        """The record of a fingerprint whose objects are all present, at their
        recorded sizes (an emptied or cut object is a miss), else None."""
        record = self._recorded.get(fingerprint) or self._indexed(fingerprint)
        if record is None:
            return None
        for output in record["outputs"]:
            try:
                size = self.object_path(output["sha256"]).stat().st_size
            except (FileNotFoundError, NotADirectoryError):
                return None
            if size != output.get("size", size):
                warn(f"cache object {output['sha256']} has the wrong size; it is not used")
                return None
        return record

    def _indexed(self, fingerprint: str) -> dict[str, Any] | None:
        """The last readable record of ``fingerprint`` in the index. The index
        is read and split by fingerprint once, on the first lookup: a plan of
        many changed targets asks for each."""
        if self._index is None:
            self._index = {}
            try:
                data = self._index_path.read_bytes()
            except FileNotFoundError:
                data = b""
            for line in data.split(b"\n"):
                key, separator, payload = line.partition(b" ")
                if separator:
                    self._index.setdefault(key.decode(errors="replace"), []).append(payload)
        for payload in reversed(self._index.get(fingerprint, ())):
            try:
                record = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue  # a line torn by a crash: an older record may serve
            if record_problem(record) is None:
                found: dict[str, Any] = record
                return found
            warn(f"{self._index_path}: a damaged record of {fingerprint} is skipped")
        return None

    def store(self, digest: str, data: bytes) -> None:
        target = self.object_path(digest)
        if not target.exists():
            self._writable()
            atomic_write(target, data)

    def store_file(self, digest: str, source: Path) -> None:
        target = self.object_path(digest)
        if not target.exists():
            self._writable()
            atomic_copy(source, target)

    def record(self, fingerprint: str, record: dict[str, Any]) -> None:
        """Append to the index; one write, so appends from other threads or
        builds never interleave with it."""
        self.record_many({fingerprint: record})

    def record_many(self, records: dict[str, dict[str, Any]]) -> None:
        """Append several records to the index in one write."""
        if not records:
            return
        lines = b"".join(
            b"\n" + fingerprint.encode() + b" " + orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
            for fingerprint, record in records.items()
        )
        self._writable()
        descriptor = os.open(self._index_path, _APPEND, 0o666)
        try:
            os.write(descriptor, lines)
        finally:
            os.close(descriptor)
        self._recorded.update(records)

    def objects(self) -> list[tuple[str, int]]:
        """(sha256, size) of every object, sorted."""
        found = []
        for path in sorted((self.directory / "objects").glob("??/*")):
            if path.is_file() and not path.name.startswith("."):
                found.append((path.name, path.stat().st_size))
        return found

    def prune(self, keep: set[str]) -> list[tuple[str, int]]:
        """Remove every object not in ``keep`` and the index records that named
        one; returns what was removed. Callers hold the build lock."""
        removed = [(digest, size) for digest, size in self.objects() if digest not in keep]
        for digest, _ in removed:
            self.object_path(digest).unlink(missing_ok=True)
        gone = {digest for digest, _ in removed}
        if gone and self._index_path.exists():
            kept = [
                line
                for line in self._index_path.read_bytes().split(b"\n")
                if line and _names_only(line, keep)
            ]
            atomic_write(self._index_path, b"".join(b"\n" + line for line in kept))
            self._index = None
        return removed

    def restore(self, digest: str, destination: Path) -> None:
        """Copy an object to ``destination`` atomically (a copy, not a link:
        editing an output must never corrupt the cache), verified against its
        digest: a damaged object is removed and never becomes an output."""
        try:
            verified_copy(self.object_path(digest), destination, digest)
        except DigestMismatch:
            self.object_path(digest).unlink(missing_ok=True)
            raise CacheDamagedError(
                f"cache object {digest} was damaged and is removed; the next build"
                " generates the target again"
            ) from None


class CacheDamagedError(ImageBuildError):
    """A cache object no longer holds the bytes it was stored under."""


def record_problem(record: object) -> str | None:
    """What makes a cache record unusable, or None."""
    if not isinstance(record, dict) or not isinstance(record.get("outputs"), list):
        return "not a record with outputs"
    for output in record["outputs"]:
        if not isinstance(output, dict) or not is_sha256(output.get("sha256")):
            return "an output without its sha256"
        size = output.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            return "an output with a size that is not a number"
    return None


def _names_only(line: bytes, keep: set[str]) -> bool:
    """Whether an index line is readable and names only objects in ``keep``."""
    try:
        record = orjson.loads(line.partition(b" ")[2])
        return all(output["sha256"] in keep for output in record["outputs"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False
