"""Deterministic offline stand-in for an image-generation model.

The picture is abstract but readable: the seed (and result index) fixes the composition, a soft
background, a glow and a handful of translucent shapes; the prompt fixes the palette, one colour
per meaningful word (CSS colour names keep their meaning), and is printed in a caption band.
So changing the seed moves things around while changing the prompt recolours them, which makes
the effect of a manifest edit visible at a glance. A preview (a render standing in for another
model) carries a red PREVIEW band across its middle.

All randomness comes from SHA-256 of a JSON encoding of the relevant spec fields, never from
``hash()``, time or global state, so a spec renders to the same bytes in every process. Big
images are drawn at a bounded internal resolution and upscaled, and PNG uses the fastest zlib
level, because tests and benchmarks render thousands of images.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import random
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from math import ceil
from typing import NamedTuple

from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageStat

from imagebuild.render.spec import OutputFormat, RenderSpec

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

INTERNAL_MAX_PIXELS = 1024 * 1024
PALETTE_SIZE = 5
STOPWORDS = frozenset({"and", "the", "with", "for", "from", "into", "over", "under", "very"})
REFERENCE_TINT = 0.45
MIN_CAPTION_SIDE = 48
CAPTION_WORDS = 12
CAPTION_COLOUR = (245, 245, 245)
PREVIEW_TEXT = "PREVIEW"
PREVIEW_BAND = (200, 30, 30, 160)
GLOW_SOURCE_SIDE = 64
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")
_WORD = re.compile(r"\w+")


def render(spec: RenderSpec) -> bytes:
    """Render ``spec`` to encoded image bytes of exactly its size and format."""
    seed_image = _decode_seed_image(spec)
    mask = _repaint_mask(spec)
    palette = _palette(spec.prompt, spec.negative_prompt, _reference_means(spec.reference_images))
    image = _generate(spec, palette)
    if seed_image is not None:
        image = _over_seed_image(image, seed_image, mask, spec.strength)
    if spec.preview:
        _mark_preview(image)
    return _encode(image, spec.format, spec.quality)


def _generate(spec: RenderSpec, palette: Sequence[RGB]) -> Image.Image:
    """Paint the composition at the internal resolution, upscale it, then add the caption.

    The caption is drawn at full resolution so text stays sharp on large images.
    """
    rng = _rng("composition", spec.seed, spec.index)
    image = _background(_internal_size(spec.width, spec.height), rng, palette)
    _paint_glow(image, rng, palette)
    _paint_shapes(image, rng, palette)
    if image.size != (spec.width, spec.height):
        image = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    _draw_caption(image, spec.prompt)
    return image


def _rng(domain: str, *fields: object) -> random.Random:
    """A private generator seeded by SHA-256 of the fields, identical in every process."""
    payload = json.dumps([domain, *fields], ensure_ascii=True, separators=(",", ":"))
    digest = hashlib.sha256(payload.encode("ascii")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _internal_size(width: int, height: int) -> tuple[int, int]:
    """Scale down to at most ``INTERNAL_MAX_PIXELS`` keeping the aspect ratio."""
    scale = min(1.0, (INTERNAL_MAX_PIXELS / (width * height)) ** 0.5)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _palette_words(text: str) -> list[str]:
    """Lower-cased words that carry meaning, in order of appearance, without repeats."""
    words = (word.casefold() for word in _WORD.findall(text))
    return list(dict.fromkeys(w for w in words if len(w) >= 3 and w not in STOPWORDS))


def _word_colour(word: str) -> RGB:
    """A CSS colour name keeps its colour; any other word hashes to a fixed, lively colour."""
    if word in ImageColor.colormap:
        red, green, blue = ImageColor.getrgb(word)[:3]
        return red, green, blue
    digest = hashlib.sha256(word.encode("utf-8")).digest()
    hue = digest[0] / 255
    saturation = 0.45 + 0.5 * digest[1] / 255
    value = 0.55 + 0.4 * digest[2] / 255
    return _to_rgb(colorsys.hsv_to_rgb(hue, saturation, value))


@lru_cache(maxsize=1024)
def _palette(
    prompt: str, negative_prompt: str, reference_means: tuple[RGB, ...]
) -> tuple[RGB, ...]:
    """``PALETTE_SIZE`` colours from the prompt's words, minus the negative prompt's words.

    Depends on the word lists rather than the raw prompt, so re-casing or repeating words only
    changes the caption. Missing slots are filled with shades of the words present, and style
    references pull every colour toward their average colour. Cached: a batch of renders
    usually shares one prompt.
    """
    negative = _palette_words(negative_prompt)
    words = [w for w in _palette_words(prompt) if w not in negative][:PALETTE_SIZE]
    rng = _rng("palette", words, negative, [list(mean) for mean in reference_means])
    bases = [_word_colour(w) for w in words] or [_word_colour("")]
    palette = tuple(
        _jitter(bases[i % len(bases)], rng, 0.06 if i < len(bases) else 0.3)
        for i in range(PALETTE_SIZE)
    )
    if not reference_means:
        return palette
    tint = _average(reference_means)
    return tuple(_mix(colour, tint, REFERENCE_TINT) for colour in palette)


def _jitter(colour: RGB, rng: random.Random, amount: float) -> RGB:
    """Shift the brightness by up to ``amount`` and each channel a little, keeping the hue."""
    shift = rng.uniform(-amount, amount) * 255
    return _clamp(tuple(c + shift + rng.uniform(-8, 8) for c in colour))


def _background(size: tuple[int, int], rng: random.Random, palette: Sequence[RGB]) -> Image.Image:
    """A smooth multi-colour wash: a 3x3 grid of shaded palette colours, bicubically enlarged."""
    grid = Image.new("RGB", (3, 3))
    grid.putdata([_shade(rng.choice(palette), rng.uniform(0.35, 1.0)) for _ in range(9)])
    return grid.resize(size, Image.Resampling.BICUBIC)


@lru_cache(maxsize=1)
def _glow_mask() -> Image.Image:
    """A small disc, opaque in the middle and fading to nothing at its rim.

    Kept at 64x64 so that enlarging it costs little more than the pixels it covers.
    """
    disc = Image.radial_gradient("L").point(lambda v: (255 - v) * 3 // 4)
    return disc.resize((GLOW_SOURCE_SIDE, GLOW_SOURCE_SIDE), Image.Resampling.BILINEAR)


def _paint_glow(image: Image.Image, rng: random.Random, palette: Sequence[RGB]) -> None:
    """One large soft light, the focal point a real picture would have."""
    width, height = image.size
    diameter = max(2, round(min(width, height) * rng.uniform(0.5, 1.1)))
    left = round(rng.uniform(0.1, 0.9) * width) - diameter // 2
    top = round(rng.uniform(0.1, 0.6) * height) - diameter // 2
    mask = _glow_mask().resize((diameter, diameter), Image.Resampling.BILINEAR)
    colour = _mix(rng.choice(palette), (255, 255, 255), 0.5)
    image.paste(colour, (left, top, left + diameter, top + diameter), mask)


def _paint_shapes(image: Image.Image, rng: random.Random, palette: Sequence[RGB]) -> None:
    """Translucent ellipses, rounded boxes and polygons placed and sized by the seed."""
    draw = ImageDraw.Draw(image, "RGBA")
    width, height = image.size
    unit = min(width, height)
    for _ in range(rng.randint(5, 9)):
        kind = rng.randrange(3)
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0.1, 1) * height
        rx = rng.uniform(0.06, 0.3) * unit
        ry = rx * rng.uniform(0.5, 1.5)
        fill = (*rng.choice(palette), rng.randint(110, 230))
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rounded_rectangle(box, radius=min(rx, ry) * 0.3, fill=fill)
        else:
            draw.regular_polygon((cx, cy, rx), rng.randint(3, 6), rng.uniform(0, 360), fill=fill)


class _Glyph(NamedTuple):
    """One rasterised character: a band-high mask, with room for ink past the advance."""

    mask: Image.Image
    advance: float
    overhang: int


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    """Pillow's bundled font at ``size``; cached because captions reuse few sizes."""
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=512)
def _glyph(char: str, font_size: int, band: int) -> _Glyph:
    """Rasterise one character, vertically centred on a ``band``-high strip.

    Captions are assembled from cached glyphs because FreeType rendering and measuring cost
    several microseconds per character, more than the rest of a small render together.
    """
    font = _font(font_size)
    advance = font.getlength(char)
    overhang = font_size // 2
    mask = Image.new("L", (ceil(advance) + 2 * overhang, band))
    ImageDraw.Draw(mask).text((overhang, band // 2), char, fill=255, font=font, anchor="lm")
    return _Glyph(mask, advance, overhang)


def _draw_caption(image: Image.Image, prompt: str) -> None:
    """Print the prompt's first words on a dark band along the bottom edge.

    Skipped on images too small for legible text, and words that do not fit are dropped.
    """
    width, height = image.size
    if min(width, height) < MIN_CAPTION_SIDE:
        return
    font_size = max(8, min(width, height) // 24)
    padding = font_size // 2
    band = font_size * 3 // 2 + padding
    text = _fitting_words(prompt.split()[:CAPTION_WORDS], font_size, band, width - 2 * padding)
    if not text:
        return
    ImageDraw.Draw(image, "RGBA").rectangle((0, height - band, width, height), fill=(0, 0, 0, 120))
    _set_text(image, text, padding, height - band, font_size, band)


def _mark_preview(image: Image.Image) -> None:
    """A translucent red band across the middle, saying PREVIEW where it is legible.

    In the middle because derived variants crop toward the centre far more often than toward
    an edge, so their drafts stay marked too.
    """
    width, height = image.size
    font_size = max(8, min(width, height) // 10)
    band = min(height, font_size * 3 // 2)
    top = (height - band) // 2
    ImageDraw.Draw(image, "RGBA").rectangle((0, top, width - 1, top + band - 1), fill=PREVIEW_BAND)
    if min(width, height) < MIN_CAPTION_SIDE:
        return
    text_width = sum(_glyph(char, font_size, band).advance for char in PREVIEW_TEXT)
    if text_width <= width:
        _set_text(image, PREVIEW_TEXT, (width - text_width) / 2, top, font_size, band)


def _set_text(
    image: Image.Image, text: str, left: float, top: int, font_size: int, band: int
) -> None:
    """Paste ``text`` from cached glyphs on a ``band``-high line starting at ``top``."""
    pen = left
    for char in text:
        glyph = _glyph(char, font_size, band)
        image.paste(CAPTION_COLOUR, (round(pen) - glyph.overhang, top), glyph.mask)
        pen += glyph.advance


def _fitting_words(words: list[str], font_size: int, band: int, max_width: int) -> str:
    """The leading ``words`` whose text, set glyph by glyph, fits in ``max_width``."""
    space = _glyph(" ", font_size, band).advance
    fitting: list[str] = []
    used = -space
    for word in words:
        used += space + sum(_glyph(char, font_size, band).advance for char in word)
        if used > max_width:
            break
        fitting.append(word)
    return " ".join(fitting)


def _decode(data: bytes, what: str, mode: str, draft: tuple[int, int]) -> Image.Image:
    """Decode PNG/JPEG/WEBP bytes into ``mode``; ``draft`` lets JPEG decode at reduced scale."""
    try:
        with Image.open(io.BytesIO(data), formats=INPUT_FORMATS) as opened:
            opened.draft(mode, draft)
            return opened.convert(mode)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot decode {what}: {exc}") from exc


def _inner_box(spec: RenderSpec) -> tuple[int, int, int, int]:
    """Where the seed image sits in the output: everything but the outpaint border."""
    top, right, bottom, left = spec.outpaint or (0, 0, 0, 0)
    return left, top, spec.width - right, spec.height - bottom


def _decode_seed_image(spec: RenderSpec) -> Image.Image | None:
    """The seed image at output size; when outpainting, the border is a stretched copy."""
    if spec.seed_image is None:
        return None
    left, top, right, bottom = _inner_box(spec)
    inner = (right - left, bottom - top)
    seed = _decode(spec.seed_image, "seed_image", "RGB", inner)
    placed = seed.resize(inner, Image.Resampling.BILINEAR)
    if spec.outpaint is None:
        return placed
    canvas = seed.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    canvas.paste(placed, (left, top))
    return canvas


def _repaint_mask(spec: RenderSpec) -> Image.Image | None:
    """Where the result may change (white) and where the seed image stays (black).

    An outpaint border is always repainted; a user mask covers the original area.
    """
    if spec.mask_image is None and spec.outpaint is None:
        return None
    left, top, right, bottom = _inner_box(spec)
    inner = (right - left, bottom - top)
    if spec.mask_image is None:
        inner_mask = Image.new("L", inner, 0)
    else:
        decoded = _decode(spec.mask_image, "mask_image", "L", inner)
        inner_mask = decoded.resize(inner, Image.Resampling.BILINEAR)
    if spec.outpaint is None:
        return inner_mask
    mask = Image.new("L", (spec.width, spec.height), 255)
    mask.paste(inner_mask, (left, top))
    return mask


def _over_seed_image(
    generated: Image.Image, seed: Image.Image, mask: Image.Image | None, strength: float
) -> Image.Image:
    """Blend toward the generated picture by ``strength``, then keep the seed where masked."""
    blended = Image.blend(seed, generated, strength)
    return blended if mask is None else Image.composite(blended, seed, mask)


def _reference_means(references: Sequence[bytes]) -> tuple[RGB, ...]:
    """The average colour of each style reference image."""
    return tuple(
        _clamp(ImageStat.Stat(_decode(data, "reference image", "RGB", (64, 64))).mean)
        for data in references
    )


def _encode(image: Image.Image, fmt: OutputFormat, quality: int) -> bytes:
    """Encode with the fastest settings that still honour ``quality``.

    For PNG, zlib's run-length strategy at level 1 is both faster and smaller than the default
    on these smooth, filtered pictures.
    """
    buffer = io.BytesIO()
    if fmt is OutputFormat.PNG:
        image.save(buffer, "PNG", compress_level=1, compress_type=zlib.Z_RLE)
    elif fmt is OutputFormat.JPG:
        image.save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, "WEBP", quality=quality, method=0)
    return buffer.getvalue()


def _average(colours: Sequence[RGB]) -> RGB:
    """Channel-wise mean of several colours."""
    return _clamp(tuple(sum(channel) / len(colours) for channel in zip(*colours, strict=True)))


def _mix(colour: RGB, other: RGB, amount: float) -> RGB:
    """Move ``colour`` toward ``other`` by ``amount`` (0 keeps it, 1 replaces it)."""
    return _clamp(tuple(c + (o - c) * amount for c, o in zip(colour, other, strict=True)))


def _shade(colour: RGB, factor: float) -> RGB:
    """Darken by ``factor`` (1 keeps the colour)."""
    return _clamp(tuple(c * factor for c in colour))


def _to_rgb(unit: tuple[float, float, float]) -> RGB:
    """Convert a colorsys 0..1 triple to 0..255 channels."""
    return _clamp(tuple(c * 255 for c in unit))


def _clamp(channels: Sequence[float]) -> RGB:
    """Round three channels into the 0..255 range."""
    red, green, blue = (min(255, max(0, round(c))) for c in channels[:3])
    return red, green, blue
