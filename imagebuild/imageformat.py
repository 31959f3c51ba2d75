"""Which image format some bytes are, from their first bytes alone, and input
images in a format the image APIs take.

Sniffing needs no Pillow; converting imports it, for the rare input that needs it.
"""

from __future__ import annotations

import io

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


# What image request fields take, in seed 004's words: "PNG, JPG and WEBP".
API_INPUT_FORMATS = frozenset({"PNG", "JPG", "WEBP"})
_CONVERTED = frozenset({"BMP", "GIF"})


def api_input(data: bytes) -> bytes:
    """``data`` as an image API takes it: BMP and GIF (its first frame) become
    PNG, with their transparency; the API formats are returned as they are.
    Raises ``ValueError`` for anything else, or a file that does not decode."""
    found = sniff_format(data[:HEADER_BYTES])
    if found in API_INPUT_FORMATS:
        return data
    if found not in _CONVERTED:
        raise ValueError("not a PNG, JPEG, WEBP, BMP or GIF image")
    from PIL import Image

    buffer = io.BytesIO()
    try:
        with Image.open(io.BytesIO(data), formats=tuple(_CONVERTED)) as image:
            image.save(buffer, "PNG")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise ValueError(f"a {found} image that does not decode") from None
    return buffer.getvalue()
