"""Reading what an image file says about itself, from the file alone."""

from __future__ import annotations

from pathlib import Path

from imagebuild.errors import ImageBuildError
from imagebuild.provenance.blob import opened
from imagebuild.provenance.containers import container_of
from imagebuild.provenance.metadata import Found
from imagebuild.provenance.origin import Origin, parse_record


def read_image(path: Path) -> Found:
    """Raises ``ContainerError`` for a file that is not a well-formed image."""
    with opened(path) as blob:
        return container_of(blob).read(blob)


def origin_in(path: Path) -> Origin | None:
    """The imagebuild origin of ``path``; ``None`` when it has none, or none readable."""
    try:
        found = read_image(path)
        return parse_record(found.record) if found.record is not None else None
    except (OSError, ImageBuildError):
        return None
