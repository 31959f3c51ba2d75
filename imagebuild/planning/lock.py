"""The lock file: ``NAME.lock.json`` beside ``NAME.yaml``, committed to git.

One entry per target, keys sorted, two-space indentation, so diffs and merges
stay per target. Written once per build (never per target): the journal
carries what happened in between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from imagebuild.errors import Location, ManifestError, StateError
from imagebuild.planning.files import atomic_write

_REPAIR = "repair the entry or delete it: the next build then restores or rebuilds the target"
_HEX = frozenset("0123456789abcdef")

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
        shown = shown_path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path)
        except IsADirectoryError:
            raise StateError(
                "the lock is a folder, not a file: move it away (the journal and the"
                " cache keep every built result, and the next build writes a new lock)",
                Location(shown, 1, 1),
            ) from None
        except OSError as error:
            raise StateError(
                f"cannot read the lock: {error.strerror}", Location(shown, 1, 1)
            ) from None
        return cls.parse(path, raw)

    @classmethod
    def parse(cls, path: Path, raw: bytes, where: str | None = None) -> LockFile:
        """A lock from its bytes; errors name ``where`` it was read from (a
        git revision's lock has no file of its own), else ``path``."""
        shown = where or shown_path(path)
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise _unreadable(shown, raw, error) from None
        if not isinstance(document, dict) or document.get("version") != LOCK_VERSION:
            raise ManifestError(f"lock file version is not {LOCK_VERSION}", Location(shown, 1, 1))
        targets = document.get("targets", {})
        if not isinstance(targets, dict):
            raise ManifestError("lock file targets must be a mapping", Location(shown, 1, 1))
        for name, entry in targets.items():
            problem = entry_problem(entry)
            if problem is not None:
                line = _line_of(raw, name)
                raise StateError(f"{problem}; {_REPAIR}", Location(shown, line, 5), name)
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
        """Write the lock if it changed. A failed write (a full disk) leaves the
        old lock whole, and the journal holds what the new one would have."""
        if not self.changed:
            return
        try:
            atomic_write(self.path, self.render())
        except OSError as error:
            raise StateError(
                f"cannot write the lock: {error.strerror or error}; the previous lock is"
                " intact and every finished output is on disk and journaled: the next"
                " build records them",
                Location(shown_path(self.path), 1, 1),
            ) from None
        self.changed = False


# What ties an entry to its target, beside the cache record it was made from.
TARGET_FIELDS = frozenset({"fingerprint", "provider", "request", "schema", "inputs"})


def record_of(entry: Entry) -> dict[str, Any]:
    """The cache record a lock entry was made from: what the result is, not
    where the target puts it."""
    record = {key: value for key, value in entry.items() if key not in TARGET_FIELDS}
    record["outputs"] = [
        {key: value for key, value in output.items() if key != "path"}
        for output in entry.get("outputs", ())
    ]
    return record


def entry_problem(entry: object) -> str | None:
    """What makes a lock entry unusable, or None: the fields planning and
    restores read must have their types."""
    if not isinstance(entry, dict):
        return "the entry is not an object"
    outputs = entry.get("outputs", [])
    if not isinstance(outputs, list):
        return "outputs is not a list of outputs"
    for index, output in enumerate(outputs):
        if not isinstance(output, dict):
            return f"outputs[{index}] is not an object"
        if not isinstance(output.get("path"), str) or not output["path"]:
            return f"outputs[{index}].path is not a path"
        if not is_sha256(output.get("sha256")):
            return f"outputs[{index}].sha256 is not a sha256 digest"
        size = output.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            return f"outputs[{index}].size is not a size"
    for key, kind, shown in (
        ("fingerprint", str, "a string"),
        ("provider", str, "a string"),
        ("request", dict, "an object"),
        ("inputs", dict, "an object"),
    ):
        if key in entry and not isinstance(entry[key], kind):
            return f"{key} is not {shown}"
    seed = entry.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return "seed is not an integer"
    return None


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def _line_of(raw: bytes, name: str) -> int:
    """The line of ``name``'s entry in a lock as imagebuild writes it (1 if not found)."""
    key = b"\n    " + orjson.dumps(name) + b": "
    found = raw.find(key)
    return raw.count(b"\n", 0, found) + 2 if found >= 0 else 1


def _unreadable(shown: str, data: bytes, error: orjson.JSONDecodeError) -> ManifestError:
    """A merge conflict left in the lock is named where it starts, not as bad JSON."""
    for number, line in enumerate(data.splitlines(), 1):
        if line.startswith(b"<<<<<<<"):
            return ManifestError(
                "unresolved merge conflict: keep one side's entry and delete the "
                "<<<<<<<, ======= and >>>>>>> lines",
                Location(shown, number, 1),
            )
    return ManifestError(f"lock file is not valid JSON: {error}", Location(shown, 1, 1))


def shown_path(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when in it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
