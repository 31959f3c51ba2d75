"""Which container a file is, told by its first bytes, never by its name."""

from __future__ import annotations

from typing import Protocol

from imagebuild.provenance import jpeg, png, webp
from imagebuild.provenance.blob import Blob, ContainerError, Piece
from imagebuild.provenance.metadata import Found, Metadata

HEADER = 12


class Container(Protocol):
    def size(self, blob: Blob) -> tuple[int, int]: ...

    def embed(self, blob: Blob, metadata: Metadata) -> list[Piece]: ...

    def read(self, blob: Blob) -> Found: ...


def container_of(blob: Blob) -> Container:
    """The container module for ``blob``; AVIF and everything else is refused."""
    head = blob.read(0, min(HEADER, blob.size))
    if head.startswith(png.SIGNATURE):
        return png
    if head.startswith(jpeg.SOI + b"\xff"):
        return jpeg
    if head[:4] == webp.RIFF and head[8:12] == webp.WEBP:
        return webp
    raise ContainerError("not a PNG, JPEG or WEBP image")
