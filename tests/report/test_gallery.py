"""The report folder: links that resolve, previews linked in, earlier images
restored, differences made, stale files removed."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagebuild.planning.lock import LockFile
from imagebuild.report.gallery import Written, write_gallery
from imagebuild.report.previews import Previews
from tests.conftest import Project
from tests.report.conftest import cards_by_name, page_data, planned_section

MANIFEST = """\
version: 1
defaults:
  model: local
targets:
  - name: master
    prompt: a glass teapot, studio light
    width: 48
    height: 32
    output: out/master.png
  - name: cut
    from: master
    transform:
      - resize: {width: 16, height: 16, fit: cover}
    output: out/cut.png
"""


def report(
    project: Project, baseline: LockFile | None = None, directory: Path | None = None
) -> Written:
    section = planned_section("imagebuild.yaml", baseline)
    previews = Previews(project.root / ".imagebuild" / "thumbs")
    return write_gallery([section], directory or project.root / "report", previews, "title")


def rebuilt(project: Project) -> tuple[LockFile, Path]:
    """Build, change master's prompt, build again: the first lock, and the
    cache object of master's first output."""
    project.write(MANIFEST)
    project.build()
    old = LockFile.read(project.lock)
    digest = old.entries["master"]["outputs"][0]["sha256"]
    project.write(MANIFEST.replace("studio light", "candle light"))
    project.build()
    return old, project.root / ".imagebuild/cache/objects" / digest[:2] / digest


def resolve(index: Path, href: str) -> Path:
    from urllib.parse import unquote

    return (index.parent / unquote(href)).resolve()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_report_links_outputs_and_thumbnails(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    written = report(project)
    assert written.index == project.root / "report" / "index.html"
    assert written.warnings == []
    master = cards_by_name(written.index)["master"]
    (image,) = master["images"]
    assert image["href"] == "../out/master.png"
    assert resolve(written.index, image["href"]) == project.root / "out/master.png"
    assert (image["width"], image["height"]) == (48, 32)
    assert image["bytes"] == (project.root / "out/master.png").stat().st_size
    thumbnail = resolve(written.index, image["thumb"])
    assert thumbnail.name == digest(project.root / "out/master.png") + ".webp"
    cached = project.root / ".imagebuild/thumbs" / thumbnail.name[:2] / thumbnail.name
    assert thumbnail.stat().st_ino == cached.stat().st_ino  # linked, not copied
    with Image.open(thumbnail) as opened:
        assert opened.size == (48, 32)
    assert master["before"] == [] and master["change"] is None
    assert page_data(written.index)["baselines"] == [None]


def test_a_change_restores_the_earlier_output_and_its_difference(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    old = LockFile.read(project.lock)
    old_bytes = (project.root / "out/master.png").read_bytes()
    project.write(MANIFEST.replace("studio light", "candle light"))
    project.build()
    written = report(project, old)
    cards = cards_by_name(written.index)
    (before,) = cards["master"]["before"]
    assert cards["master"]["change"] == "changed"
    assert resolve(written.index, before["href"]).read_bytes() == old_bytes
    assert before["href"] == f"./before/{hashlib.sha256(old_bytes).hexdigest()}.png"
    assert 0.0 < before["differs"] <= 1.0
    with Image.open(resolve(written.index, before["diff"])) as difference:
        assert difference.size == (48, 32)
        assert difference.getbbox() is not None  # something lit up
    assert page_data(written.index)["baselines"] == ["old"]
    again = report(project, LockFile.read(project.lock))  # now nothing changed
    assert {card["change"] for card in cards_by_name(again.index).values()} == {"unchanged"}
    folder = project.root / "report"
    assert not list((folder / "before").glob("*")) and not list((folder / "diff").glob("*"))
    assert len(list((folder / "thumbs").glob("*"))) == 2


def test_an_earlier_output_the_cache_lost_is_shown_as_missing(project: Project) -> None:
    old, cached = rebuilt(project)
    cached.unlink()
    (before,) = cards_by_name(report(project, old).index)["master"]["before"]
    assert before == {"path": "out/master.png", "href": None, "thumb": None}


def test_a_corrupt_earlier_output_is_a_warning_not_an_image(project: Project) -> None:
    old, cached = rebuilt(project)
    cached.write_bytes(cached.read_bytes()[:-1] + b"\0")
    old_digest = cached.name
    written = report(project, old)
    (warning,) = written.warnings
    assert warning.startswith(f"imagebuild.yaml: target master: cache object {old_digest} ")
    assert cards_by_name(written.index)["master"]["before"][0]["href"] is None
    assert not (project.root / "report" / "before" / f"{old_digest}.png").exists()
    assert cards_by_name(written.index)["cut"]["before"][0]["href"].startswith("./before/")


def test_a_removed_target_shows_its_last_image(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    old = LockFile.read(project.lock)
    project.write(MANIFEST.split("  - name: cut")[0])
    project.build()
    cut = cards_by_name(report(project, old).index)["cut"]
    assert (cut["status"], cut["change"], cut["images"]) == ("removed", "removed", [])
    (before,) = cut["before"]
    assert before["width"] == 16 and before["thumb"].startswith("thumbs/")
    assert "diff" not in before


def test_an_output_not_built_has_no_link(project: Project) -> None:
    project.write(MANIFEST)
    (image,) = cards_by_name(report(project).index)["master"]["images"]
    assert image == {"path": "out/master.png", "href": None, "thumb": None}


@pytest.mark.skipif(sys.platform == "win32", reason="':' is not allowed in Windows file names")
def test_hrefs_are_quoted_so_no_name_becomes_a_fragment_or_a_query(project: Project) -> None:
    # A ':' never reaches an output name (the manifest refuses it), so no name
    # can become a scheme; '#', '%' and spaces still must not change the link.
    project.write(MANIFEST.replace("out/master.png", '"javascript alert(1) #x%41.png"'))
    project.build()
    written = report(project, directory=project.root)
    (image,) = cards_by_name(written.index)["master"]["images"]
    assert image["href"] == "./javascript%20alert%281%29%20%23x%2541.png"
    assert resolve(written.index, image["href"]) == project.root / "javascript alert(1) #x%41.png"


def test_a_report_outside_the_manifest_folder(project: Project, tmp_path: Path) -> None:
    project.write(MANIFEST)
    project.build()
    elsewhere = tmp_path / "site" / "gallery"
    written = report(project, directory=elsewhere)
    image: dict[str, Any] = cards_by_name(written.index)["cut"]["images"][0]
    assert resolve(written.index, image["href"]) == project.root / "out/cut.png"
    assert (elsewhere / image["thumb"]).is_file()
