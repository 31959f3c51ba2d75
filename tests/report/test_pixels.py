"""Thumbnails and pixel differences, decoded back with Pillow."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imagebuild.report.pixels import THUMBNAIL_BOX, make_difference, make_thumbnail


def image(path: Path, size: tuple[int, int], color: object, mode: str = "RGB") -> Path:
    Image.new(mode, size, color).save(path)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1536, 768), (320, 160)), ((600, 1200), (160, 320)), ((64, 48), (64, 48))],
)
def test_a_thumbnail_fits_the_box_keeps_the_aspect_and_never_enlarges(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    source = image(tmp_path / "a.png", size, (200, 30, 30))
    assert make_thumbnail(source, tmp_path / "t.webp") == size
    with Image.open(tmp_path / "t.webp") as thumbnail:
        assert thumbnail.format == "WEBP"
        assert thumbnail.size == expected
        assert max(thumbnail.size) <= THUMBNAIL_BOX
        red, green, blue = thumbnail.convert("RGB").getpixel((thumbnail.width // 2, 5))  # type: ignore[misc]
        assert red > 150 and green < 80 and blue < 80


def test_thumbnails_of_jpeg_palette_and_transparent_images(tmp_path: Path) -> None:
    jpeg = image(tmp_path / "a.jpg", (2000, 1000), (10, 120, 240))
    make_thumbnail(jpeg, tmp_path / "jpeg.webp")
    with Image.open(tmp_path / "jpeg.webp") as thumbnail:
        assert thumbnail.size == (320, 160)
    transparent = Image.new("LA", (40, 40), (200, 0))
    transparent.paste((90, 255), (20, 0, 40, 40))
    transparent.save(tmp_path / "la.png")
    make_thumbnail(tmp_path / "la.png", tmp_path / "la.webp")
    with Image.open(tmp_path / "la.webp") as thumbnail:
        assert thumbnail.mode == "RGBA"
        assert thumbnail.getpixel((5, 5))[3] == 0  # type: ignore[index]
        assert thumbnail.getpixel((30, 5))[3] == 255  # type: ignore[index]
    grey = image(tmp_path / "l.png", (30, 30), 128, mode="L")
    make_thumbnail(grey, tmp_path / "l.webp")
    with Image.open(tmp_path / "l.webp") as thumbnail:
        assert thumbnail.mode == "RGB"


def test_identical_images_differ_nowhere(tmp_path: Path) -> None:
    a = image(tmp_path / "a.png", (20, 10), (9, 9, 9))
    assert make_difference(a, a, tmp_path / "d.png") == 0.0
    with Image.open(tmp_path / "d.png") as difference:
        assert difference.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_a_small_difference_is_amplified_and_counted(tmp_path: Path) -> None:
    old = image(tmp_path / "old.png", (10, 10), (100, 100, 100))
    changed = Image.new("RGB", (10, 10), (100, 100, 100))
    changed.putpixel((3, 4), (100, 100, 103))  # one pixel, three levels of blue
    changed.save(tmp_path / "new.png")
    share = make_difference(old, tmp_path / "new.png", tmp_path / "d.png")
    assert share == pytest.approx(0.01)
    with Image.open(tmp_path / "d.png") as difference:
        assert difference.format == "PNG"
        assert difference.getpixel((3, 4)) == (0, 0, 24)
        assert difference.getpixel((0, 0)) == (0, 0, 0)


def test_sizes_are_reconciled_to_the_new_image(tmp_path: Path) -> None:
    old = image(tmp_path / "old.png", (40, 20), (0, 0, 0))
    new = image(tmp_path / "new.png", (80, 40), (255, 255, 255), mode="RGBA")
    assert make_difference(old, new, tmp_path / "d.png") == 1.0
    with Image.open(tmp_path / "d.png") as difference:
        assert difference.size == (80, 40)
        assert difference.getpixel((10, 10)) == (255, 255, 255)
