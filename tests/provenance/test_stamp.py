"""The executor's side: an origin from a planned step, stamped into memory or a staged file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagebuild.pipeline import open_session
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import PlanOptions, Step, make_plan
from imagebuild.provenance.origin import DERIVED
from imagebuild.provenance.reading import origin_in, read_image
from imagebuild.provenance.stamp import manifest_label, origin_of, stamp
from imagebuild.providers.base import GeneratedImage
from tests.conftest import Project
from tests.provenance.conftest import IMAGES, ORIGIN, embedded, found, pixels

MANIFEST = """\
version: 1
targets:
  - name: hero
    model: "runware:101@1"
    prompt: a glass   teapot
    negativePrompt: blurry
    width: 1024
    height: 1024
    steps: 30
    CFGScale: 7
    scheduler: Euler a
    output: out/hero.png
  - name: hero-small
    from: hero
    transform:
      - resize: {width: 48, height: 32}
    output: out/hero-small.png
"""


def planned(project: Project) -> dict[str, Step]:
    project.write(MANIFEST)
    session = open_session("imagebuild.yaml")
    workspace = session.workspace
    lock = LockFile.read(workspace.lock_path)
    plan = make_plan(
        session.targets, lock, workspace.stat_cache(), workspace.cache(), PlanOptions()
    )
    return {step.name: step for step in plan.steps}


def test_the_origin_of_a_generated_output(project: Project) -> None:
    step = planned(project)["hero"]
    image = GeneratedImage(data=IMAGES["png"](), image_uuid="img-1", seed=1234)
    origin = origin_of(step, 1, image, task_id="task-1", manifest=project.manifest, source=None)
    assert origin.to_json() == {
        "target": "hero",
        "provider": "runware",
        "fingerprint": step.fingerprint,
        "output": 1,
        "manifest": "imagebuild.yaml",
        "model": "runware:101@1",
        "prompt": "a glass teapot",
        "negativePrompt": "blurry",
        "seed": 1234,
        "width": 96,
        "height": 64,
        "steps": 30,
        "CFGScale": 7,
        "scheduler": "Euler a",
        "taskUUID": "task-1",
        "imageUUID": "img-1",
        "preview": False,
    }


def test_the_origin_of_a_derived_output_carries_its_source(project: Project) -> None:
    steps = planned(project)
    upstream = project.root / "out/hero.png"
    upstream.parent.mkdir()
    upstream.write_bytes(embedded(IMAGES["png"]()))
    derived = GeneratedImage(data=IMAGES["webp-lossy"]())
    origin = origin_of(
        steps["hero-small"], 1, derived, task_id=None, manifest=None, source=upstream
    )
    assert (origin.provider, origin.source, origin.upstream) == (DERIVED, "hero", ORIGIN)
    assert origin.transform == [{"resize": {"width": 48, "height": 32}}]
    assert (origin.manifest, origin.task_uuid) == (None, None)
    upstream.write_bytes(IMAGES["png"]())
    again = origin_of(steps["hero-small"], 1, derived, task_id=None, manifest=None, source=upstream)
    assert again.upstream is None


def test_bytes_are_stamped_and_their_delivered_digest_kept() -> None:
    delivered = IMAGES["jpeg"]()
    stamped = stamp(GeneratedImage(data=delivered, image_uuid="img-1"), ORIGIN)
    assert stamped.image.data == embedded(delivered)
    assert stamped.image.image_uuid == "img-1"
    assert stamped.content == hashlib.sha256(delivered).hexdigest()


def test_a_staged_file_is_rewritten_in_place(tmp_path: Path) -> None:
    delivered = IMAGES["webp-lossless"]()
    staged = tmp_path / "task-0.webp"
    staged.write_bytes(delivered)
    stamped = stamp(GeneratedImage(staged=staged), ORIGIN)
    assert stamped.image.staged == staged
    assert staged.read_bytes() == embedded(delivered)
    assert stamped.content == hashlib.sha256(delivered).hexdigest()
    assert origin_in(staged) == ORIGIN
    assert [path.name for path in tmp_path.iterdir()] == ["task-0.webp"]


def test_what_cannot_take_metadata_is_written_as_delivered(tmp_path: Path) -> None:
    avif = b"\x00\x00\x00\x1cftypavif" + bytes(64)
    stamped = stamp(GeneratedImage(data=avif), ORIGIN)
    assert stamped.image.data == avif
    assert stamped.content == hashlib.sha256(avif).hexdigest()
    broken = tmp_path / "task-0.png"
    broken.write_bytes(IMAGES["png"]()[:60])
    stamp(GeneratedImage(staged=broken), ORIGIN)
    assert broken.read_bytes() == IMAGES["png"]()[:60]
    assert [path.name for path in tmp_path.iterdir()] == ["task-0.png"]


def test_the_manifest_is_named_from_the_top_of_its_git_work_tree(tmp_path: Path) -> None:
    manifest = tmp_path / "repo" / "campaigns" / "spring.yaml"
    manifest.parent.mkdir(parents=True)
    assert manifest_label(manifest) == "spring.yaml"
    (tmp_path / "repo" / ".git").write_text("gitdir: elsewhere\n")
    other = tmp_path / "repo" / "campaigns" / "summer.yaml"
    assert manifest_label(other) == "campaigns/summer.yaml"


def test_read_image_reports_size_and_format(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(embedded(IMAGES["jpeg-progressive"]()))
    result = read_image(path)
    assert (result.format, result.width, result.height) == ("JPEG", 96, 64)
    assert result == found(path.read_bytes())
    assert pixels(path.read_bytes()) == pixels(IMAGES["jpeg-progressive"]())
