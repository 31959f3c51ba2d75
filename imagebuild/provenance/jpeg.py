"""JPEG: an APP1 ``Exif`` segment and an APP1 XMP packet, after SOI and APP0.

Only the segments before the first scan are read; the entropy-coded data is
copied as one span, so pixels are exactly those delivered. Older Exif, XMP
and extended-XMP segments are dropped (their Exif tags and foreign XMP
descriptions merged into the new ones first). A segment holds at most 64 KiB:
a record that does not fit is refused, and the file is written as delivered.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from imagebuild.provenance.blob import Blob, ContainerError, Piece, Span, merged
from imagebuild.provenance.exif import exif_block, read_exif, read_xmp, xmp_packet
from imagebuild.provenance.metadata import Found, Metadata

SOI = b"\xff\xd8"
APP0 = 0xE0
APP1 = 0xE1
SOS = 0xDA
EOI = 0xD9
EXIF_PREFIX = b"Exif\0\0"
XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\0"
XMP_EXTENSION_PREFIX = b"http://ns.adobe.com/xmp/extension/\0"
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_FRAME_HEADERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_SEGMENT = 0xFFFF - 2


class _Segment(NamedTuple):
    marker: int
    start: int
    end: int

    @property
    def payload(self) -> int:
        return self.start + 4


def size(blob: Blob) -> tuple[int, int]:
    for segment in _segments(blob):
        if segment.marker in _FRAME_HEADERS:
            height, width = struct.unpack(">HH", blob.read(segment.payload + 1, 4))
            return width, height
    raise ContainerError("JPEG without a frame header")


def embed(blob: Blob, metadata: Metadata) -> list[Piece]:
    existing_exif: bytes | None = None
    existing_xmp: bytes | None = None
    head: list[Piece] = [Span(0, len(SOI))]
    rest: list[Piece] = []
    for segment in _segments(blob):
        if segment.marker == SOS:
            rest.append(Span(segment.start, blob.size))
            break
        kind = _app1_kind(blob, segment)
        if kind == EXIF_PREFIX:
            existing_exif = existing_exif or _payload(blob, segment, EXIF_PREFIX)
        elif kind == XMP_PREFIX:
            existing_xmp = existing_xmp or _payload(blob, segment, XMP_PREFIX)
        elif kind is None:
            # APP0 (JFIF) stays first when only dropped segments came before it.
            leading = segment.marker == APP0 and not rest
            (head if leading else rest).append(Span(segment.start, segment.end))
    else:
        raise ContainerError("JPEG without image data (no scan)")
    new = _segment(APP1, EXIF_PREFIX + exif_block(existing_exif, metadata)) + _segment(
        APP1, XMP_PREFIX + xmp_packet(existing_xmp, metadata)
    )
    return merged([*head, new, *rest])


def read(blob: Blob) -> Found:
    record = parameters = xmp_record = None
    for segment in _segments(blob):
        kind = _app1_kind(blob, segment)
        if kind == EXIF_PREFIX and parameters is None and record is None:
            record, parameters = read_exif(_payload(blob, segment, EXIF_PREFIX))
        elif kind == XMP_PREFIX and xmp_record is None:
            xmp_record = read_xmp(_payload(blob, segment, XMP_PREFIX))
    width, height = size(blob)
    return Found("JPEG", width, height, xmp_record or record, parameters)


def _segments(blob: Blob) -> Iterator[_Segment]:
    """Marker segments up to and including the first scan's (SOS)."""
    if blob.read(0, len(SOI)) != SOI:
        raise ContainerError("not a JPEG file")
    offset = len(SOI)
    while True:
        prefix, marker = blob.read(offset, 2)
        if prefix != 0xFF:
            raise ContainerError(f"JPEG marker expected at byte {offset}")
        if marker == 0xFF:
            offset += 1  # a fill byte
            continue
        if marker == EOI:
            return
        if marker in _STANDALONE:
            yield _Segment(marker, offset, offset + 2)
            offset += 2
            continue
        (length,) = struct.unpack(">H", blob.read(offset + 2, 2))
        segment = _Segment(marker, offset, offset + 2 + length)
        if length < 2 or segment.end > blob.size:
            raise ContainerError(f"JPEG segment at byte {offset} is truncated")
        yield segment
        if marker == SOS:
            return
        offset = segment.end


def _app1_kind(blob: Blob, segment: _Segment) -> bytes | None:
    """The identifier of an Exif or XMP APP1 segment; ``None`` for any other segment."""
    if segment.marker != APP1:
        return None
    head = blob.read(segment.payload, min(segment.end - segment.payload, len(XMP_EXTENSION_PREFIX)))
    for prefix in (EXIF_PREFIX, XMP_PREFIX, XMP_EXTENSION_PREFIX):
        if head.startswith(prefix):
            return prefix
    return None


def _payload(blob: Blob, segment: _Segment, prefix: bytes) -> bytes:
    start = segment.payload + len(prefix)
    return blob.read(start, segment.end - start)


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > _MAX_SEGMENT:
        raise ContainerError(
            f"{len(payload)} bytes of metadata do not fit a JPEG segment (at most {_MAX_SEGMENT})"
        )
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload
