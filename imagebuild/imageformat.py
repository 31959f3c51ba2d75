"""Which image format some bytes are, from their first bytes alone (no Pillow)."""

from __future__ import annotations

# What the header says, in the names imagebuild uses for output formats.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
HEADER_BYTES = 16


def sniff_format(head: bytes) -> str | None:
    """The format of an image starting with ``head`` (16 bytes suffice), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)
