"""Derived-target transforms, checked on decoded pixels of real images made here."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema_rs
import pytest
import yaml
from jsonschema import Draft202012Validator
from PIL import Image, ImageChops, features

from imagebuild.derive import (
    TransformError,
    apply_transforms,
    layer_inputs,
    output_format_of,
)
from imagebuild.derive.transforms import OPERATIONS
from imagebuild.registry.models import SCHEMAS

SCHEMA_PATH = SCHEMAS / "transforms.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
RED: RGB = (255, 0, 0)
CELL = 100
# A 3x3 grid whose cells are named by the gravity that points at them.
GRID_COLOURS: dict[str, RGB] = {
    "northwest": (255, 0, 0),
    "north": (0, 255, 0),
    "northeast": (0, 0, 255),
    "west": (255, 255, 0),
    "center": (0, 255, 255),
    "east": (255, 0, 255),
    "southwest": (128, 0, 0),
    "south": (0, 128, 0),
    "southeast": (0, 0, 128),
}
GRID_LAYOUT = (
    ("northwest", "north", "northeast"),
    ("west", "center", "east"),
    ("southwest", "south", "southeast"),
)

EXAMPLE = """
- resize: {width: 1080, height: 1080, fit: cover}
- crop: {width: 800, height: 600, gravity: center}
- pad: {top: 20, bottom: 20, color: "#ffffff"}
- format: {type: WEBP, quality: 80}
- composite: {image: logo.png, gravity: southeast, margin: 24, width: 200, opacity: 0.9}
- composite: {text: "© 2026 Acme. Terms apply.", gravity: south, size: 28, color: "#ffffff", background: "#00000080", margin: 16}
"""


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def solid(size: tuple[int, int], colour: tuple[int, ...], mode: str = "RGB") -> bytes:
    return encode(Image.new(mode, size, colour))


def grid() -> bytes:
    image = Image.new("RGB", (3 * CELL, 3 * CELL))
    for row, names in enumerate(GRID_LAYOUT):
        for column, name in enumerate(names):
            box = (column * CELL, row * CELL, (column + 1) * CELL, (row + 1) * CELL)
            image.paste(GRID_COLOURS[name], box)
    return encode(image)


def noisy(size: tuple[int, int] = (160, 120)) -> bytes:
    """Detail that lossy encoders must spend bytes on."""
    rng = random.Random(7)
    return encode(Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)))


def run(
    transforms: Sequence[Mapping[str, Any]],
    source: bytes | None = None,
    default_format: str = "PNG",
    layers: Mapping[tuple[int, str], bytes] | None = None,
) -> Image.Image:
    data = apply_transforms(
        grid() if source is None else source,
        transforms,
        default_format=default_format,
        layers=layers or {},
    )
    return decode(data)


def rgb_at(image: Image.Image, xy: tuple[int, int]) -> RGB:
    red, green, blue = image.convert("RGB").getpixel(xy)  # type: ignore[misc]
    return red, green, blue


def close(actual: Sequence[int], expected: Sequence[int], tolerance: int = 6) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def single_colour(image: Image.Image) -> RGB:
    colours = image.convert("RGB").getcolors()
    assert colours is not None and len(colours) == 1, colours
    red, green, blue = colours[0][1]  # type: ignore[misc]
    return red, green, blue


def error_of(transforms: Sequence[Mapping[str, Any]], **kwargs: Any) -> TransformError:
    with pytest.raises(TransformError) as caught:
        run(transforms, **kwargs)
    return caught.value


# --- resize ----------------------------------------------------------------------------------


def test_resize_one_side_keeps_the_aspect_ratio() -> None:
    wide = solid((300, 150), RED)
    assert run([{"resize": {"width": 100}}], wide).size == (100, 50)
    assert run([{"resize": {"height": 30}}], wide).size == (60, 30)


@pytest.mark.parametrize(
    ("fit", "size"),
    [
        ("inside", (100, 50)),
        ("outside", (200, 100)),
        ("cover", (100, 100)),
        ("contain", (100, 100)),
        ("exact", (100, 100)),
    ],
)
def test_resize_fit_sizes(fit: str, size: tuple[int, int]) -> None:
    resized = run([{"resize": {"width": 100, "height": 100, "fit": fit}}], solid((300, 150), RED))
    assert resized.size == size


def test_resize_default_fit_is_inside() -> None:
    assert run([{"resize": {"width": 100, "height": 100}}], solid((300, 150), RED)).size == (
        100,
        50,
    )


@pytest.mark.parametrize(
    ("box", "gravity", "kept"),
    [
        ((150, 50), "north", GRID_LAYOUT[0]),
        ((150, 50), "center", GRID_LAYOUT[1]),
        ((150, 50), "south", GRID_LAYOUT[2]),
        ((50, 150), "west", tuple(row[0] for row in GRID_LAYOUT)),
        ((50, 150), "east", tuple(row[2] for row in GRID_LAYOUT)),
    ],
)
def test_resize_cover_keeps_the_gravity_side(
    box: tuple[int, int], gravity: str, kept: tuple[str, ...]
) -> None:
    width, height = box
    covered = run(
        [{"resize": {"width": width, "height": height, "fit": "cover", "gravity": gravity}}]
    )
    assert covered.size == box
    for position, name in enumerate(kept):
        # cells are 50 px after halving the 300 px grid; sample each cell's centre
        xy = (25 + 50 * position, 25) if width > height else (25, 25 + 50 * position)
        assert close(rgb_at(covered, xy), GRID_COLOURS[name]), (name, rgb_at(covered, xy))


def test_resize_contain_pads_with_the_background() -> None:
    contained = run(
        [{"resize": {"width": 100, "height": 100, "fit": "contain", "background": "#00ff00"}}],
        solid((300, 150), RED),
    )
    assert contained.mode == "RGB"
    assert rgb_at(contained, (50, 5)) == (0, 255, 0)
    assert rgb_at(contained, (50, 95)) == (0, 255, 0)
    assert close(rgb_at(contained, (50, 50)), RED)


def test_resize_contain_gravity_places_the_image() -> None:
    contained = run(
        [{"resize": {"width": 100, "height": 100, "fit": "contain", "gravity": "north"}}],
        solid((300, 150), RED),
    )
    assert contained.getpixel((50, 10)) == (255, 0, 0, 255)
    assert contained.getpixel((50, 90)) == (0, 0, 0, 0)


def test_resize_contain_padding_is_transparent_for_png_and_white_for_jpg() -> None:
    step = {"resize": {"width": 100, "height": 100, "fit": "contain"}}
    png = run([step], solid((300, 150), RED))
    assert png.mode == "RGBA" and png.getpixel((50, 5)) == (0, 0, 0, 0)
    jpg = run([step], solid((300, 150), RED), default_format="JPG")
    assert jpg.format == "JPEG" and close(rgb_at(jpg, (50, 5)), WHITE)


def test_resize_without_enlarge_never_scales_up() -> None:
    small = solid((100, 50), RED)
    assert run([{"resize": {"width": 400, "enlarge": False}}], small).size == (100, 50)
    kept = run([{"resize": {"width": 400, "height": 400, "fit": "exact", "enlarge": False}}], small)
    assert kept.size == (100, 50)
    assert run([{"resize": {"width": 50, "enlarge": False}}], small).size == (50, 25)


# --- crop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gravity", list(GRID_COLOURS))
def test_crop_gravity_keeps_that_cell(gravity: str) -> None:
    cropped = run([{"crop": {"width": CELL, "height": CELL, "gravity": gravity}}])
    assert cropped.size == (CELL, CELL)
    assert single_colour(cropped) == GRID_COLOURS[gravity]


@pytest.mark.parametrize(
    ("gravity", "x", "y", "cell"),
    [
        ("northwest", 100, 0, "north"),
        ("southeast", 100, 0, "south"),
        ("southeast", 0, 100, "east"),
        ("center", 100, 0, "east"),
        ("center", -100, -100, "northwest"),
    ],
)
def test_crop_offsets_move_inward_from_the_gravity_edge(
    gravity: str, x: int, y: int, cell: str
) -> None:
    cropped = run([{"crop": {"width": CELL, "height": CELL, "gravity": gravity, "x": x, "y": y}}])
    assert single_colour(cropped) == GRID_COLOURS[cell]


def test_crop_box() -> None:
    cropped = run([{"crop": {"box": [100, 0, 300, 100]}}])
    assert cropped.size == (200, 100)
    assert rgb_at(cropped, (50, 50)) == GRID_COLOURS["north"]
    assert rgb_at(cropped, (150, 50)) == GRID_COLOURS["northeast"]


def test_crop_one_side_keeps_the_other() -> None:
    column = run([{"crop": {"width": CELL, "gravity": "east"}}])
    assert column.size == (CELL, 3 * CELL)
    assert [rgb_at(column, (50, 50 + CELL * row)) for row in range(3)] == [
        GRID_COLOURS[name] for name in ("northeast", "east", "southeast")
    ]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"width": 400, "height": 100}, "width"),
        ({"width": 100, "height": 301}, "height"),
        ({"box": [0, 0, 301, 10]}, "box"),
        ({"box": [10, 10, 10, 20]}, "box"),
        ({"width": 100, "height": 100, "gravity": "east", "x": -1}, "x"),
        ({"width": 100, "height": 100, "gravity": "north", "y": 250}, "y"),
        ({"box": [0, 0, 10, 10], "width": 5}, "width"),
    ],
)
def test_crop_outside_the_image_is_a_located_error(args: dict[str, Any], field: str) -> None:
    error = error_of([{"format": {"type": "PNG"}}, {"crop": args}])
    assert (error.step, error.field) == (1, field)
    assert error.message.startswith("crop: ")
    assert str(error) == error.message


# --- pad -------------------------------------------------------------------------------------


def test_pad_by_sides() -> None:
    padded = run([{"pad": {"top": 10, "right": 20, "bottom": 30, "left": 40, "color": "#ff00ff"}}])
    assert padded.size == (360, 340)
    magenta = (255, 0, 255)
    for xy in [(5, 5), (39, 150), (345, 150), (150, 335), (150, 9)]:
        assert rgb_at(padded, xy) == magenta, xy
    assert rgb_at(padded, (40, 10)) == GRID_COLOURS["northwest"]
    assert rgb_at(padded, (339, 309)) == GRID_COLOURS["southeast"]


@pytest.mark.parametrize(("gravity", "origin"), [("northwest", (0, 0)), ("southeast", (100, 200))])
def test_pad_to_size_places_the_image_by_gravity(gravity: str, origin: tuple[int, int]) -> None:
    padded = run([{"pad": {"width": 400, "height": 500, "gravity": gravity, "color": "blue"}}])
    assert padded.size == (400, 500)
    left, top = origin
    assert rgb_at(padded, (left, top)) == GRID_COLOURS["northwest"]
    assert rgb_at(padded, (left + 299, top + 299)) == GRID_COLOURS["southeast"]
    outside = (399, 499) if gravity == "northwest" else (0, 0)
    assert rgb_at(padded, outside) == (0, 0, 255)


def test_extend_is_pad() -> None:
    source = grid()
    pad = apply_transforms(source, [{"pad": {"left": 5}}], default_format="PNG")
    extend = apply_transforms(source, [{"extend": {"left": 5}}], default_format="PNG")
    assert pad == extend


def test_pad_default_is_transparent_for_png_and_white_for_jpg() -> None:
    assert run([{"pad": {"top": 10}}]).getpixel((150, 5)) == (0, 0, 0, 0)
    jpg = run([{"pad": {"top": 10}}], default_format="JPG")
    assert close(rgb_at(jpg, (150, 3)), WHITE)


def test_pad_to_a_size_smaller_than_the_image_is_an_error() -> None:
    error = error_of([{"pad": {"width": 200}}])
    assert (error.step, error.field) == (0, "width")


# --- format ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "default_format", "pillow_format"),
    [
        ({"type": "JPG"}, "PNG", "JPEG"),
        ({"type": "jpeg"}, "PNG", "JPEG"),
        ({"type": "WEBP"}, "PNG", "WEBP"),
        ({"type": "PNG"}, "JPG", "PNG"),
        (None, "WEBP", "WEBP"),
        (None, "JPG", "JPEG"),
    ],
)
def test_format_conversion(
    step: dict[str, Any] | None, default_format: str, pillow_format: str
) -> None:
    chain = [] if step is None else [{"format": step}]
    converted = run(chain, default_format=default_format)
    assert converted.format == pillow_format
    assert converted.size == (300, 300)
    assert close(rgb_at(converted, (50, 50)), GRID_COLOURS["northwest"], tolerance=12)


@pytest.mark.parametrize("fmt", ["JPG", "WEBP"])
def test_lower_quality_gives_a_smaller_file(fmt: str) -> None:
    source = noisy()
    sizes = [
        len(
            apply_transforms(
                source, [{"format": {"type": fmt, "quality": q}}], default_format="PNG"
            )
        )
        for q in (30, 95)
    ]
    assert sizes[0] < sizes[1]


def test_webp_lossless_keeps_every_pixel() -> None:
    source = noisy()
    out = run([{"format": {"type": "WEBP", "lossless": True}}], source)
    assert ImageChops.difference(out.convert("RGB"), decode(source)).getbbox() is None


def test_jpg_flattens_alpha_onto_white_or_the_format_background() -> None:
    clear = solid((40, 40), (0, 0, 0, 0), mode="RGBA")
    assert close(rgb_at(run([], clear, default_format="JPG"), (20, 20)), WHITE)
    red = run([{"format": {"background": "#ff0000"}}], clear, default_format="JPG")
    assert close(rgb_at(red, (20, 20)), RED)
    flat_png = run([{"format": {"type": "PNG", "background": "red"}}], clear)
    assert flat_png.mode == "RGB" and rgb_at(flat_png, (20, 20)) == RED


def test_avif_works_or_says_why_not() -> None:
    chain = [{"format": {"type": "AVIF", "quality": 60}}]
    if "avif" in features.get_supported_modules():
        out = run(chain)
        assert out.format == "AVIF" and out.size == (300, 300)
        assert close(rgb_at(out, (50, 50)), GRID_COLOURS["northwest"], tolerance=24)
    else:
        error = error_of(chain)
        assert (error.step, error.field) == (0, "type")
        assert "AVIF" in error.message


@pytest.mark.parametrize(
    ("chain", "step", "field"),
    [
        ([{"format": {"type": "PNG", "quality": 80}}], 0, "quality"),
        ([{"format": {"quality": 80}}], 0, "quality"),  # the default format is PNG
        ([{"format": {"type": "JPG", "lossless": True}}], 0, "lossless"),
        ([{"format": {"type": "WEBP", "progressive": True}}], 0, "progressive"),
        ([{"format": {"type": "JPG", "quality": 0}}], 0, "quality"),
        ([{"format": {"type": "JPG"}}, {"format": {"type": "PNG"}}], 1, None),
        ([{"format": {"type": "GIF"}}], 0, "type"),
    ],
)
def test_format_options_the_format_cannot_honour(
    chain: list[dict[str, Any]], step: int, field: str | None
) -> None:
    with pytest.raises(TransformError) as caught:
        output_format_of(chain, "PNG")
    assert (caught.value.step, caught.value.field) == (step, field)


def test_output_format_of() -> None:
    assert output_format_of([], "png") == "PNG"
    assert output_format_of([{"resize": {"width": 10}}], "JPEG") == "JPG"
    assert output_format_of([{"format": {"type": "jpeg"}}], "PNG") == "JPG"
    assert output_format_of([{"format": {"type": "AVIF"}}], "PNG") == "AVIF"
    assert output_format_of([{"format": {"quality": 50}}], "WEBP") == "WEBP"


# --- composite: image layers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gravity", "origin"),
    [
        ("northwest", (10, 10)),
        ("northeast", (170, 10)),
        ("southwest", (10, 170)),
        ("southeast", (170, 170)),
    ],
)
def test_composite_image_at_each_corner_with_margin_and_opacity(
    gravity: str, origin: tuple[int, int]
) -> None:
    step = {"composite": {"image": "logo.png", "gravity": gravity, "margin": 10, "opacity": 0.5}}
    out = run([step], solid((200, 200), WHITE), layers={(0, "image"): solid((20, 20), RED)})
    left, top = origin
    assert close(rgb_at(out, (left + 10, top + 10)), (255, 128, 128), tolerance=2)
    assert close(rgb_at(out, (left, top)), (255, 128, 128), tolerance=2)
    assert rgb_at(out, (left - 1, top - 1)) == WHITE
    assert rgb_at(out, (left + 20, top + 20)) == WHITE
    assert rgb_at(out, (100, 100)) == WHITE


def test_composite_width_scales_the_layer_keeping_aspect() -> None:
    step = {"composite": {"image": "logo.png", "gravity": "northwest", "width": 60}}
    out = run([step], solid((200, 200), WHITE), layers={(0, "image"): solid((20, 10), RED)})
    assert close(rgb_at(out, (55, 25)), RED)
    assert rgb_at(out, (65, 5)) == WHITE
    assert rgb_at(out, (5, 35)) == WHITE


def test_composite_offsets_move_inward() -> None:
    step = {"composite": {"image": "logo.png", "gravity": "southeast", "x": 30, "y": 5}}
    out = run([step], solid((200, 200), WHITE), layers={(0, "image"): solid((20, 20), RED)})
    assert rgb_at(out, (150, 175)) == RED
    assert rgb_at(out, (169, 194)) == RED
    assert rgb_at(out, (170, 175)) == WHITE


def test_composite_layer_keeps_its_transparency() -> None:
    ring = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    ring.paste(RED, (0, 0, 20, 2))
    step = {"composite": {"image": "ring.png", "gravity": "northwest"}}
    out = run([step], solid((50, 50), WHITE), layers={(0, "image"): encode(ring)})
    assert rgb_at(out, (10, 1)) == RED
    assert rgb_at(out, (10, 10)) == WHITE


@pytest.mark.parametrize("layers", [{}, {(0, "image"): b"not an image"}])
def test_composite_without_a_decodable_layer_is_a_located_error(
    layers: dict[tuple[int, str], bytes],
) -> None:
    error = error_of([{"composite": {"image": "logo.png"}}], layers=layers)
    assert (error.step, error.field) == (0, "image")


# --- composite: text layers -------------------------------------------------------------------


def changed_box(before: bytes, after: Image.Image) -> tuple[int, int, int, int]:
    box = ImageChops.difference(decode(before).convert("RGB"), after.convert("RGB")).getbbox()
    assert box is not None
    return box


@pytest.mark.parametrize("gravity", ["south", "north"])
def test_text_changes_pixels_in_the_gravity_band(gravity: str) -> None:
    base = solid((400, 200), (0, 0, 0))
    text = {"text": "Hello", "gravity": gravity, "size": 24, "color": "#ffffff", "margin": 10}
    left, top, right, bottom = changed_box(base, run([{"composite": text}], base))
    if gravity == "south":
        assert top >= 200 - 10 - 40 and bottom <= 190
    else:
        assert top >= 10 and bottom <= 10 + 40
    assert left > 100 and right < 300  # centred, narrower than the image


def test_long_text_wraps_inside_the_margins() -> None:
    base = solid((200, 400), (0, 0, 0))

    def band(text: str) -> tuple[int, int, int, int]:
        step = {"text": text, "gravity": "north", "size": 20, "color": "white", "margin": 10}
        return changed_box(base, run([{"composite": step}], base))

    one_line = band("Hi")
    wrapped = band("Terms apply to every offer shown here; see the small print for details.")
    assert wrapped[0] >= 10 and wrapped[2] <= 190
    assert wrapped[3] - wrapped[1] > 3 * (one_line[3] - one_line[1])


def test_text_background_box() -> None:
    base = solid((300, 100), WHITE)
    step = {"text": "Hi", "gravity": "northwest", "size": 20, "background": "#ff0000"}
    out = run([{"composite": step}], base)
    assert rgb_at(out, (1, 1)) == RED  # padding inside the box
    assert rgb_at(out, (299, 99)) == WHITE
    half = {**step, "background": "#ff000080"}
    assert close(rgb_at(run([{"composite": half}], base), (1, 1)), (255, 127, 127), tolerance=2)


def test_text_width_sets_the_box_width() -> None:
    base = solid((300, 100), WHITE)
    step = {"text": "Hi", "gravity": "northwest", "size": 20, "width": 200, "background": "red"}
    left, top, right, _ = changed_box(base, run([{"composite": step}], base))
    assert (left, top, right) == (0, 0, 200)


@pytest.mark.parametrize(("align", "low", "high"), [("left", 0, 40), ("right", 160, 200)])
def test_text_align_within_the_box(align: str, low: int, high: int) -> None:
    base = solid((300, 100), WHITE)
    step = {"text": "Hi", "gravity": "northwest", "size": 20, "width": 200, "align": align}
    left, _, right, _ = changed_box(base, run([{"composite": step}], base))
    assert low <= left and right <= high


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"text": "Hi", "font": "missing/font.ttf"}, "font"),
        ({"text": "Hi", "height": 20}, "height"),
        ({"image": "a.png", "size": 20}, "size"),
        ({"text": "Hi", "color": "blurple"}, "color"),
        ({"text": "Hi", "margin": 200}, "margin"),
    ],
)
def test_text_errors_are_located(args: dict[str, Any], field: str) -> None:
    error = error_of(
        [{"composite": args}], source=solid((300, 100), WHITE), layers={(0, "image"): grid()}
    )
    assert (error.step, error.field) == (0, field)


# --- the chain as a whole --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPG", "WEBP"])
def test_same_inputs_give_the_same_bytes(fmt: str) -> None:
    chain = yaml.safe_load(EXAMPLE)
    chain[3] = {"format": {"type": fmt}}
    layers = {(4, "image"): solid((40, 20), RED)}
    first = apply_transforms(noisy((400, 300)), chain, default_format="PNG", layers=layers)
    second = apply_transforms(noisy((400, 300)), chain, default_format="PNG", layers=layers)
    assert first == second
    assert decode(first).size == (800, 640)


def test_exif_orientation_is_applied_then_metadata_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    exif[0x010F] = "Camera Maker"
    buffer = io.BytesIO()
    Image.new("RGB", (60, 30), RED).save(buffer, "JPEG", exif=exif.tobytes())
    for fmt in ("PNG", "JPG", "WEBP"):
        out = run([], buffer.getvalue(), default_format=fmt)
        assert out.size == (30, 60)
        assert not out.getexif()
        assert "exif" not in out.info


def test_unknown_operation_and_malformed_steps_are_located() -> None:
    error = error_of([{"resize": {"width": 10}}, {"rezise": {"width": 10}}])
    assert error.step == 1 and "did you mean 'resize'" in error.message
    assert error_of([{"resize": {"width": 10}, "crop": {"width": 5}}]).step == 0


def test_an_undecodable_source_is_not_blamed_on_a_step() -> None:
    error = error_of([], source=b"GIF89a but not really")
    assert error.step is None and "cannot be decoded" in error.message


def test_layer_inputs() -> None:
    chain: list[dict[str, Any]] = [
        {"resize": {"width": 10}},
        {"composite": {"image": "logo.png"}},
        {"composite": {"text": "hi"}},
        {"composite": {"image": {"target": "hero", "index": 2}}},
    ]
    assert layer_inputs(chain) == [
        (1, "image", "logo.png"),
        (3, "image", {"target": "hero", "index": 2}),
    ]
    assert layer_inputs(yaml.safe_load(EXAMPLE)) == [(4, "image", "logo.png")]


# --- schema ----------------------------------------------------------------------------------


def schema_errors(instance: Any) -> list[tuple[list[str | int], str]]:
    """jsonschema's errors; the screen validated with first must reject too."""
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = [
        (list(error.absolute_path), str(error.validator))
        for error in validator.iter_errors(instance)
    ]
    if found:
        screen = jsonschema_rs.validator_for(SCHEMA, validate_formats=True)
        assert not screen.is_valid(instance), found
    return found


def test_schema_is_valid_and_accepts_the_example() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert schema_errors(yaml.safe_load(EXAMPLE)) == []


def test_schema_and_runtime_know_the_same_operations() -> None:
    assert set(SCHEMA["$defs"]["step"]["properties"]) == set(OPERATIONS)


@pytest.mark.parametrize(
    ("chain", "path", "validator"),
    [
        ([{"rezise": {"width": 10}}], [0], "additionalProperties"),
        ([{"resize": {"width": 10}, "crop": {"width": 5}}], [0], "maxProperties"),
        ([{}], [0], "minProperties"),
        (["resize"], [0], "type"),
        ([{"resize": {"width": 10, "fitt": "cover"}}], [0, "resize"], "additionalProperties"),
        ([{"resize": {"width": "1080"}}], [0, "resize", "width"], "type"),
        ([{"resize": {"width": 0}}], [0, "resize", "width"], "minimum"),
        ([{"resize": {"width": 10, "height": 10, "fit": "fill"}}], [0, "resize", "fit"], "enum"),
        ([{"resize": {"fit": "cover"}}], [0, "resize"], "anyOf"),
        ([{"crop": {"box": [0, 0, "a", 1]}}], [0, "crop", "box", 2], "type"),
        ([{"crop": {"box": [0, 0, 1]}}], [0, "crop", "box"], "minItems"),
        ([{"crop": {"box": [0, 0, 1, 1], "width": 3}}], [0, "crop", "width"], "not"),
        ([{"crop": {"width": 5, "gravity": "middle"}}], [0, "crop", "gravity"], "enum"),
        ([{"pad": {"top": 5, "width": 500}}], [0, "pad", "top"], "not"),
        ([{"pad": {"top": 5, "color": "#12345"}}], [0, "pad", "color"], "anyOf"),
        ([{"format": {"type": "GIF"}}], [0, "format", "type"], "enum"),
        ([{"format": {"quality": 101}}], [0, "format", "quality"], "maximum"),
        ([{"format": {"lossless": "yes"}}], [0, "format", "lossless"], "type"),
        ([{"composite": {"gravity": "south"}}], [0, "composite"], "anyOf"),
        ([{"composite": {"image": "a.png", "text": "b"}}], [0, "composite", "text"], "not"),
        ([{"composite": {"image": "a.png", "font": "x.ttf"}}], [0, "composite", "font"], "not"),
        (
            [{"composite": {"image": {"target": "x", "idx": 1}}}],
            [0, "composite", "image"],
            "additionalProperties",
        ),
        (
            [{"composite": {"image": {"target": "x", "index": 0}}}],
            [0, "composite", "image", "index"],
            "minimum",
        ),
        ([{"composite": {"text": "b", "opacity": "high"}}], [0, "composite", "opacity"], "type"),
        ([{"composite": {"text": "b", "opacity": 1.5}}], [0, "composite", "opacity"], "maximum"),
    ],
)
def test_schema_rejects_and_points_at_the_offending_field(
    chain: list[Any], path: list[str | int], validator: str
) -> None:
    assert (path, validator) in schema_errors(chain)


def test_schema_colour_names_are_colours_pillow_knows() -> None:
    names = SCHEMA["$defs"]["color"]["anyOf"][1]["enum"]
    for name in names:
        out = run([{"pad": {"top": 1, "color": name}}], solid((4, 4), WHITE))
        assert out.size == (4, 5)
