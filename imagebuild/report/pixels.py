"""The report's two Pillow operations: a thumbnail, and an amplified pixel difference."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from imagebuild.planning.files import atomic_write

THUMBNAIL_BOX = 320
# A difference of a few levels (re-encoding noise) stays faint; a real change
# saturates. Applied to every band through one lookup table.
_AMPLIFY = [min(255, level * 8) for level in range(256)] * 3


def make_thumbnail(
    source: str | Path, destination: Path, box: int = THUMBNAIL_BOX
) -> tuple[int, int]:
    """A WEBP no larger than ``box`` on either side; returns the original's size."""
    with Image.open(source) as image:
        size = image.size
        image.thumbnail((box, box))  # drafts a JPEG: decodes it at a fraction of its size
        shown: Image.Image = image
        if image.mode not in ("RGB", "RGBA"):
            shown = image.convert("RGBA" if _has_alpha(image) else "RGB")
        _save(shown, destination, format="WEBP", quality=80, method=4)
    return size


def make_difference(old: str | Path, new: str | Path, destination: Path) -> float:
    """|new - old| per channel, amplified, as a PNG at the new image's size
    (the old one is scaled to it when the size changed); returns the share
    of pixels that differ at all."""
    with Image.open(old) as before, Image.open(new) as after:
        after_rgb = after.convert("RGB")
        before_rgb = before.convert("RGB")
        if before_rgb.size != after_rgb.size:
            before_rgb = before_rgb.resize(after_rgb.size, Image.Resampling.BILINEAR)
    difference = ImageChops.difference(before_rgb, after_rgb)
    red, green, blue = difference.split()
    strongest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    unchanged = strongest.histogram()[0]
    _save(difference.point(_AMPLIFY), destination, format="PNG")
    width, height = difference.size
    return 1.0 - unchanged / (width * height)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("LA", "PA") or "transparency" in image.info


def _save(image: Image.Image, destination: Path, format: str, **options: Any) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    atomic_write(destination, buffer.getvalue())
