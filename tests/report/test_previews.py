"""The preview cache: made once per digest, remembered across reports."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from imagebuild.report.previews import Previews


def output(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> tuple[str, str]:
    """An image file: its digest, and its path as the preview cache takes it."""
    Image.new("RGB", size, color).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest(), str(path)


def test_thumbnails_are_made_once_and_remembered(tmp_path: Path) -> None:
    digest, source = output(tmp_path / "a.png", (640, 480), (1, 2, 3))
    previews = Previews(tmp_path / "thumbs")
    (preview,) = previews.thumbnails({digest: source}).values()
    assert Path(preview.path) == tmp_path / "thumbs" / digest[:2] / f"{digest}.webp"
    assert preview.facts == {"width": 640, "height": 480, "bytes": Path(source).stat().st_size}
    with Image.open(preview.path) as thumbnail:
        assert thumbnail.size == (320, 240)
    previews.save()
    Path(source).unlink()  # a second report needs neither the image nor Pillow's time
    again = Previews(tmp_path / "thumbs").thumbnails({digest: source})
    assert again == {digest: preview}


def test_a_lost_thumbnail_is_made_again(tmp_path: Path) -> None:
    digest, source = output(tmp_path / "a.png", (50, 50), (1, 2, 3))
    previews = Previews(tmp_path / "thumbs")
    preview = previews.thumbnails({digest: source})[digest]
    previews.save()
    Path(preview.path).unlink()
    assert Path(Previews(tmp_path / "thumbs").thumbnails({digest: source})[digest].path).is_file()


def test_an_unreadable_image_gets_no_preview_and_is_tried_again(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    digest, good = output(tmp_path / "good.png", (8, 8), (9, 9, 9))
    previews = Previews(tmp_path / "thumbs")
    made = previews.thumbnails({"b" * 64: str(broken), digest: good})
    assert set(made) == {digest}
    previews.save()
    output(broken, (8, 8), (1, 1, 1))
    assert set(Previews(tmp_path / "thumbs").thumbnails({"b" * 64: str(broken)})) == {"b" * 64}


def test_differences_are_keyed_by_the_pair(tmp_path: Path) -> None:
    old, old_path = output(tmp_path / "old.png", (10, 10), (0, 0, 0))
    new, new_path = output(tmp_path / "new.png", (10, 10), (0, 0, 40))
    previews = Previews(tmp_path / "thumbs")
    made = previews.differences({(old, new): (old_path, new_path)})
    assert made[(old, new)].facts == {"differs": 1.0}
    with Image.open(made[(old, new)].path) as difference:
        assert difference.getpixel((0, 0)) == (0, 0, 255)
    previews.save()
    reread = Previews(tmp_path / "thumbs")
    assert reread.differences({(old, new): (old_path, new_path)}) == made
    assert (
        reread.differences({(new, old): (new_path, old_path)})[(new, old)].path
        != made[(old, new)].path
    )


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "thumbs").mkdir()
    (tmp_path / "thumbs" / "index.json").write_bytes(b"[1, 2")
    digest, source = output(tmp_path / "a.png", (8, 8), (9, 9, 9))
    assert digest in Previews(tmp_path / "thumbs").thumbnails({digest: source})
