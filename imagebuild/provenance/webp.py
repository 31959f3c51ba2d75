"""WEBP: ``EXIF`` and ``XMP `` RIFF chunks, which need the extended format.

A simple file (a lone ``VP8 `` or ``VP8L`` chunk) becomes extended: a
``VP8X`` header with the canvas size read from the bitstream's own header and
the alpha flag a lossless bitstream declares. The new chunks go after the
image data, where the container specification orders them; older ``EXIF``
and ``XMP `` chunks are dropped (merged into the new ones first) and the RIFF
size is recomputed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from imagebuild.provenance.blob import Blob, Chunk, ContainerError, Piece, Span, length, merged
from imagebuild.provenance.exif import exif_block, read_exif, read_xmp, xmp_packet
from imagebuild.provenance.metadata import Found, Metadata

RIFF = b"RIFF"
WEBP = b"WEBP"
VP8X = b"VP8X"
EXIF = b"EXIF"
XMP = b"XMP "
IMAGE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANMF"})
ALPHA_FLAG = 0x10
EXIF_FLAG = 0x08
XMP_FLAG = 0x04
_VP8_START_CODE = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F


class _Canvas(NamedTuple):
    flags: int
    width: int
    height: int


def size(blob: Blob) -> tuple[int, int]:
    canvas = _canvas(blob, next(_chunks(blob)))
    return canvas.width, canvas.height


def embed(blob: Blob, metadata: Metadata) -> list[Piece]:
    chunks = list(_chunks(blob))
    canvas = _canvas(blob, chunks[0])
    existing: dict[bytes, bytes] = {}
    kept: list[Chunk] = []
    for chunk in chunks:
        if chunk.kind in (EXIF, XMP):
            existing.setdefault(chunk.kind, blob.read(chunk.data, chunk.length))
        elif chunk.kind != VP8X:
            kept.append(chunk)
    after_image = 1 + max(
        (index for index, chunk in enumerate(kept) if chunk.kind in IMAGE_CHUNKS), default=-1
    )
    header = bytes((canvas.flags | EXIF_FLAG | XMP_FLAG,)) + b"\0\0\0"
    header += (canvas.width - 1).to_bytes(3, "little") + (canvas.height - 1).to_bytes(3, "little")
    new = _chunk(EXIF, exif_block(existing.get(EXIF), metadata)) + _chunk(
        XMP, xmp_packet(existing.get(XMP), metadata)
    )
    body: list[Piece] = [
        _chunk(VP8X, header),
        *(Span(chunk.start, chunk.end) for chunk in kept[:after_image]),
        new,
        *(Span(chunk.start, chunk.end) for chunk in kept[after_image:]),
    ]
    riff = RIFF + struct.pack("<I", len(WEBP) + length(body)) + WEBP
    return merged([riff, *body])


def read(blob: Blob) -> Found:
    record = parameters = xmp_record = None
    for chunk in _chunks(blob):
        if chunk.kind == EXIF and record is None and parameters is None:
            record, parameters = read_exif(blob.read(chunk.data, chunk.length))
        elif chunk.kind == XMP and xmp_record is None:
            xmp_record = read_xmp(blob.read(chunk.data, chunk.length))
    width, height = size(blob)
    return Found("WEBP", width, height, xmp_record or record, parameters)


def _chunks(blob: Blob) -> Iterator[Chunk]:
    riff, declared, form = struct.unpack("<4sI4s", blob.read(0, 12))
    if riff != RIFF or form != WEBP:
        raise ContainerError("not a WEBP file")
    limit = 8 + declared
    if limit > blob.size:
        raise ContainerError(f"WEBP is truncated: {blob.size} of {limit} bytes")
    offset = 12
    while offset + 8 <= limit:
        fourcc, size = struct.unpack("<4sI", blob.read(offset, 8))
        chunk = Chunk(fourcc, offset, size, size & 1)
        if chunk.end > limit:
            raise ContainerError(f"WEBP chunk {fourcc!r} at byte {offset} is truncated")
        yield chunk
        offset = chunk.end
    if offset == 12:
        raise ContainerError("WEBP without chunks")


def _canvas(blob: Blob, first: Chunk) -> _Canvas:
    """Flags and canvas size of the extended header, or of a simple file's bitstream."""
    if first.kind == VP8X and first.length >= 10:
        header = blob.read(first.data, 10)
        width = int.from_bytes(header[4:7], "little") + 1
        return _Canvas(header[0], width, int.from_bytes(header[7:10], "little") + 1)
    if first.kind == b"VP8 " and first.length >= 10:
        frame = blob.read(first.data, 10)
        if frame[3:6] == _VP8_START_CODE:
            width, height = struct.unpack("<HH", frame[6:10])
            return _Canvas(0, width & 0x3FFF, height & 0x3FFF)
    if first.kind == b"VP8L" and first.length >= 5:
        signature, bits = struct.unpack("<BI", blob.read(first.data, 5))
        if signature == _VP8L_SIGNATURE:
            alpha = ALPHA_FLAG if bits >> 28 & 1 else 0
            return _Canvas(alpha, (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1)
    raise ContainerError(f"WEBP starts with an unknown chunk {first.kind!r}")


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    padding = b"\0" if len(data) & 1 else b""
    return fourcc + struct.pack("<I", len(data)) + data + padding
