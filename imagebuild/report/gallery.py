"""From cards to a report folder: earlier images restored from their source,
thumbnails and differences from the preview cache, and the page.

The folder is self-contained apart from the current outputs, which are
linked where they are (beside the manifest), so nothing large is copied:

    index.html      the page, with the card data inline
    thumbs/         thumbnails by output digest (hard links into the preview cache)
    before/         earlier outputs by digest, restored from their source
    diff/           pixel differences of changed outputs
    reload.js       the live-reload stamp, for a live page only

Files in the three folders that no card uses any more are removed.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imagebuild.planning.files import atomic_copy
from imagebuild.report.cards import Card, Output, Section
from imagebuild.report.objects import CorruptObjectError, restore_verified
from imagebuild.report.page import write_page
from imagebuild.report.previews import Preview, Previews
from imagebuild.targets import FORMAT_BY_SUFFIX

THUMBS, BEFORE, DIFF = "thumbs", "before", "diff"
Pair = tuple[str, str]  # (earlier digest, current digest)


@dataclass(slots=True)
class Written:
    index: Path
    warnings: list[str] = field(default_factory=list)


def write_gallery(
    sections: list[Section],
    directory: Path,
    previews: Previews,
    title: str,
    *,
    live_reload: bool = False,
) -> Written:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    folder = _Folder(directory)
    earlier = folder.restore_earlier(sections)
    roots = [str(section.root) for section in sections]
    sources = {
        output.sha256: os.path.join(root, output.path)
        for root, section in zip(roots, sections, strict=True)
        for card in section.cards
        for output in card.outputs
        if output.sha256 is not None
    }
    thumbnails = previews.thumbnails({**sources, **earlier})
    pairs = {
        (old.sha256, new.sha256): (earlier[old.sha256], os.path.join(root, new.path))
        for root, section in zip(roots, sections, strict=True)
        for card in section.cards
        for old, new in _compared(card)
        if old.sha256 in earlier and new is not None and new.sha256 is not None
    }
    differences = previews.differences(pairs)
    several = len(sections) > 1
    cards = []
    for number, section in enumerate(sections):
        link = folder.linker(section.root)
        for card in section.cards:
            shown = _card_json(card, number if several else None)
            shown["images"] = [
                folder.image(output, link(output.path), thumbnails) for output in card.outputs
            ]
            shown["before"] = [
                None if old is None else folder.earlier(old, new, earlier, thumbnails, differences)
                for old, new in _aligned(card)
            ]
            cards.append(shown)
    payload = {
        "title": title,
        "sections": [section.manifest for section in sections],
        "baselines": [section.baseline for section in sections],
        "cards": cards,
    }
    index = write_page(directory, title, payload, live_reload=live_reload)
    folder.prune()
    previews.save()
    return Written(index, folder.warnings)


def _aligned(card: Card) -> Iterator[tuple[Output | None, Output | None]]:
    """Each earlier output the card shows with the current one at its index."""
    for index, old in enumerate(card.before):
        yield old, card.outputs[index] if index < len(card.outputs) else None


def _compared(card: Card) -> Iterator[tuple[Output, Output | None]]:
    for old, new in _aligned(card):
        if old is not None:
            yield old, new


def _card_json(card: Card, section: int | None) -> dict[str, Any]:
    """The card's facts; keys carry the manifest's number when there are several."""

    def key(name: str) -> str:
        return name if section is None else f"{section}:{name}"

    return {
        "key": key(card.name),
        "name": card.name,
        "section": section or 0,
        "status": card.status,
        "reasons": card.reasons,
        "provider": card.provider,
        "model": card.model,
        "prompt": card.prompt,
        "seed": card.seed,
        "cost": card.cost,
        "estimate": card.estimate,
        "builtAt": card.built_at,
        "tags": card.tags,
        "transform": card.transform,
        "upstream": [key(name) for name in card.upstreams],
        "derived": [key(name) for name in card.derived],
        "change": str(card.change) if card.change is not None else None,
    }


class _Folder:
    """The report folder's files: those found there (one listing per folder,
    not a stat per file) and those written this time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.found = {name: _listing(directory / name) for name in (THUMBS, BEFORE, DIFF)}
        self.kept: dict[str, set[str]] = {name: set() for name in self.found}
        self.warnings: list[str] = []

    def restore_earlier(self, sections: list[Section]) -> dict[str, str]:
        """Every earlier output a card shows, by digest, restored into ``before/``."""
        restored: dict[str, str] = {}
        for section in sections:
            for card in section.cards:
                for old, _ in _compared(card):
                    if old.sha256 is None or old.sha256 in restored:
                        continue
                    name = old.sha256 + _suffix(old.path)
                    destination = self.directory / BEFORE / name
                    try:
                        present = restore_verified(section.objects, old.sha256, destination)
                    except CorruptObjectError as error:
                        self.warnings.append(f"{section.manifest}: target {card.name}: {error}")
                        continue
                    if present:
                        self.kept[BEFORE].add(name)
                        restored[old.sha256] = str(destination)
        return restored

    def linker(self, root: Path) -> Callable[[str], str]:
        """The URL of a file under ``root`` (by its relative path), relative to
        the page; quoted, so that no output name becomes a scheme
        (``javascript:``), a query or a fragment."""
        try:
            prefix = Path(os.path.relpath(root, self.directory)).as_posix()
        except ValueError:  # another drive on Windows: only an absolute URL reaches it
            return lambda path: (root / path).as_uri()
        return lambda path: quote(f"{prefix}/{path}")

    def image(self, output: Output, href: str, thumbnails: Mapping[str, Preview]) -> dict[str, Any]:
        """An image as the page shows it; no ``href`` when the file is not there."""
        shown: dict[str, Any] = {"path": output.path, "href": None, "thumb": None}
        if output.sha256 is None:
            return shown
        shown["href"] = href
        preview = thumbnails.get(output.sha256)
        if preview is not None:
            shown["thumb"] = self._publish(preview, THUMBS)
            shown.update(preview.facts)
        return shown

    def earlier(
        self,
        old: Output,
        new: Output | None,
        restored: Mapping[str, str],
        thumbnails: Mapping[str, Preview],
        differences: Mapping[Pair, Preview],
    ) -> dict[str, Any]:
        path = restored.get(old.sha256 or "")
        if path is None:
            return {"path": old.path, "href": None, "thumb": None}
        shown = self.image(old, f"./{BEFORE}/{os.path.basename(path)}", thumbnails)
        if new is not None and new.sha256 is not None and old.sha256 is not None:
            difference = differences.get((old.sha256, new.sha256))
            if difference is not None:
                shown["diff"] = self._publish(difference, DIFF)
                shown.update(difference.facts)
        return shown

    def _publish(self, preview: Preview, folder: str) -> str:
        """A cached preview linked into the report; its relative URL."""
        name = preview.name
        if name not in self.found[folder] and name not in self.kept[folder]:
            destination = self.directory / folder / name
            destination.parent.mkdir(exist_ok=True)
            try:
                os.link(preview.path, destination)
            except OSError:  # another file system, or one without hard links
                atomic_copy(Path(preview.path), destination)
        self.kept[folder].add(name)
        return f"{folder}/{name}"

    def prune(self) -> None:
        for folder, names in self.found.items():
            for name in names - self.kept[folder]:
                (self.directory / folder / name).unlink(missing_ok=True)


def _listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


def _suffix(path: str) -> str:
    suffix = posixpath.splitext(path)[1].lower()
    return suffix if suffix in FORMAT_BY_SUFFIX else ""
