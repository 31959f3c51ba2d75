"""Content-addressed store of every output ever made, indexed by fingerprint.

``objects/ab/<sha256>`` hold the bytes; ``index/ab/<fingerprint>.json`` says
which objects a fingerprint produced. A renamed or deleted output, or a
reverted prompt, comes back from here without a provider call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from imagebuild.planning.files import atomic_copy, atomic_write


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _object(self, digest: str) -> Path:
        return self.directory / "objects" / digest[:2] / digest

    def _index(self, fingerprint: str) -> Path:
        return self.directory / "index" / fingerprint[:2] / f"{fingerprint}.json"

    def lookup(self, fingerprint: str) -> dict[str, Any] | None:
        """The record of a fingerprint whose objects are all present, else None."""
        try:
            record: dict[str, Any] = orjson.loads(self._index(fingerprint).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        if all(self._object(output["sha256"]).is_file() for output in record.get("outputs", ())):
            return record
        return None

    def store(self, digest: str, data: bytes) -> None:
        target = self._object(digest)
        if not target.exists():
            atomic_write(target, data)

    def store_file(self, digest: str, source: Path) -> None:
        target = self._object(digest)
        if not target.exists():
            atomic_copy(source, target)

    def record(self, fingerprint: str, record: dict[str, Any]) -> None:
        atomic_write(self._index(fingerprint), orjson.dumps(record, option=orjson.OPT_SORT_KEYS))

    def restore(self, digest: str, destination: Path) -> None:
        """Copy an object to ``destination`` atomically (a copy, not a link:
        editing an output must never corrupt the cache)."""
        atomic_copy(self._object(digest), destination)
