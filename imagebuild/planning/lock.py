"""The lock file: ``NAME.lock.json`` beside ``NAME.yaml``, committed to git.

One entry per target, keys sorted, two-space indentation, so diffs and merges
stay per target. Written once per build (never per target): the journal
carries what happened in between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from imagebuild.errors import Location, ManifestError
from imagebuild.planning.files import atomic_write

LOCK_VERSION = 1
Entry = dict[str, Any]


def lock_path_for(manifest: Path) -> Path:
    return manifest.with_name(f"{manifest.stem}.lock.json")


class LockFile:
    def __init__(self, path: Path, entries: dict[str, Entry] | None = None) -> None:
        self.path = path
        self.entries: dict[str, Entry] = entries or {}
        self.changed = False

    @classmethod
    def read(cls, path: Path) -> LockFile:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path)
        return cls.parse(path, data)

    @classmethod
    def parse(cls, path: Path, data: bytes, where: str | None = None) -> LockFile:
        """A lock from its bytes; errors name ``where`` it was read from (a
        git revision's lock has no file of its own), else ``path``."""
        location = Location(where or str(path), 1, 1)
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ManifestError(f"lock file is not valid JSON: {error}", location) from None
        if not isinstance(document, dict) or document.get("version") != LOCK_VERSION:
            raise ManifestError(f"lock file version is not {LOCK_VERSION}", location)
        targets = document.get("targets", {})
        if not isinstance(targets, dict):
            raise ManifestError("lock file targets must be a mapping", location)
        return cls(path, targets)

    def get(self, name: str) -> Entry | None:
        return self.entries.get(name)

    def put(self, name: str, entry: Entry) -> None:
        self.entries[name] = entry
        self.changed = True

    def drop(self, names: set[str]) -> None:
        for name in names:
            if self.entries.pop(name, None) is not None:
                self.changed = True

    def render(self) -> bytes:
        document = {"version": LOCK_VERSION, "targets": self.entries}
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"

    def write(self) -> None:
        if self.changed:
            atomic_write(self.path, self.render())
            self.changed = False
