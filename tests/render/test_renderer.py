"""Properties of the offline renderer, checked on the decoded bytes it returns."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from imagebuild.render import OutputFormat, RenderSpec, render

PROMPT = "a red fox in a snowy forest at dawn"
REPO_ROOT = Path(__file__).resolve().parents[2]


def decode(data: bytes) -> Image.Image:
    """Decode rendered bytes, fully loaded, so assertions see real pixels."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def rgb(spec: RenderSpec) -> Image.Image:
    """Render and decode to RGB pixels."""
    return decode(render(spec)).convert("RGB")


def changed_fraction(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that differ between two same-size images."""
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return ImageStat.Stat(diff).mean[0] / 255


def mean_colour(image: Image.Image) -> tuple[float, ...]:
    """Average RGB of an image."""
    return tuple(ImageStat.Stat(image).mean)


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """Encode a test input image the way a client would upload it."""
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def pattern(size: tuple[int, int]) -> Image.Image:
    """A seed image with structure, so a misplaced copy cannot pass for the original."""
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (gradient, gradient.rotate(90), Image.new("L", size, 90)))


@pytest.mark.parametrize(
    ("output_format", "pillow_format"), [("PNG", "PNG"), ("JPG", "JPEG"), ("WEBP", "WEBP")]
)
@pytest.mark.parametrize("size", [(16, 16), (17, 33), (128, 128), (300, 120), (96, 700)])
def test_exact_size_and_format(
    output_format: str, pillow_format: str, size: tuple[int, int]
) -> None:
    spec = RenderSpec(*size, seed=7, prompt=PROMPT, output_format=output_format)
    image = decode(render(spec))
    assert image.size == size
    assert image.format == pillow_format


@pytest.mark.parametrize("output_format", ["PNG", "JPG", "WEBP"])
def test_same_spec_same_bytes(output_format: str) -> None:
    spec = RenderSpec(200, 150, seed=42, prompt=PROMPT, output_format=output_format)
    assert render(spec) == render(RenderSpec(200, 150, 42, PROMPT, output_format=output_format))


def test_same_bytes_across_processes_and_hash_seeds() -> None:
    script = (
        "import hashlib, sys\n"
        "from imagebuild.render import RenderSpec, render\n"
        "specs = [RenderSpec(160, 96, seed=s, prompt='teal ocean waves', output_format=f)\n"
        "         for s in (1, 2**63 - 1) for f in ('PNG', 'JPG', 'WEBP')]\n"
        "sys.stdout.write(hashlib.sha256(b''.join(render(s) for s in specs)).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout)
    in_process = [
        RenderSpec(160, 96, seed=s, prompt="teal ocean waves", output_format=f)
        for s in (1, 2**63 - 1)
        for f in ("PNG", "JPG", "WEBP")
    ]
    digests.add(hashlib.sha256(b"".join(render(s) for s in in_process)).hexdigest())
    assert len(digests) == 1


def test_different_seeds_change_the_composition() -> None:
    first = rgb(RenderSpec(256, 256, seed=1, prompt=PROMPT))
    second = rgb(RenderSpec(256, 256, seed=2, prompt=PROMPT))
    assert changed_fraction(first, second) > 0.5


def test_different_prompts_change_the_palette() -> None:
    fox = mean_colour(rgb(RenderSpec(256, 256, seed=1, prompt=PROMPT)))
    sea = mean_colour(rgb(RenderSpec(256, 256, seed=1, prompt="teal ocean waves under a sky")))
    assert max(abs(a - b) for a, b in zip(fox, sea, strict=True)) > 10


def test_colour_words_keep_their_colour() -> None:
    red = mean_colour(rgb(RenderSpec(256, 256, seed=3, prompt="crimson red scarlet")))
    blue = mean_colour(rgb(RenderSpec(256, 256, seed=3, prompt="navy blue royalblue")))
    assert red[0] > red[2] + 30
    assert blue[2] > blue[0] + 30


def test_negative_prompt_removes_its_colours() -> None:
    both = mean_colour(rgb(RenderSpec(256, 256, seed=3, prompt="red blue")))
    without_red = mean_colour(
        rgb(RenderSpec(256, 256, seed=3, prompt="red blue", negative_prompt="red"))
    )
    assert without_red[0] < both[0] - 20


def test_caption_shows_the_prompt_text() -> None:
    """Re-cased words give the same palette and layout, so only the caption band differs."""
    lower = rgb(RenderSpec(256, 256, seed=5, prompt="a red fox"))
    upper = rgb(RenderSpec(256, 256, seed=5, prompt="A RED FOX"))
    diff_box = ImageChops.difference(lower, upper).getbbox()
    assert diff_box is not None
    assert diff_box[1] > 256 * 0.8


@pytest.mark.parametrize("size", [(256, 192), (96, 700), (1024, 40), (16, 16)])
def test_a_preview_is_marked_across_its_middle_and_nowhere_else(size: tuple[int, int]) -> None:
    plain = RenderSpec(*size, seed=5, prompt=PROMPT)
    preview = RenderSpec(*size, seed=5, prompt=PROMPT, preview=True)
    box = ImageChops.difference(rgb(plain), rgb(preview)).getbbox()
    assert box is not None
    left, top, right, bottom = box
    assert (left, right) == (0, size[0])
    assert top < size[1] / 2 < bottom
    assert bottom - top < size[1]
    assert render(preview) == render(RenderSpec(*size, seed=5, prompt=PROMPT, preview=True))


@pytest.mark.parametrize("size", [(16, 16), (16, 6592), (47, 47)])
def test_tiny_images_render_without_caption(size: tuple[int, int]) -> None:
    assert decode(render(RenderSpec(*size, seed=1, prompt=PROMPT))).size == size


def test_index_gives_distinct_results() -> None:
    images = [rgb(RenderSpec(128, 128, seed=9, prompt=PROMPT, index=i)) for i in range(4)]
    for i, first in enumerate(images):
        for second in images[i + 1 :]:
            assert changed_fraction(first, second) > 0.3


def test_strength_zero_returns_the_seed_image() -> None:
    seed = pattern((120, 80))
    spec = RenderSpec(120, 80, seed=1, prompt=PROMPT, seed_image=encode(seed), strength=0.0)
    assert rgb(spec).tobytes() == seed.tobytes()


def test_strength_moves_away_from_the_seed_image() -> None:
    seed = pattern((120, 80))
    distances = [
        changed_fraction(
            rgb(RenderSpec(120, 80, 1, PROMPT, seed_image=encode(seed), strength=strength)), seed
        )
        for strength in (0.1, 1.0)
    ]
    assert 0 < distances[0] <= distances[1]
    full = rgb(RenderSpec(120, 80, 1, PROMPT, seed_image=encode(seed), strength=1.0))
    assert full.tobytes() == rgb(RenderSpec(120, 80, 1, PROMPT)).tobytes()


def test_seed_image_is_resized_and_jpeg_accepted() -> None:
    spec = RenderSpec(200, 100, 1, PROMPT, seed_image=encode(pattern((64, 64)), "JPEG"))
    assert decode(render(spec)).size == (200, 100)


def test_mask_keeps_black_area_and_repaints_white_area() -> None:
    seed = pattern((128, 128))
    mask = Image.new("L", (128, 128), 0)
    mask.paste(255, (64, 0, 128, 128))
    spec = RenderSpec(
        128, 128, 4, PROMPT, seed_image=encode(seed), mask_image=encode(mask), strength=1.0
    )
    result = rgb(spec)
    kept = (0, 0, 60, 128)
    assert result.crop(kept).tobytes() == seed.crop(kept).tobytes()
    assert result.getpixel((10, 120)) == seed.getpixel((10, 120))
    assert changed_fraction(result.crop((68, 0, 128, 128)), seed.crop((68, 0, 128, 128))) > 0.5


def test_outpaint_places_the_original_and_paints_the_border() -> None:
    seed = pattern((64, 48))
    top, right, bottom, left = 8, 16, 24, 32
    width, height = 64 + left + right, 48 + top + bottom
    spec = RenderSpec(
        width, height, 2, PROMPT, seed_image=encode(seed), outpaint=(top, right, bottom, left)
    )
    result = rgb(spec)
    assert result.size == (width, height)
    assert result.crop((left, top, left + 64, top + 48)).tobytes() == seed.tobytes()
    stretched = seed.resize((width, height), Image.Resampling.BILINEAR)
    border = (0, 0, left, height)
    assert changed_fraction(result.crop(border), stretched.crop(border)) > 0.5


def test_reference_images_tint_the_palette() -> None:
    blue = encode(Image.new("RGB", (32, 32), (0, 0, 255)), "WEBP")
    plain = mean_colour(rgb(RenderSpec(128, 128, 6, PROMPT)))
    tinted = mean_colour(rgb(RenderSpec(128, 128, 6, PROMPT, reference_images=(blue,))))
    assert tinted[2] > plain[2] + 20
    assert tinted[0] < plain[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("png", "PNG"), ("JPG", "JPG"), ("jpeg", "JPG"), ("JPEG", "JPG"), ("webp", "WEBP")],
)
def test_output_format_is_normalised(name: str, expected: str) -> None:
    spec = RenderSpec(64, 64, 1, PROMPT, output_format=name)
    assert spec.output_format == expected
    assert spec == RenderSpec(64, 64, 1, PROMPT, output_format=expected)


def test_output_format_helpers() -> None:
    assert OutputFormat.parse("jpeg").mime_type == "image/jpeg"
    assert OutputFormat.JPG.extension == "jpg"
    assert OutputFormat.WEBP.pillow_format == "WEBP"


def test_quality_changes_lossy_output() -> None:
    low, high = (
        render(RenderSpec(256, 256, 1, PROMPT, output_format="JPG", quality=q)) for q in (20, 99)
    )
    assert len(low) < len(high)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"width": 15}, "width"),
        ({"width": 6593}, "width"),
        ({"height": 0}, "height"),
        ({"height": 7000}, "height"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"quality": 19}, "quality"),
        ({"quality": 100}, "quality"),
        ({"output_format": "GIF"}, "output_format"),
        ({"index": -1}, "index"),
        ({"strength": 1.5}, "strength"),
        ({"strength": float("nan")}, "strength"),
        ({"mask_image": b"x"}, "mask_image"),
        ({"outpaint": (0, 0, 0, 0)}, "outpaint"),
        ({"seed_image": b"x", "outpaint": (0, -1, 0, 0)}, "outpaint"),
        ({"seed_image": b"x", "outpaint": (0, 32, 0, 32)}, "outpaint"),
    ],
)
def test_invalid_specs_are_rejected(overrides: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"width": 64, "height": 64, "seed": 1, "prompt": PROMPT}
    with pytest.raises(ValueError, match=message):
        RenderSpec(**{**fields, **overrides})  # type: ignore[arg-type]


def truncated_png() -> bytes:
    """A real PNG header whose pixel data is cut off."""
    return encode(pattern((64, 64)))[:120]


@pytest.mark.parametrize(
    "bad", [b"", b"not an image", truncated_png(), encode(pattern((8, 8)), "BMP")]
)
@pytest.mark.parametrize("field", ["seed_image", "mask_image", "reference_images"])
def test_undecodable_images_are_rejected(bad: bytes, field: str) -> None:
    good = encode(pattern((64, 64)))
    inputs: dict[str, object] = {
        "seed_image": bad if field == "seed_image" else good,
        "mask_image": bad if field == "mask_image" else None,
        "reference_images": (bad,) if field == "reference_images" else (),
    }
    spec = RenderSpec(64, 64, 1, PROMPT, **inputs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"cannot decode {field.replace('_images', ' image')}"):
        render(spec)
