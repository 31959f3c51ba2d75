"""``imagebuild show``: builds whose outputs explain themselves, read from the file alone."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageChops, PngImagePlugin

from imagebuild.emulators import Faults, RunwareEmulator, serve
from tests.conftest import Project

MANIFEST = """\
version: 1
defaults:
  model: local
targets:
  - name: poster
    prompt: a glass teapot, studio light
    negativePrompt: blurry
    width: 96
    height: 64
    output: out/poster.png
  - name: photo
    prompt: a rain-slick street at night
    width: 80
    height: 80
    seed: 11
    numberResults: 2
    output: out/photo.jpg
  - name: logo
    prompt: a teal logo mark, 東京
    width: 48
    height: 48
    output: out/logo.webp
  - name: poster-small
    from: poster
    transform:
      - resize: {width: 48, height: 32}
      - format: {type: WEBP, quality: 80}
    output: out/poster-small.webp
"""

PREVIEWED = """\
version: 1
targets:
  - name: hero
    model: "{model}"
    prompt: a lighthouse at dusk
    width: 256
    height: 192
    seed: 5
    output: out/hero.png
"""

KEY = "rw-show-key-8d1f0e2c3b4a59687766554433221100"


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def test_show_explains_every_output_of_a_build(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    for name, entry in project.locked().items():
        for index, output in enumerate(entry["outputs"], start=1):
            result = project.run("show", "--json", output["path"])
            assert result.code == 0, result.err
            origin = result.json()["origin"]
            assert (origin["target"], origin["output"]) == (name, index)
            assert origin["fingerprint"] == entry["fingerprint"]
            assert origin["manifest"] == "imagebuild.yaml"
            assert origin["preview"] is False
            if name != "poster-small":
                assert (origin["seed"], origin["provider"]) == (entry["seed"], "local")
    shown = project.run("show", "out/photo-2.jpg")
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0] == "out/photo-2.jpg: JPEG 80x80, made by imagebuild"
    assert "  target       photo (output 2)" in lines
    assert "  prompt       a rain-slick street at night" in lines
    assert "  seed         11" in lines
    logo = project.run("show", "out/logo.webp").out
    assert "  prompt       a teal logo mark, 東京" in logo.splitlines()


def test_a_copy_far_from_its_manifest_still_explains_itself(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.write(MANIFEST)
    project.build()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(project.root / "out/poster.png", elsewhere / "found.png")
    with inside(elsewhere):
        result = project.run("show", "found.png")
    assert result.code == 0, result.err
    assert "  manifest     imagebuild.yaml" in result.out.splitlines()
    assert "  negative     blurry" in result.out.splitlines()


def test_a_derived_output_names_its_source_transforms_and_their_origin(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    lines = project.run("show", "out/poster-small.webp").out.splitlines()
    assert lines[1:3] == ["  target       poster-small", "  manifest     imagebuild.yaml"]
    assert (
        lines[3]
        == "  derived      from poster: resize(height=32, width=48); format(quality=80, type=WEBP)"
    )
    assert "  poster:" in lines
    nested = lines[lines.index("  poster:") + 1 :]
    assert nested[0] == "    target       poster"
    assert "    prompt       a glass teapot, studio light" in nested
    with Image.open(project.root / "out/poster-small.webp") as image:
        assert (
            image.getexif()
            .get_ifd(0x8769)[0x9286]
            .startswith(b"ASCII\0\0\0a glass teapot, studio light\nNegative prompt: blurry\n")
        )


def test_the_same_build_in_two_fresh_folders_gives_identical_files(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outputs = {}
    for attempt in ("first", "second"):
        folder = tmp_path_factory.mktemp(attempt)
        # Seeds given: a seed the first build draws differs from one build to the next.
        seeded = MANIFEST.replace("  model: local\n", "  model: local\n  seed: 3\n", 1)
        (folder / "imagebuild.yaml").write_text(seeded)
        with inside(folder):
            result = project.run("build", "--json")
        assert result.code == 0, result.err
        outputs[attempt] = {
            path.relative_to(folder): path.read_bytes() for path in sorted(folder.glob("out/*"))
        }
    assert len(outputs["first"]) == 5
    assert outputs["first"] == outputs["second"]


def test_a_preview_says_so_in_its_metadata_and_on_its_pixels(project: Project) -> None:
    project.write(PREVIEWED.format(model="runware:101@1"))
    project.build("--provider", "local")
    origin = project.run("show", "--json", "out/hero.png").json()["origin"]
    assert (origin["preview"], origin["provider"], origin["model"]) == (
        True,
        "local",
        "runware:101@1",
    )
    readable = project.run("show", "out/hero.png").out.splitlines()
    assert (
        "  preview      yes: a draft drawn by the local renderer in place of runware:101@1,"
        " not that model's output"
    ) in readable
    preview = (project.root / "out/hero.png").read_bytes()
    with Image.open(io.BytesIO(preview)) as image:
        assert image.info["parameters"].endswith(", Preview: true")
        marked = image.convert("RGB")
    project.write(PREVIEWED.format(model="local"))
    project.build()
    assert project.run("show", "--json", "out/hero.png").json()["origin"]["preview"] is False
    with Image.open(project.root / "out/hero.png") as image:
        plain = image.convert("RGB")
    changed = ImageChops.difference(marked, plain).getbbox()
    assert changed is not None
    left, top, right, bottom = changed
    assert (left, right) == (0, 256)
    assert 60 < top < 96 < bottom < 132


def test_a_file_without_provenance(project: Project) -> None:
    Image.new("RGB", (8, 8)).save(project.root / "plain.png")
    result = project.run("show", "plain.png")
    assert (result.code, result.out, result.err) == (1, "", "plain.png: no imagebuild provenance\n")
    assert project.run("show", "--json", "plain.png").code == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("imagebuild.yaml", b"version: 1\n", "imagebuild.yaml: not a PNG, JPEG or WEBP image"),
        ("cut.png", None, "cut.png: PNG chunk b'IDAT' at byte 33 is truncated"),
        ("absent.png", None, "absent.png: no such file"),
        ("out", None, "out: is a folder, not an image"),
    ],
)
def test_what_is_not_an_image_gets_one_located_line(
    project: Project, name: str, content: bytes | None, message: str
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "PNG")
    (project.root / "out").mkdir()
    if name == "cut.png":
        (project.root / name).write_bytes(buffer.getvalue()[:50])
    elif content is not None:
        (project.root / name).write_bytes(content)
    result = project.run("show", name)
    assert (result.code, result.err) == (1, message + "\n")


def test_a1111_parameters_from_another_tool_are_recognised(project: Project) -> None:
    text = (
        "masterpiece, a castle\nNegative prompt: lowres\n"
        "Steps: 28, Sampler: DPM++ 2M, CFG scale: 6.5, Seed: 31, Size: 64x64, Model: sd15"
    )
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (64, 64)).save(project.root / "a1111.png", pnginfo=info)
    result = project.run("show", "a1111.png")
    assert result.code == 0
    assert result.out.splitlines() == [
        "a1111.png: PNG 64x64, A1111 parameters written by another tool",
        "  prompt       masterpiece, a castle",
        "  negative     lowres",
        "  Steps        28",
        "  Sampler      DPM++ 2M",
        "  CFG scale    6.5",
        "  Seed         31",
        "  Size         64x64",
        "  Model        sd15",
    ]
    document = project.run("show", "--json", "a1111.png").json()
    assert document["origin"] is None
    assert document["parameters"]["settings"]["Sampler"] == "DPM++ 2M"
    assert document["parameters"]["text"] == text


def test_a_damaged_record_is_reported(project: Project) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("imagebuild", '{"target": "a", "provider": 3}')
    Image.new("RGB", (8, 8)).save(project.root / "odd.png", pnginfo=info)
    result = project.run("show", "odd.png")
    assert (result.code, result.err) == (
        1,
        "odd.png: imagebuild record is not valid: provider is 3, not str\n",
    )


def test_a_runware_build_records_its_task_and_image_ids(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """\
version: 1
providers:
  runware: {pollFirst: 0.05, pollInterval: 0.05}
targets:
  - name: big
    model: "imagineart:1@5"
    prompt: a neon alley
    width: 2048
    height: 2048
    output: out/big.webp
  - name: small
    model: "runware:101@1"
    prompt: a small tile
    width: 128
    height: 128
    steps: 20
    output: out/small.png
"""
    )
    with serve(RunwareEmulator(api_key=KEY, faults=Faults(latency=0.05))) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        project.build()
    for name, entry in project.locked().items():
        (output,) = entry["outputs"]
        data = (project.root / output["path"]).read_bytes()
        assert KEY.encode() not in data
        assert output["content"] != output["sha256"]
        origin = project.run("show", "--json", output["path"]).json()["origin"]
        assert origin["target"] == name
        assert origin["taskUUID"] == entry["taskUUID"]
        assert origin["imageUUID"] == output["imageUUID"]
        assert (origin["provider"], origin["preview"]) == ("runware", False)
    assert "  steps        20" in project.run("show", "out/small.png").out.splitlines()
