"""Images made for the report from outputs, cached by content digest.

A thumbnail depends only on the bytes of its output and a difference only on
the two outputs it compares, so both are kept under the manifest's
``.imagebuild/thumbs/`` by digest and made once: a second report of 10,000
targets opens no image at all. ``index.json`` keeps what the page needs to
know about each (the original's size, the share of pixels that differ), so
that is not read from the images again either. Two reports writing the index
at once lose some entries, which are simply made again next time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

from imagebuild.planning.files import atomic_write, make_state_dir
from imagebuild.report.pixels import make_difference, make_thumbnail

INDEX = "index.json"
# What Pillow raises for a file it cannot read: such an output gets no preview.
_UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
Facts = dict[str, Any]
# Makes a preview at the given path and returns its facts.
Maker = Callable[[Path], Facts]


@dataclass(frozen=True, slots=True)
class Preview:
    path: str  # the cached file; paths are strings here, as 10,000 Path objects cost
    facts: Facts

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


class Previews:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index_path = directory / INDEX
        try:
            index = orjson.loads(self._index_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            index = {}
        # A cache, not a record: anything unreadable is made again.
        self._index: dict[str, Facts] = index if isinstance(index, dict) else {}
        self._listed: dict[str, set[str]] = {}
        self._dirty = False

    def thumbnails(self, sources: Mapping[str, str]) -> dict[str, Preview]:
        """A thumbnail per output digest (of the file at each path), with the
        original's ``width``, ``height`` and ``bytes``; an unreadable image
        gets none."""
        return self._ensure(
            {
                digest: (digest[:2], f"{digest}.webp", partial(_thumbnail, source))
                for digest, source in sources.items()
            }
        )

    def differences(
        self, pairs: Mapping[tuple[str, str], tuple[str, str]]
    ) -> dict[tuple[str, str], Preview]:
        """An amplified difference image per (old, new) digest pair, with the
        share of pixels that ``differ``."""
        keys = {pair: _pair_key(*pair) for pair in pairs}
        made = self._ensure(
            {
                key: (f"diff/{key[:2]}", f"{key}.png", partial(_difference, *pairs[pair]))
                for pair, key in keys.items()
            }
        )
        return {pair: made[key] for pair, key in keys.items() if key in made}

    def _ensure(self, wanted: Mapping[str, tuple[str, str, Maker]]) -> dict[str, Preview]:
        """Previews by key, making in parallel those not cached (Pillow
        releases the GIL while it decodes, scales and encodes). Whether a file
        is there is read from one listing per folder, not a stat per file."""
        found: dict[str, Preview] = {}
        missing: list[tuple[str, Path, Maker]] = []
        for key, (folder, name, make) in wanted.items():
            facts = self._index.get(key)
            if facts is not None and name in self._names(folder):
                found[key] = Preview(os.path.join(self.directory, folder, name), facts)
            else:
                missing.append((key, self.directory / folder / name, make))
        if not missing:
            return found
        make_state_dir(self.directory)
        for parent in {path.parent for _, path, _ in missing}:
            parent.mkdir(parents=True, exist_ok=True)

        def attempt(job: tuple[str, Path, Maker]) -> tuple[str, Path, Facts | None]:
            key, path, make = job
            try:
                return key, path, make(path)
            except _UNREADABLE:
                return key, path, None

        with ThreadPoolExecutor(max_workers=min(len(missing), os.cpu_count() or 1)) as pool:
            for key, path, facts in pool.map(attempt, missing):
                if facts is not None:
                    self._index[key] = facts
                    found[key] = Preview(str(path), facts)
                    self._dirty = True
        return found

    def _names(self, folder: str) -> set[str]:
        names = self._listed.get(folder)
        if names is None:
            try:
                names = set(os.listdir(self.directory / folder))
            except FileNotFoundError:
                names = set()
            self._listed[folder] = names
        return names

    def save(self) -> None:
        if self._dirty:
            atomic_write(self._index_path, orjson.dumps(self._index))
            self._dirty = False


def _thumbnail(source: str, destination: Path) -> Facts:
    width, height = make_thumbnail(source, destination)
    return {"width": width, "height": height, "bytes": os.stat(source).st_size}


def _difference(old: str, new: str, destination: Path) -> Facts:
    return {"differs": make_difference(old, new, destination)}


def _pair_key(old: str, new: str) -> str:
    """One short name for a pair of digests (two full ones make a path too
    long for some systems)."""
    return hashlib.sha256(f"{old}:{new}".encode()).hexdigest()
