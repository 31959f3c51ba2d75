"""The embedded provider takes image inputs as a remote API would: BMP and GIF
converted to PNG, and a file that is not an image refused in one line."""

from __future__ import annotations

from PIL import Image

from tests.conftest import Project

EDIT = """\
version: 1
targets:
  - name: edit
    model: local
    prompt: the same scene at dusk
    width: 32
    height: 32
    seedImage: SEED
"""


def test_bmp_and_gif_inputs_are_taken(project: Project) -> None:
    Image.new("RGB", (32, 32), "#336699").save(project.root / "photo.bmp")
    Image.new("P", (32, 32)).save(project.root / "photo.gif")
    for name in ("photo.bmp", "photo.gif"):
        project.write(EDIT.replace("SEED", name))
        report = project.build()
        assert report["summary"]["generated"] == 1, name
        with Image.open(project.root / "out/edit.png") as image:
            assert image.size == (32, 32)


def test_an_input_that_is_not_an_image_is_one_line(project: Project) -> None:
    (project.root / "photo.png").write_bytes(b"not an image at all")
    project.write(EDIT.replace("SEED", "photo.png"))
    result = project.run("build")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert (
        "imagebuild.yaml: target edit: not a PNG, JPEG, WEBP, BMP or GIF image"
        in result.err.splitlines()
    )
