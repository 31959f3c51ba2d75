"""Random access to an encoded image, in memory or in a file, and splicing.

A container writer does not copy pixels: it reads the structure (chunk and
segment headers), then answers with the new file as a list of pieces, new
bytes or spans of the original. Applying that list to bytes is one join; to a
file, a streamed copy, so a large staged download is never held in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

from imagebuild.errors import ImageBuildError
from imagebuild.planning.files import temporary_beside

_COPY_CHUNK = 1 << 20


class ContainerError(ImageBuildError):
    """The bytes are not a well-formed PNG, JPEG or WEBP file."""


class Span(NamedTuple):
    """Bytes ``start`` to ``stop`` of the original."""

    start: int
    stop: int


Piece = bytes | Span


class Chunk(NamedTuple):
    """A PNG or RIFF chunk: an 8-byte header (length and type, in either
    order), ``length`` bytes of data, then ``trailer`` bytes (PNG's CRC,
    RIFF's padding to an even size)."""

    kind: bytes
    start: int
    length: int
    trailer: int

    @property
    def data(self) -> int:
        return self.start + 8

    @property
    def end(self) -> int:
        return self.data + self.length + self.trailer


class Blob:
    """An encoded image to read at any offset: bytes, or an open file."""

    def __init__(self, data: bytes | None = None, handle: BinaryIO | None = None) -> None:
        self._view = memoryview(data) if data is not None else None
        self._handle = handle
        if self._view is not None:
            self.size = len(self._view)
        else:
            assert handle is not None
            self.size = os.fstat(handle.fileno()).st_size

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``; a short read is a truncated file."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ContainerError(f"truncated at byte {min(max(offset, 0), self.size)}")
        if self._view is not None:
            return bytes(self._view[offset : offset + length])
        assert self._handle is not None
        self._handle.seek(offset)
        return self._handle.read(length)

    def join(self, pieces: Iterable[Piece]) -> bytes:
        """The spliced file, from an in-memory original."""
        assert self._view is not None
        view = self._view
        return b"".join(
            piece if isinstance(piece, bytes) else view[piece.start : piece.stop]
            for piece in pieces
        )

    def write(self, pieces: Iterable[Piece], destination: BinaryIO) -> None:
        """The spliced file, streamed from a file original."""
        assert self._handle is not None
        for piece in pieces:
            if isinstance(piece, bytes):
                destination.write(piece)
                continue
            self._handle.seek(piece.start)
            left = piece.stop - piece.start
            while left:
                chunk = self._handle.read(min(left, _COPY_CHUNK))
                destination.write(chunk)
                left -= len(chunk)


@contextmanager
def opened(source: bytes | Path) -> Iterator[Blob]:
    """A blob over bytes, or over a file for as long as the block runs."""
    if isinstance(source, bytes):
        yield Blob(source)
        return
    with source.open("rb") as handle:
        yield Blob(handle=handle)


def length(pieces: Iterable[Piece]) -> int:
    return sum(
        len(piece) if isinstance(piece, bytes) else piece.stop - piece.start for piece in pieces
    )


def merged(pieces: Iterable[Piece]) -> list[Piece]:
    """Adjacent spans as one, so a join copies few large runs."""
    result: list[Piece] = []
    for piece in pieces:
        last = result[-1] if result else None
        if isinstance(piece, Span) and isinstance(last, Span) and last.stop == piece.start:
            result[-1] = Span(last.start, piece.stop)
        elif isinstance(piece, bytes) and not piece:
            continue
        else:
            result.append(piece)
    return result


def rewrite_file(path: Path, splice: Callable[[Blob], list[Piece]]) -> None:
    """Replace ``path`` by its spliced version, atomically."""
    temporary = temporary_beside(path)
    try:
        with path.open("rb") as handle, temporary.open("wb") as destination:
            source = Blob(handle=handle)
            source.write(splice(source), destination)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
