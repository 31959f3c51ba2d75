"""PNG: a ``parameters`` text chunk (A1111's) and an ``imagebuild`` iTXt chunk.

``parameters`` is ``tEXt`` when Latin-1 can hold it, which every reader
handles, else ``iTXt`` (UTF-8). Both go right before the first ``IDAT``,
uncompressed (zlib's output would tie the bytes to a zlib version); text
chunks of the same keywords anywhere in the file are dropped, so embedding
again replaces rather than adds.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from imagebuild.provenance.blob import Blob, Chunk, ContainerError, Piece, Span, merged
from imagebuild.provenance.metadata import MAX_TEXT, Found, Metadata

SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS = b"parameters"
RECORD = b"imagebuild"
TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_MAX_KEYWORD = 79
CRC_SIZE = 4


def size(blob: Blob) -> tuple[int, int]:
    width, height = struct.unpack(">II", blob.read(16, 8))
    return width, height


def embed(blob: Blob, metadata: Metadata) -> list[Piece]:
    new = b""
    if metadata.parameters is not None:
        new += _text_chunk(PARAMETERS, metadata.parameters)
    new += _itxt_chunk(RECORD, metadata.origin.canonical())
    pieces: list[Piece] = [Span(0, len(SIGNATURE))]
    last = len(SIGNATURE)
    for chunk in _chunks(blob):
        if chunk.kind == b"IDAT" and new:
            pieces.append(new)
            new = b""
        if _keyword(blob, chunk) not in (PARAMETERS, RECORD):
            pieces.append(Span(chunk.start, chunk.end))
        last = chunk.end
    if new:
        raise ContainerError("PNG without image data (no IDAT chunk)")
    pieces.append(Span(last, blob.size))
    return merged(pieces)


def read(blob: Blob) -> Found:
    texts: dict[bytes, str] = {}
    for chunk in _chunks(blob):
        keyword = _keyword(blob, chunk)
        if keyword in (PARAMETERS, RECORD) and chunk.length <= MAX_TEXT:
            text = _text(chunk.kind, blob.read(chunk.data, chunk.length)[len(keyword) + 1 :])
            if text is not None:
                texts[keyword] = text
    width, height = size(blob)
    return Found("PNG", width, height, texts.get(RECORD), texts.get(PARAMETERS))


def _chunks(blob: Blob) -> Iterator[Chunk]:
    """Every chunk up to IEND, from headers alone."""
    if blob.read(0, len(SIGNATURE)) != SIGNATURE:
        raise ContainerError("not a PNG file")
    offset = len(SIGNATURE)
    while True:
        length, kind = struct.unpack(">I4s", blob.read(offset, 8))
        chunk = Chunk(kind, offset, length, CRC_SIZE)
        if offset == len(SIGNATURE) and kind != b"IHDR":
            raise ContainerError("PNG does not start with IHDR")
        if chunk.end > blob.size:
            raise ContainerError(f"PNG chunk {kind!r} at byte {offset} is truncated")
        yield chunk
        if kind == b"IEND":
            return
        offset = chunk.end


def _keyword(blob: Blob, chunk: Chunk) -> bytes | None:
    if chunk.kind not in TEXT_CHUNKS:
        return None
    head = blob.read(chunk.data, min(chunk.length, _MAX_KEYWORD + 1))
    keyword, separator, _ = head.partition(b"\0")
    return keyword if separator else None


def _text(kind: bytes, body: bytes) -> str | None:
    """The text of a chunk, without its keyword; ``None`` if it cannot be decoded."""
    try:
        if kind == b"tEXt":
            return body.decode("latin-1")
        if kind == b"zTXt":
            return _inflate(body[1:]).decode("latin-1")
        compressed = body[0] == 1
        _language, _translated, text = body[2:].split(b"\0", 2)
        return (_inflate(text) if compressed else text).decode("utf-8")
    except (ValueError, IndexError, zlib.error):
        return None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, MAX_TEXT)
    if inflater.unconsumed_tail:
        raise ValueError("text too long")
    return text


def _text_chunk(keyword: bytes, text: str) -> bytes:
    try:
        return _chunk(b"tEXt", keyword + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _itxt_chunk(keyword, text.encode("utf-8"))


def _itxt_chunk(keyword: bytes, utf8: bytes) -> bytes:
    # Uncompressed, no language tag, no translated keyword.
    return _chunk(b"iTXt", keyword + b"\0\0\0\0\0" + utf8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
