"""The transform operations of derived targets, applied with Pillow.

A chain decodes the upstream image once (upright: the EXIF orientation is applied, then every
piece of metadata but the ICC colour profile is dropped), works in RGBA, and encodes once at the
end, so no step pays for an intermediate encode. Same inputs give the same bytes: encoder
settings are fixed and nothing depends on time, threads or the machine's fonts.

Shared conventions
    gravity   center, north, south, east, west, northeast, northwest, southeast, southwest.
    x, y      pixel offsets from the gravity's position, inward from the anchored edges as in
              ImageMagick (``southeast`` with ``x: 10`` moves left); on a centred axis
              positive moves right/down. Negative values are allowed.
    colours   ``#rgb``, ``#rgba``, ``#rrggbb``, ``#rrggbbaa``, a CSS colour name, or
              ``transparent``.
    sizes     integer pixels.

Operations (each step is ``- NAME: {PARAMETERS}``)
    resize    width, height (either or both), fit, gravity, background, enlarge.
              Lanczos resampling. With one side the other follows the aspect ratio and fit does
              not matter. With both, ``fit`` says how the image meets the box:
              ``inside`` (default: largest size inside the box, aspect kept, nothing cut or
              added), ``outside`` (smallest size covering the box, nothing cut), ``cover``
              (exactly the box: covers it and cuts the overflow, keeping the ``gravity`` side),
              ``contain`` (exactly the box: fits inside, placed by ``gravity`` on ``background``,
              default transparent, which a JPG output flattens to white), ``exact`` (stretched).
              ``enlarge: false`` never scales up (the output may then be smaller than the box).
    crop      either ``box: [left, top, right, bottom]`` (right and bottom exclusive), or
              ``width`` and/or ``height`` (a missing side keeps the image's) placed by
              ``gravity`` (default center) and ``x``/``y``. A region outside the image is an
              error, never silently clipped.
    pad       alias ``extend``. Either sides ``top``, ``right``, ``bottom``, ``left`` (default 0),
              or a target ``width`` and/or ``height`` (at least the image's) with the image
              placed by ``gravity`` (default center). ``color`` fills the new area (default
              transparent; a JPG output flattens it to white).
    format    type (PNG, JPG, JPEG, WEBP, AVIF; default: the output suffix's), quality 1..100
              (JPG 90, WEBP 85, AVIF 70 by default), lossless (WEBP), progressive (JPG),
              background (flatten transparency onto this colour; JPG always flattens, onto white
              by default). At most one format step; wherever it stands, it describes the final
              encode. JPG at quality 90 or more keeps full colour resolution (4:4:4, as
              ImageMagick does), below that 4:2:0. AVIF needs a Pillow built with libavif.
    composite a layer drawn over the image, either ``image`` (a path or ``{target: NAME}``; the
              caller supplies its bytes) or ``text``. Placed by ``gravity`` (default center),
              ``margin`` (inset from the anchored edges, default 0) and ``x``/``y``; a layer
              reaching past the image is clipped. ``opacity`` 0..1 (default 1).
              Image layers: ``width`` and/or ``height`` scale the layer, aspect kept (both: fit
              inside that box).
              Text layers: ``size`` (pixels, default 1/20 of the image's shorter side),
              ``color`` (default black), ``background`` (a box behind the text), ``padding``
              (inside the box; default a quarter of ``size`` with a background, else 0),
              ``align`` (left, center, right; default follows the gravity's side), ``font``
              (a .ttf/.otf path relative to the manifest's folder; default Pillow's built-in
              font), ``width`` (the box width; default hugs the text). Text wraps at word
              boundaries to fit the box width, or the image width minus the margins; explicit
              newlines are kept. Glyphs are laid out without complex-script shaping, so that
              the result does not depend on which optional libraries a machine has.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import (
    Image,
    ImageColor,
    ImageDraw,
    ImageFont,
    ImageOps,
    UnidentifiedImageError,
    features,
)

from imagebuild.derive import Encoding, LayerKey, TransformError
from imagebuild.errors import unknown_name

RGBA = tuple[int, int, int, int]
Size = tuple[int, int]
Fail = Callable[[str], TransformError]

LANCZOS = Image.Resampling.LANCZOS
DECODABLE = ("PNG", "JPEG", "WEBP", "AVIF", "GIF")
TRANSPARENT: RGBA = (0, 0, 0, 0)
WHITE: RGBA = (255, 255, 255, 255)
BLACK: RGBA = (0, 0, 0, 255)

# gravity -> (horizontal side, vertical side): -1 start (west/north), 0 centre, 1 end.
GRAVITY_SIDES: dict[str, tuple[int, int]] = {
    "center": (0, 0),
    "north": (0, -1),
    "south": (0, 1),
    "west": (-1, 0),
    "east": (1, 0),
    "northwest": (-1, -1),
    "northeast": (1, -1),
    "southwest": (-1, 1),
    "southeast": (1, 1),
}
ALIGN_BY_SIDE = {-1: "left", 0: "center", 1: "right"}
ALIGN_SHARE = {"left": 0.0, "center": 0.5, "right": 1.0}
CROP_REGION = ("width", "height", "gravity", "x", "y")
PAD_SIDES = ("top", "right", "bottom", "left")
PAD_SIZE = ("width", "height", "gravity")
TEXT_ONLY = ("size", "color", "background", "padding", "align", "font")
IMAGE_ONLY = ("height",)

TEXT_SIZE_SHARE = 1 / 20  # of the image's shorter side
LINE_SPACING = 0.2  # of the text size
BOX_PADDING = 0.25  # of the text size

PILLOW_FORMATS = {"PNG": "PNG", "JPG": "JPEG", "WEBP": "WEBP", "AVIF": "AVIF"}
PNG_COMPRESS_LEVEL = 6
WEBP_METHOD = 4
AVIF_SPEED = 6
FULL_CHROMA_QUALITY = 90


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a chain, with what its operation may need and how to report its errors."""

    index: int
    name: str
    args: Mapping[str, Any]
    layers: Mapping[LayerKey, bytes]
    fonts_dir: Path | None

    def fail(self, message: str, field: str | None = None) -> TransformError:
        return TransformError(f"{self.name}: {message}", self.index, field)

    def integer(self, field: str, default: int, minimum: int | None = None) -> int:
        value = int(self.args.get(field, default))
        if minimum is not None and value < minimum:
            raise self.fail(f"{field} must be at least {minimum}, got {value}", field)
        return value

    def optional_integer(self, field: str, minimum: int = 1) -> int | None:
        return self.integer(field, 0, minimum) if field in self.args else None

    def gravity(self) -> tuple[int, int]:
        name = str(self.args.get("gravity", "center"))
        if name not in GRAVITY_SIDES:
            raise self.fail(unknown_name("gravity", name, GRAVITY_SIDES), "gravity")
        return GRAVITY_SIDES[name]

    def offset(self) -> tuple[int, int]:
        return self.integer("x", 0), self.integer("y", 0)

    def colour(self, field: str, default: RGBA) -> RGBA:
        value = self.args.get(field)
        return default if value is None else _colour(str(value), lambda m: self.fail(m, field))

    def exclusive(self, first: Sequence[str], second: Sequence[str]) -> None:
        """Two ways of saying the same thing may not be mixed: neither would silently win."""
        given = [field for field in second if field in self.args]
        if given and any(field in self.args for field in first):
            raise self.fail(f"give either {' / '.join(first)} or {' / '.join(second)}", given[0])

    def refuse(self, fields: Sequence[str], why: str) -> None:
        """Reject parameters that mean nothing here, rather than ignore a likely mistake."""
        for field in fields:
            if field in self.args:
                raise self.fail(f"{field} {why}", field)


Operation = Callable[[Image.Image, Step], Image.Image]


def run_chain(
    source: bytes,
    transforms: Sequence[Mapping[str, Any]],
    encoding: Encoding,
    layers: Mapping[LayerKey, bytes],
    fonts_dir: Path | None,
) -> bytes:
    """Decode ``source``, apply every step in order, encode as ``encoding`` says."""
    image, icc_profile = _decode(
        source,
        lambda reason: TransformError(f"the upstream image cannot be decoded: {reason}", None),
    )
    for index, item in enumerate(transforms):
        ((name, args),) = item.items()
        operation = OPERATIONS.get(name)
        if operation is None:
            raise TransformError(unknown_name("transform", name, OPERATIONS), index)
        if not isinstance(args, Mapping):
            raise TransformError(f"{name}: expected a mapping of parameters", index)
        image = operation(image, Step(index, name, args, layers, fonts_dir))
    return _encode(image, encoding, icc_profile)


# --- resize ----------------------------------------------------------------------------------


def resize(image: Image.Image, step: Step) -> Image.Image:
    """Scale to a box; ``fit`` decides between keeping everything, filling it, or stretching."""
    width, height = step.optional_integer("width"), step.optional_integer("height")
    enlarge = bool(step.args.get("enlarge", True))
    if width is not None and height is not None:
        fit = str(step.args.get("fit", "inside"))
        if fit not in FITS:
            raise step.fail(unknown_name("fit", fit, FITS), "fit")
        return FITS[fit](image, (width, height), step, enlarge)
    scale = _scale_to(image.size, width, height)
    if scale is None:
        raise step.fail("give width, height or both", None)
    return _scaled(image, _capped(scale, enlarge))


def _fit_inside(image: Image.Image, box: Size, step: Step, enlarge: bool) -> Image.Image:
    return _scaled(image, _capped(min(_scales(image.size, box)), enlarge))


def _fit_outside(image: Image.Image, box: Size, step: Step, enlarge: bool) -> Image.Image:
    return _scaled(image, _capped(max(_scales(image.size, box)), enlarge))


def _fit_exact(image: Image.Image, box: Size, step: Step, enlarge: bool) -> Image.Image:
    size = box if enlarge else (min(box[0], image.width), min(box[1], image.height))
    return image if size == image.size else image.resize(size, LANCZOS)


def _fit_cover(image: Image.Image, box: Size, step: Step, enlarge: bool) -> Image.Image:
    """Resample only the kept region, straight to the box: one pass, sub-pixel exact."""
    scale = _capped(max(_scales(image.size, box)), enlarge)
    size = (min(box[0], _side(image.width, scale)), min(box[1], _side(image.height, scale)))
    region = (min(image.width, size[0] / scale), min(image.height, size[1] / scale))
    h_side, v_side = step.gravity()
    left = (image.width - region[0]) * (h_side + 1) / 2
    top = (image.height - region[1]) * (v_side + 1) / 2
    return image.resize(size, LANCZOS, box=(left, top, left + region[0], top + region[1]))


def _fit_contain(image: Image.Image, box: Size, step: Step, enlarge: bool) -> Image.Image:
    inner = _scaled(image, _capped(min(_scales(image.size, box)), enlarge))
    canvas = Image.new("RGBA", box, step.colour("background", TRANSPARENT))
    canvas.alpha_composite(inner, _anchor(box, inner.size, step.gravity()))
    return canvas


FITS: dict[str, Callable[[Image.Image, Size, Step, bool], Image.Image]] = {
    "inside": _fit_inside,
    "outside": _fit_outside,
    "cover": _fit_cover,
    "contain": _fit_contain,
    "exact": _fit_exact,
}


# --- crop ------------------------------------------------------------------------------------


def crop(image: Image.Image, step: Step) -> Image.Image:
    """Cut a region that must lie inside the image: clipping would hide a wrong size."""
    step.exclusive(("box",), CROP_REGION)
    if "box" in step.args:
        return _crop_box(image, step)
    width = step.integer("width", image.width, minimum=1)
    height = step.integer("height", image.height, minimum=1)
    for field, wanted, actual in (("width", width, image.width), ("height", height, image.height)):
        if wanted > actual:
            raise step.fail(f"{field} {wanted} exceeds the image {field} {actual}", field)
    offset = step.offset()
    left, top = _anchor(image.size, (width, height), step.gravity(), offset)
    for axis, start, span, actual in (
        (0, left, width, image.width),
        (1, top, height, image.height),
    ):
        if not 0 <= start <= actual - span:
            raise step.fail(
                f"{'xy'[axis]} {offset[axis]} moves the {width}x{height} region outside the "
                f"{image.width}x{image.height} image",
                "xy"[axis],
            )
    return image.crop((left, top, left + width, top + height))


def _crop_box(image: Image.Image, step: Step) -> Image.Image:
    left, top, right, bottom = (int(value) for value in step.args["box"])
    if right <= left or bottom <= top:
        raise step.fail(
            f"box {[left, top, right, bottom]} is empty: right must exceed left, bottom top", "box"
        )
    if left < 0 or top < 0 or right > image.width or bottom > image.height:
        raise step.fail(
            f"box {[left, top, right, bottom]} exceeds the {image.width}x{image.height} image",
            "box",
        )
    return image.crop((left, top, right, bottom))


# --- pad -------------------------------------------------------------------------------------


def pad(image: Image.Image, step: Step) -> Image.Image:
    """Add canvas around the image, by sides or up to a size."""
    step.exclusive(PAD_SIDES, PAD_SIZE)
    if any(field in step.args for field in ("width", "height")):
        size = _padded_size(image, step)
        dest = _anchor(size, image.size, step.gravity())
    else:
        top, right, bottom, left = (step.integer(field, 0, minimum=0) for field in PAD_SIDES)
        size = (image.width + left + right, image.height + top + bottom)
        dest = (left, top)
    canvas = Image.new("RGBA", size, step.colour("color", TRANSPARENT))
    canvas.alpha_composite(image, dest)
    return canvas


def _padded_size(image: Image.Image, step: Step) -> Size:
    width, height = step.integer("width", image.width), step.integer("height", image.height)
    for field, wanted, actual in (("width", width, image.width), ("height", height, image.height)):
        if wanted < actual:
            raise step.fail(
                f"{field} {wanted} is smaller than the image {field} {actual}; "
                "crop or resize first",
                field,
            )
    return width, height


# --- composite -------------------------------------------------------------------------------


def composite(image: Image.Image, step: Step) -> Image.Image:
    """Draw an image or text layer over the image, clipped to it."""
    step.exclusive(("image",), ("text",))
    if "image" in step.args:
        step.refuse(TEXT_ONLY, "applies to text layers only")
        layer = _image_layer(step)
    elif "text" in step.args:
        step.refuse(IMAGE_ONLY, "applies to image layers only; text is sized by size and width")
        layer = _text_layer(step, image.size)
    else:
        raise step.fail("give image or text", None)
    opacity = float(step.args.get("opacity", 1.0))
    if not 0 <= opacity <= 1:
        raise step.fail(f"opacity must be between 0 and 1, got {opacity}", "opacity")
    margin = step.integer("margin", 0, minimum=0)
    dest = _anchor(image.size, layer.size, step.gravity(), step.offset(), margin)
    layer = _faded(layer, opacity)
    overlay = Image.new("RGBA", image.size, TRANSPARENT)
    overlay.paste(layer, dest)
    return Image.alpha_composite(image, overlay)


def _image_layer(step: Step) -> Image.Image:
    data = step.layers.get((step.index, "image"))
    if data is None:
        raise step.fail("no bytes were supplied for this image layer", "image")
    layer, _ = _decode(
        data, lambda reason: step.fail(f"the layer cannot be decoded: {reason}", "image")
    )
    scale = _scale_to(layer.size, step.optional_integer("width"), step.optional_integer("height"))
    return layer if scale is None else _scaled(layer, scale)


def _text_layer(step: Step, canvas: Size) -> Image.Image:
    """Wrapped text, drawn as coverage and tinted afterwards so edges blend without fringes."""
    text = str(step.args["text"])
    if not text.strip():
        raise step.fail("text is empty", "text")
    size = step.integer("size", max(1, round(min(canvas) * TEXT_SIZE_SHARE)), minimum=1)
    font = _font(step, size)
    default_padding = round(size * BOX_PADDING) if "background" in step.args else 0
    padding = step.integer("padding", default_padding, minimum=0)
    box_width = step.optional_integer("width")
    outer = canvas[0] - 2 * step.integer("margin", 0) if box_width is None else box_width
    if outer - 2 * padding < 1:
        field = "margin" if box_width is None else "width"
        raise step.fail("no room for text inside the margins and padding", field)
    lines = _wrap(text, font, outer - 2 * padding)
    mask = _text_mask(lines, font, padding, box_width, _align(step))
    return _tinted(mask, step.colour("color", BLACK), step.colour("background", TRANSPARENT))


def _text_mask(
    lines: list[str], font: ImageFont.FreeTypeFont, padding: int, box_width: int | None, align: str
) -> Image.Image:
    """Glyph coverage of the lines in a box that hugs them, or spans ``box_width``."""
    widths = [font.getlength(line) for line in lines]
    ascent, descent = font.getmetrics()
    spacing = round(font.size * LINE_SPACING)
    inner = box_width - 2 * padding if box_width is not None else math.ceil(max(widths))
    height = len(lines) * (ascent + descent) + (len(lines) - 1) * spacing
    mask = Image.new("L", (inner + 2 * padding, height + 2 * padding), 0)
    draw = ImageDraw.Draw(mask)
    for number, (line, width) in enumerate(zip(lines, widths, strict=True)):
        left = padding + round((inner - width) * ALIGN_SHARE[align])
        top = padding + number * (ascent + descent + spacing)
        draw.text((left, top), line, fill=255, font=font, anchor="la")
    return mask


def _align(step: Step) -> str:
    align = str(step.args.get("align", ALIGN_BY_SIDE[step.gravity()[0]]))
    if align not in ALIGN_SHARE:
        raise step.fail(unknown_name("align", align, ALIGN_SHARE), "align")
    return align


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap per paragraph; the user's own line breaks stay."""
    return [
        line
        for paragraph in text.splitlines()
        for line in (_wrap_words(paragraph.split(), font, width) or [""])
    ]


def _wrap_words(words: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        *whole, current = _break_word(word, font, width)
        lines.extend(whole)
    if current:
        lines.append(current)
    return lines


def _break_word(word: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """A word wider than a line (a URL, a long compound) is cut between characters."""
    pieces: list[str] = []
    current = ""
    for char in word:
        if current and font.getlength(current + char) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    return [*pieces, current]


def _font(step: Step, size: int) -> ImageFont.FreeTypeFont:
    name = step.args.get("font")
    try:
        if name is None:
            return _default_font(size)
        return _load_font(str((step.fonts_dir or Path()) / str(name)), size)
    except OSError as error:
        raise step.fail(f"cannot load font {name or '(default)'!r}: {error}", "font") from None


@lru_cache(maxsize=64)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Basic layout: raqm's shaping depends on optional system libraries, bytes must not."""
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=64)
def _default_font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise OSError("this Pillow has no FreeType support, so text cannot be sized")
    return font


def _tinted(mask: Image.Image, colour: RGBA, background: RGBA) -> Image.Image:
    ink = Image.new("RGBA", mask.size, (*colour[:3], 0))
    ink.putalpha(mask.point([round(value * colour[3] / 255) for value in range(256)]))
    layer = Image.new("RGBA", mask.size, background)
    layer.alpha_composite(ink)
    return layer


def _faded(layer: Image.Image, opacity: float) -> Image.Image:
    if opacity >= 1:
        return layer
    faded = layer.copy()
    faded.putalpha(layer.getchannel("A").point([round(a * opacity) for a in range(256)]))
    return faded


def keep(image: Image.Image, step: Step) -> Image.Image:
    """``format`` changes no pixels: it is read once, by the encoder, at the end."""
    return image


OPERATIONS: dict[str, Operation] = {
    "resize": resize,
    "crop": crop,
    "pad": pad,
    "extend": pad,
    "composite": composite,
    "format": keep,
}


# --- geometry --------------------------------------------------------------------------------


def _anchor(
    outer: Size,
    inner: Size,
    sides: tuple[int, int],
    offset: tuple[int, int] = (0, 0),
    margin: int = 0,
) -> tuple[int, int]:
    """Top-left corner of ``inner`` placed in ``outer`` by gravity sides, margin and offset."""
    return (
        _axis(outer[0], inner[0], sides[0], offset[0], margin),
        _axis(outer[1], inner[1], sides[1], offset[1], margin),
    )


def _axis(outer: int, inner: int, side: int, offset: int, margin: int) -> int:
    if side < 0:
        return margin + offset
    if side > 0:
        return outer - inner - margin - offset
    return (outer - inner) // 2 + offset


def _scales(size: Size, box: Size) -> tuple[float, float]:
    return box[0] / size[0], box[1] / size[1]


def _scale_to(size: Size, width: int | None, height: int | None) -> float | None:
    """The scale that fits the given sides, aspect kept; ``None`` when neither is given."""
    scales = [
        wanted / actual
        for wanted, actual in ((width, size[0]), (height, size[1]))
        if wanted is not None
    ]
    return min(scales) if scales else None


def _capped(scale: float, enlarge: bool) -> float:
    return scale if enlarge else min(scale, 1.0)


def _side(length: int, scale: float) -> int:
    return max(1, round(length * scale))


def _scaled(image: Image.Image, scale: float) -> Image.Image:
    size = (_side(image.width, scale), _side(image.height, scale))
    return image if size == image.size else image.resize(size, LANCZOS)


# --- colours, decoding, encoding -------------------------------------------------------------


def _colour(value: str, fail: Fail) -> RGBA:
    if value.strip().lower() == "transparent":
        return TRANSPARENT
    try:
        channels = ImageColor.getrgb(value)
    except ValueError:
        raise fail(
            f"unknown colour {value!r} (use #rgb, #rgba, #rrggbb, #rrggbbaa or a CSS colour name)"
        ) from None
    red, green, blue, *alpha = channels
    return red, green, blue, alpha[0] if alpha else 255


def _decode(data: bytes, fail: Fail) -> tuple[Image.Image, bytes | None]:
    """RGBA pixels, upright, without metadata; the ICC profile is returned to be kept."""
    try:
        with Image.open(io.BytesIO(data), formats=DECODABLE) as opened:
            opened.load()
            ImageOps.exif_transpose(opened, in_place=True)
            icc_profile = opened.info.get("icc_profile")
            image = opened.convert("RGBA")
    except UnidentifiedImageError:
        raise fail(f"not a {', '.join(DECODABLE)} image") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise fail(str(error)) from None
    image.info = {}
    return image, icc_profile if isinstance(icc_profile, bytes) and icc_profile else None


def _encode(image: Image.Image, encoding: Encoding, icc_profile: bytes | None) -> bytes:
    if encoding.format == "AVIF" and "avif" not in features.get_supported_modules():
        raise TransformError(
            "format: this Pillow was built without AVIF support; use WEBP, or install a "
            "Pillow built with libavif",
            encoding.step,
            "type",
        )
    image = _flattened(image, encoding)
    if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        image = image.convert("RGB")
    options = _encoder_options(encoding)
    if icc_profile is not None:
        options["icc_profile"] = icc_profile
    buffer = io.BytesIO()
    try:
        image.save(buffer, PILLOW_FORMATS[encoding.format], **options)
    except (OSError, ValueError) as error:
        raise TransformError(
            f"cannot encode the {image.width}x{image.height} result as {encoding.format}: {error}",
            encoding.step,
        ) from None
    return buffer.getvalue()


def _flattened(image: Image.Image, encoding: Encoding) -> Image.Image:
    """JPG has no alpha; other formats flatten only when the format step names a background."""
    if encoding.format != "JPG" and encoding.background is None:
        return image
    colour = WHITE
    if encoding.background is not None:
        colour = _colour(
            encoding.background,
            lambda message: TransformError(f"format: {message}", encoding.step, "background"),
        )
    flat = Image.new("RGBA", image.size, colour)
    flat.alpha_composite(image)
    return flat.convert("RGB") if encoding.format == "JPG" else flat


def _encoder_options(encoding: Encoding) -> dict[str, Any]:
    """Fixed settings per format, so the same pixels always encode to the same bytes."""
    quality = encoding.quality
    match encoding.format:
        case "JPG":
            assert quality is not None
            subsampling = "4:4:4" if quality >= FULL_CHROMA_QUALITY else "4:2:0"
            return {
                "quality": quality,
                "optimize": True,
                "progressive": encoding.progressive,
                "subsampling": subsampling,
            }
        case "WEBP":
            return {"quality": quality, "lossless": encoding.lossless, "method": WEBP_METHOD}
        case "AVIF":
            return {"quality": quality, "speed": AVIF_SPEED, "max_threads": 1}
    return {"compress_level": PNG_COMPRESS_LEVEL}
