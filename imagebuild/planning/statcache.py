"""Digests of files, remembered by (mtime, size) as doit and DVC do.

A no-op plan must not re-hash every output: a stat is microseconds, a sha256
of a 4K PNG is milliseconds. Entries whose stat changed are re-hashed.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from imagebuild.notices import warn
from imagebuild.planning.files import atomic_write, hash_file, make_state_dir
from imagebuild.planning.lock import is_sha256

Stamp = tuple[int, int]


class StatCache:
    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self._prefix = f"{root}{os.sep}"
        self.entries: dict[str, list[object]] = {}
        self.dirty = False
        try:
            entries = orjson.loads(path.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            entries = {}
        except (OSError, orjson.JSONDecodeError):
            warn(f"{path} cannot be read; files are hashed again")
            entries = {}
        # A cache, not a record: anything unreadable is simply rebuilt.
        self.entries = entries if isinstance(entries, dict) else {}

    def digest(self, relative: str) -> str | None:
        """The file's sha256, or None when it does not exist."""
        try:
            stat = os.stat(self._prefix + relative)
        except (FileNotFoundError, NotADirectoryError):
            return None
        known = self.entries.get(relative)
        if isinstance(known, list) and len(known) == 3:
            # Compared before the digest is checked: a stale stamp is the
            # common miss, and a damaged digest is simply hashed again.
            if known[0] == stat.st_mtime_ns and known[1] == stat.st_size and is_sha256(known[2]):
                return str(known[2])
        elif known is not None:
            warn(f"{self.path}: a damaged record of {relative} is skipped (hashed again)")
        digest = hash_file(self.root / relative)
        self.remember(relative, digest)
        return digest

    def remember(self, relative: str, digest: str, stat: os.stat_result | None = None) -> None:
        """Record a file just written, so the next plan trusts its stat; the
        writer may pass the stat it already has."""
        stat = stat or os.stat(self._prefix + relative)
        self.entries[relative] = [stat.st_mtime_ns, stat.st_size, digest]
        self.dirty = True

    def save(self) -> None:
        """Write the digests down; a cache, so a failed write only warns."""
        if not self.dirty:
            return
        try:
            make_state_dir(self.path.parent)
            atomic_write(self.path, orjson.dumps(self.entries))
        except OSError as error:
            warn(f"cannot save {self.path}: {error.strerror or error}; files are hashed again")
        self.dirty = False
