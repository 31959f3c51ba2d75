"""Cross-field rules of seed 004: each refuses what the seed forbids, accepts what
it leaves open, and is reported at its manifest field before anything is spent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagebuild.emulators import RunwareEmulator, serve
from imagebuild.registry.models import builtin_registry
from imagebuild.registry.rules import file_sizes
from imagebuild.registry.validation import ImageSizes, find_problems
from tests.conftest import Project
from tests.schemas.test_model_schemas import inference_reference_blocks, needs_seeds

RUNWARE = builtin_registry().find("runware", "runware:101@1")
LOCAL = builtin_registry().find("local", "local")
GUIDE = {"model": "runware:25@1", "guideImage": "9d7271cb-1be3-4607-88af-d039d771e5aa"}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "runware:101@1", "positivePrompt": "a red fox", **fields}


def found(fields: dict[str, Any], sizes: ImageSizes | None = None) -> list[tuple[Any, str]]:
    return [(problem.path, problem.message) for problem in find_problems(RUNWARE, fields, sizes)]


# ------------------------------------------------------------------ steps


def test_a_controlnet_ends_after_it_starts() -> None:
    control = {**GUIDE, "startStep": 10, "endStep": 10}
    assert found(request(steps=30, controlNet=[{**GUIDE}, control])) == [
        (("controlNet", 1, "endStep"), "controlNet.1.endStep: 10 must be above startStep 10")
    ]
    assert found(request(steps=30, controlNet=[{**control, "endStep": 11}])) == []


def test_a_controlnet_stays_within_the_steps() -> None:
    control = {**GUIDE, "startStep": 26, "endStep": 30}
    assert found(request(steps=25, controlNet=[control])) == [
        (("controlNet", 0, "startStep"), "controlNet.0.startStep: 26 is more than steps (25)"),
        (("controlNet", 0, "endStep"), "controlNet.0.endStep: 30 is more than steps (25)"),
    ]
    assert found(request(steps=30, controlNet=[control])) == []


def test_without_steps_the_documented_default_of_20_bounds_them() -> None:
    assert found(request(controlNet=[{**GUIDE, "endStep": 21}])) == [
        (
            ("controlNet", 0, "endStep"),
            "controlNet.0.endStep: 21 is more than steps (20, the default)",
        )
    ]
    assert found(request(controlNet=[{**GUIDE, "endStep": 20}])) == []


def test_an_acceleration_preset_chooses_the_steps_so_no_bound_is_assumed() -> None:
    assert found(request(acceleration="high", controlNet=[{**GUIDE, "endStep": 40}])) == []
    assert found(request(acceleration="none", controlNet=[{**GUIDE, "endStep": 40}])) != []


def test_controlnet_percentages_end_after_they_start() -> None:
    control = {**GUIDE, "startStepPercentage": 50, "endStepPercentage": 40}
    assert found(request(controlNet=[control])) == [
        (
            ("controlNet", 0, "endStepPercentage"),
            "controlNet.0.endStepPercentage: 40 must be above startStepPercentage 50",
        )
    ]
    assert found(request(controlNet=[{**control, "endStepPercentage": 100}])) == []


def test_the_refiner_starts_within_the_steps() -> None:
    assert found(
        request(steps=35, refiner={"model": "civitai:101055@128080", "startStep": 36})
    ) == [(("refiner", "startStep"), "refiner.startStep: 36 is more than steps (35)")]
    assert (
        found(request(steps=35, refiner={"model": "civitai:101055@128080", "startStep": 35})) == []
    )


def test_accelerator_caching_ends_after_it_starts_and_within_the_steps() -> None:
    assert found(request(acceleratorOptions={"cacheStartStep": 8, "cacheEndStep": 8})) == [
        (
            ("acceleratorOptions", "cacheEndStep"),
            "acceleratorOptions.cacheEndStep: 8 must be above cacheStartStep 8",
        )
    ]
    assert found(request(steps=12, acceleratorOptions={"cacheEndStep": 13})) == [
        (
            ("acceleratorOptions", "cacheEndStep"),
            "acceleratorOptions.cacheEndStep: 13 is more than steps (12)",
        )
    ]
    percentages = {"cacheStartStepPercentage": 60, "cacheEndStepPercentage": 60}
    assert found(request(acceleratorOptions=percentages)) == [
        (
            ("acceleratorOptions", "cacheEndStepPercentage"),
            "acceleratorOptions.cacheEndStepPercentage: 60 must be above"
            " cacheStartStepPercentage 60",
        )
    ]
    assert (
        found(request(steps=12, acceleratorOptions={"cacheStartStep": 0, "cacheEndStep": 12})) == []
    )


# ------------------------------------------------------------------ reference images


def test_ace_plus_plus_takes_one_reference_image() -> None:
    ace = {"model": "runware:102@1", "acePlusPlus": {"type": "portrait"}}
    assert found(request(**ace, referenceImages=["a", "b"])) == [
        (("referenceImages", 1), "referenceImages: 2 images, but ACE++ takes at most 1")
    ]
    assert found(request(**ace, referenceImages=["a"])) == []


def test_flux_kontext_takes_two_reference_images() -> None:
    kontext = request(model="runware:106@1", referenceImages=["a", "b", "c"])
    assert found(kontext) == [
        (("referenceImages", 2), "referenceImages: 3 images, but FLUX.1 Kontext takes at most 2")
    ]
    assert found({**kontext, "referenceImages": ["a", "b"]}) == []


def test_models_the_table_does_not_name_are_not_refused_reference_images() -> None:
    # The table says "Other models: Not supported", yet the same page documents ByteDance
    # models taking reference images: a model id alone cannot tell, so the API decides.
    assert found(request(model="bytedance:5@0", referenceImages=["a"] * 10)) == []


def test_bytedance_reference_and_sequential_images_stay_within_15() -> None:
    settings = {"bytedance": {"maxSequentialImages": 11}}
    assert found(request(referenceImages=["a"] * 5, providerSettings=settings)) == [
        (
            ("providerSettings", "bytedance", "maxSequentialImages"),
            "providerSettings.bytedance.maxSequentialImages: 11 plus 5 reference images is"
            " more than 15",
        )
    ]
    assert found(request(referenceImages=["a"] * 4, providerSettings=settings)) == []


# ------------------------------------------------------------------ outpaint


def outpaint(width: int, height: int) -> dict[str, Any]:
    return request(
        seedImage="seed.png",
        width=width,
        height=height,
        outpaint={"top": 128, "bottom": 64, "left": 64},
    )


def seed_size(path: Any) -> tuple[int, int] | None:
    return (960, 832) if path == ("seedImage",) else None


def test_outpaint_sizes_are_the_seed_image_plus_the_extensions() -> None:
    assert found(outpaint(1024, 1024), seed_size) == []
    assert found(outpaint(1088, 1088), seed_size) == [
        (
            ("width",),
            "width: 1088 should be 1024, the seed image's width 960 plus outpaint left 64"
            " and right 0",
        ),
        (
            ("height",),
            "height: 1088 should be 1024, the seed image's height 832 plus outpaint top 128"
            " and bottom 64",
        ),
    ]


def test_outpaint_is_not_judged_without_the_seed_images_size() -> None:
    assert found(outpaint(1088, 1088)) == []
    assert found(outpaint(1088, 1088), lambda path: None) == []


def test_the_rules_are_runwares_not_the_local_renderers() -> None:
    # The local renderer fits any seed image into any outpainted size.
    local = {"model": "local", "positivePrompt": "a fox", "seedImage": "seed.png"}
    local |= {"width": 100, "height": 100, "outpaint": {"left": 10}}
    assert find_problems(LOCAL, local, seed_size) == []


def test_file_sizes_read_the_header_of_local_inputs(tmp_path: Path) -> None:
    Image.new("RGB", (40, 24)).save(tmp_path / "seed.webp", "WEBP")
    (tmp_path / "notes.png").write_text("not an image")
    sizes = file_sizes(tmp_path, {("seedImage",): "seed.webp", ("maskImage",): "notes.png"})
    assert sizes(("seedImage",)) == (40, 24)
    assert sizes(("maskImage",)) is None
    assert sizes(("referenceImages", 0)) is None


# ------------------------------------------------------------------ the seed's own examples


@needs_seeds
def test_every_example_request_of_seed_004_meets_the_rules() -> None:
    examples = [
        example
        for example in inference_reference_blocks()["requests"]
        if builtin_registry().find("runware", example["model"]) is RUNWARE
    ]
    assert len(examples) >= 21
    for example in examples:
        fields = {key: value for key, value in example.items() if key != "taskUUID"}
        assert find_problems(RUNWARE, fields) == [], example


# ------------------------------------------------------------------ located, before money


WIDE = """\
  - name: wide
    model: runware:101@1
    prompt: a forest
    seedImage: seed.png
    width: 1024
    height: 1088
    outpaint: {top: 128, left: 64}
"""
MANIFEST = (
    """\
version: 1
targets:
  - name: guided
    model: runware:101@1
    prompt: a forest
    steps: 25
    controlNet:
      - model: runware:25@1
        guideImage: guide.png
        endStep: 30
  - name: refined
    model: runware:101@1
    prompt: a wizard
    refiner: {model: "civitai:101055@128080", startStep: 30}
  - name: cached
    model: runware:101@1
    prompt: a forest
    steps: 12
    acceleratorOptions: {cacheStartStep: 4, cacheEndStep: 4}
  - name: ace
    model: runware:102@1
    prompt: a chef
    referenceImages: [guide.png, guide.png]
    acePlusPlus: {type: portrait}
  - name: glass
    model: runware:101@1
    prompt: a crystal glass
    advancedFeatures: {layerDiffuse: true}
"""
    + WIDE
)
LOCATED = [
    "imagebuild.yaml:10:18: target guided: controlNet.0.endStep: 30 is more than steps (25)",
    "imagebuild.yaml:14:58: target refined: refiner.startStep: 30 is more than steps (20, the default)",
    "imagebuild.yaml:19:59: target cached: acceleratorOptions.cacheEndStep: 4 must be above cacheStartStep 4",
    "imagebuild.yaml:23:34: target ace: referenceImages: 2 images, but ACE++ takes at most 1",
    "imagebuild.yaml:28:38: target glass: advancedFeatures.layerDiffuse makes images with"
    " transparency, which JPG cannot hold: ask for PNG or WEBP",
    "imagebuild.yaml:34:13: target wide: height: 1088 should be 1024, the seed image's height"
    " 896 plus outpaint top 128 and bottom 0",
]


def write_project(project: Project) -> None:
    project.write(MANIFEST)
    Image.new("RGB", (960, 896), "green").save(project.root / "seed.png")
    Image.new("L", (64, 64)).save(project.root / "guide.png")


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_each_rule_is_one_line_at_its_manifest_field(project: Project, command: str) -> None:
    write_project(project)
    result = project.run(command)
    assert result.code == 1
    assert result.err.splitlines() == LOCATED
    assert "Traceback" not in result.err


def test_a_build_breaking_a_rule_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project)
    emulator = RunwareEmulator()
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", "rw-rules-key-0123456789")
        result = project.run("build")
    assert result.code == 1
    assert result.err.splitlines() == LOCATED
    assert emulator.stats.snapshot()["requests"] == 0
    assert not project.lock.exists()


STEPS_ONLY = """\
version: 1
targets:
  - name: guided
    model: runware:101@1
    prompt: a forest
    controlNet: [{model: "runware:25@1", guideImage: guide.png, endStep: 30}]
"""
OUTPAINT_ONLY = "version: 1\ntargets:\n" + WIDE


@pytest.mark.parametrize(("manifest", "imported"), [(STEPS_ONLY, False), (OUTPAINT_ONLY, True)])
def test_only_a_size_rule_on_a_local_file_imports_pillow(
    tmp_path: Path, manifest: str, imported: bool
) -> None:
    Image.new("RGB", (960, 896)).save(tmp_path / "seed.png")
    Image.new("L", (8, 8)).save(tmp_path / "guide.png")
    (tmp_path / "imagebuild.yaml").write_text(manifest)
    script = (
        "import sys\n"
        "from imagebuild.cli import main\n"
        "print(main(['validate']), 'PIL' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert run.stdout.split() == ["1", str(imported)]
    assert "more than steps" in run.stderr or "should be 1024" in run.stderr
