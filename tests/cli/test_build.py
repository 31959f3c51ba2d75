"""The build cycle as a user meets it: build, change, rebuild only what changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from PIL import Image

from tests.conftest import Project

CAMPAIGN = """\
version: 1
vars:
  brand: Acme
defaults:
  model: local
targets:
  - name: "poster-{{ city }}"
    matrix:
      city: [tokyo, paris]
    prompt: "{{ brand }} poster of {{ city }} at night"
    width: 96
    height: 64
    output: "out/{{ city }}.png"
  - name: logo
    prompt: "{{ brand }} logo, flat vector"
    width: 48
    height: 48
    seed: 7
    output: out/logo.webp
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_writes_images_and_lock(project: Project) -> None:
    project.write(CAMPAIGN)
    report = project.build()
    assert report["summary"]["generated"] == 3
    with Image.open(project.root / "out/tokyo.png") as image:
        assert (image.size, image.format) == ((96, 64), "PNG")
    with Image.open(project.root / "out/logo.webp") as image:
        assert (image.size, image.format) == ((48, 48), "WEBP")
    locked = project.locked()
    assert sorted(locked) == ["logo", "poster-paris", "poster-tokyo"]
    assert locked["logo"]["seed"] == 7
    assert locked["logo"]["outputs"][0]["sha256"] == digest(project.root / "out/logo.webp")
    assert isinstance(locked["poster-tokyo"]["seed"], int)


def test_second_build_keeps_everything(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    lock_before = project.lock.read_bytes()
    assert set(project.actions().values()) == {"keep"}
    report = project.build()
    assert report["summary"]["generated"] == 0
    assert report["summary"]["kept"] == 3
    assert project.lock.read_bytes() == lock_before


def test_prompt_change_regenerates_exactly_that_target(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    before = digest(project.root / "out/logo.webp")
    seed_before = project.locked()["poster-tokyo"]["seed"]
    project.write(CAMPAIGN.replace("logo, flat vector", "logo, embossed"))
    plan = project.plan()
    work = [t for t in plan["targets"] if t["action"] != "keep"]
    assert [(t["name"], t["action"], t["reasons"]) for t in work] == [
        ("logo", "generate", ["prompt changed"])
    ]
    report = project.build()
    assert report["summary"]["generated"] == 1
    assert digest(project.root / "out/logo.webp") != before
    assert project.locked()["poster-tokyo"]["seed"] == seed_before


def test_whitespace_in_prompt_changes_nothing(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    project.write(
        CAMPAIGN.replace(
            '"{{ brand }} logo, flat vector"', '"  {{ brand }}   logo,\\n flat vector "'
        )
    )
    assert set(project.actions().values()) == {"keep"}


def test_matrix_change_adds_and_removes_exactly_the_affected_targets(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    project.write(CAMPAIGN.replace("[tokyo, paris]", "[tokyo, lagos]"))
    actions = project.actions()
    assert actions == {"poster-tokyo": "keep", "poster-lagos": "generate", "logo": "keep"}
    report = project.build()
    assert report["summary"]["generated"] == 1
    # The lock keeps what left the manifest until `clean` removes its files.
    assert sorted(project.locked()) == ["logo", "poster-lagos", "poster-paris", "poster-tokyo"]
    assert project.plan()["removed"] == ["poster-paris"]
    paris = project.root / project.locked()["poster-paris"]["outputs"][0]["path"]
    assert paris.is_file()
    assert project.run("clean").code == 0
    assert not paris.exists()
    assert sorted(project.locked()) == ["logo", "poster-lagos", "poster-tokyo"]
    assert project.plan()["removed"] == []


def test_renamed_output_is_restored_from_cache(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    original = digest(project.root / "out/logo.webp")
    project.write(CAMPAIGN.replace("output: out/logo.webp", "output: brand/logo-main.webp"))
    plan = project.plan()
    step = next(t for t in plan["targets"] if t["name"] == "logo")
    assert step["action"] == "restore"
    assert step["reasons"] == ["output path changed out/logo.webp -> brand/logo-main.webp"]
    report = project.build()
    assert (report["summary"]["restored"], report["summary"]["generated"]) == (1, 0)
    assert digest(project.root / "brand/logo-main.webp") == original


def test_deleted_output_is_restored_without_generating(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    original = digest(project.root / "out/paris.png")
    (project.root / "out/paris.png").unlink()
    plan = project.plan()
    step = next(t for t in plan["targets"] if t["name"] == "poster-paris")
    assert (step["action"], step["reasons"]) == ("restore", ["output missing: out/paris.png"])
    report = project.build()
    assert (report["summary"]["restored"], report["summary"]["generated"]) == (1, 0)
    assert digest(project.root / "out/paris.png") == original


def test_modified_output_is_restored(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    original = digest(project.root / "out/paris.png")
    (project.root / "out/paris.png").write_bytes(b"edited by hand")
    step = next(t for t in project.plan()["targets"] if t["name"] == "poster-paris")
    assert (step["action"], step["reasons"]) == ("restore", ["output modified: out/paris.png"])
    project.build()
    assert digest(project.root / "out/paris.png") == original


def test_reverted_prompt_restores_the_earlier_image(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    original = digest(project.root / "out/logo.webp")
    project.write(CAMPAIGN.replace("flat vector", "watercolour"))
    project.build()
    assert digest(project.root / "out/logo.webp") != original
    project.write(CAMPAIGN)
    step = next(t for t in project.plan()["targets"] if t["name"] == "logo")
    assert (step["action"], step["reasons"]) == ("restore", ["prompt changed"])
    report = project.build()
    assert (report["summary"]["restored"], report["summary"]["generated"]) == (1, 0)
    assert digest(project.root / "out/logo.webp") == original


def test_field_change_reason_names_old_and_new_value(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    project.write(CAMPAIGN.replace("width: 48", "width: 64"))
    step = next(t for t in project.plan()["targets"] if t["name"] == "logo")
    assert step["reasons"] == ["width changed 48 -> 64"]


def test_local_provider_is_deterministic_across_projects(
    project: Project, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    project.write(CAMPAIGN)
    project.build()
    first = digest(project.root / "out/logo.webp")
    other = tmp_path_factory.mktemp("other")
    (other / "imagebuild.yaml").write_text(CAMPAIGN)
    assert project.run("build", str(other / "imagebuild.yaml")).code == 0
    assert digest(other / "out/logo.webp") == first


def test_number_results_gives_several_outputs(project: Project) -> None:
    project.write(CAMPAIGN.replace("seed: 7", "seed: 7\n    numberResults: 3"))
    project.build()
    paths = [project.root / f"out/logo-{i}.webp" for i in (1, 2, 3)]
    assert len({digest(path) for path in paths}) == 3
    assert [o["path"] for o in project.locked()["logo"]["outputs"]] == [
        "out/logo-1.webp",
        "out/logo-2.webp",
        "out/logo-3.webp",
    ]


def test_force_regenerates_and_reseed_draws_new_seeds(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    seed = project.locked()["poster-tokyo"]["seed"]
    forced = project.build("--force")
    assert forced["summary"]["generated"] == 3
    assert project.locked()["poster-tokyo"]["seed"] == seed
    project.build("--reseed")
    assert project.locked()["poster-tokyo"]["seed"] != seed
    assert project.locked()["logo"]["seed"] == 7


def test_target_selection_by_name_and_glob(project: Project) -> None:
    project.write(CAMPAIGN)
    report = project.build("-t", "poster-*")
    assert sorted(t["name"] for t in report["targets"]) == ["poster-paris", "poster-tokyo"]
    assert sorted(project.locked()) == ["poster-paris", "poster-tokyo"]
    assert project.actions("-t", "logo") == {"logo": "generate"}
    result = project.run("plan", "-t", "logoo")
    assert result.code == 2
    assert result.err == "-t logoo: no target of imagebuild.yaml matches (closest: logo)\n"


def test_build_json_shape(project: Project) -> None:
    project.write(CAMPAIGN)
    report = project.build()
    assert set(report) == {"targets", "summary"}
    assert set(report["summary"]) == {
        "kept",
        "restored",
        "generated",
        "derived",
        "failed",
        "skipped",
        "cost",
        "unpriced",
        "owed",
        "possiblyBilled",
        "lost",
        "nsfw",
        "interrupted",
        "notStarted",
        "waited",
        "seconds",
    }
    assert report["summary"]["lost"] == 0
    for target in report["targets"]:
        assert set(target) == {
            "name",
            "action",
            "status",
            "cost",
            "error",
            "owed",
            "nsfw",
            "waitedFor",
        }
        assert target["status"] == "ok"


def test_plan_json_shape(project: Project) -> None:
    project.write(CAMPAIGN)
    plan = project.plan()
    assert set(plan) == {"targets", "removed", "summary"}
    assert set(plan["summary"]) == {
        "keep",
        "restore",
        "generate",
        "derive",
        "estimatedCost",
        "unpriced",
        "removed",
    }
    for target in plan["targets"]:
        assert set(target) == {"name", "action", "reasons", "estimatedCost", "outputs"}


def test_frozen_refuses_and_writes_nothing(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    (project.root / "out/paris.png").unlink()
    project.write(CAMPAIGN.replace("flat vector", "embossed"))
    state = project.root / ".imagebuild"
    before = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    lock_before = project.lock.read_bytes()
    result = project.run("build", "--frozen")
    assert result.code == 1
    assert "--frozen" in result.err and "logo" in result.err and "poster-paris" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert project.lock.read_bytes() == lock_before
    assert not (project.root / "out/paris.png").exists()
    assert {p: p.read_bytes() for p in state.rglob("*") if p.is_file()} == before


def test_frozen_passes_when_up_to_date(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    assert project.run("build", "--frozen").code == 0


def test_frozen_notices_targets_removed_from_the_manifest(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    project.write(CAMPAIGN.replace("[tokyo, paris]", "[tokyo]"))
    result = project.run("build", "--frozen")
    assert result.code == 1
    assert "poster-paris (removed from the manifest)" in result.err


PRICED = """\
version: 1
targets:
  - name: "hero-{{ n }}"
    matrix:
      n: [1, 2, 3, 4]
    model: "imagineart:1@5"
    prompt: "hero image number {{ n }}"
    width: 2048
    height: 2048
"""


def test_max_cost_refuses_before_spending(project: Project) -> None:
    project.write(PRICED)
    assert project.plan()["summary"]["estimatedCost"] == 0.12
    result = project.run("build", "--max-cost", "0.10")
    assert result.code == 1
    assert result.err.strip() == (
        "--max-cost: estimated cost $0.1200 exceeds $0.1000; nothing was generated"
    )
    assert not project.lock.exists()
    assert not (project.root / "out").exists()


def test_max_cost_allows_what_fits(project: Project) -> None:
    project.write(PRICED)
    result = project.run("build", "--max-cost", "1", "--provider", "local", "--json")
    assert result.code == 0, result.err
    assert orjson.loads(result.out)["summary"]["generated"] == 4


def test_provider_local_previews_at_the_requested_size(project: Project) -> None:
    project.write(PRICED.replace("[1, 2, 3, 4]", "[1]"))
    project.build("--provider", "local")
    with Image.open(project.root / "out/hero-1.jpg") as image:
        assert (image.size, image.format) == ((2048, 2048), "JPEG")
    assert project.locked()["hero-1"]["provider"] == "local"


def test_default_manifest_is_imagebuild_yaml_in_the_current_folder(project: Project) -> None:
    project.write(CAMPAIGN)
    result = project.run("validate")
    assert (result.code, result.out.strip()) == (0, "imagebuild.yaml: 3 targets valid")


TAGGED = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - {name: a, prompt: one, tags: [hero, spring]}
  - {name: b, prompt: two, tags: [spring]}
  - {name: c, prompt: three}
"""


def test_targets_are_selected_by_tag(project: Project) -> None:
    project.write(TAGGED)
    assert sorted(project.actions("-t", "tag:spring")) == ["a", "b"]
    assert sorted(project.actions("-t", "tag:her*")) == ["a"]
    result = project.run("plan", "-t", "tag:sprong")
    assert (result.code, result.err.strip()) == (
        2,
        "-t tag:sprong: no tag of imagebuild.yaml matches (closest: spring)",
    )


def test_tags_must_be_a_list_of_names(project: Project) -> None:
    project.write(TAGGED.replace("tags: [spring]", "tags: spring"))
    result = project.run("validate")
    assert (result.code, result.err.strip()) == (
        1,
        "imagebuild.yaml:5:34: target b: tags must be a list of names",
    )


def test_force_of_identical_bytes_leaves_the_lock_unchanged(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    before = project.lock.read_bytes()
    report = project.build("--force")
    assert report["summary"]["generated"] == 3
    assert project.lock.read_bytes() == before


def test_the_state_folder_keeps_itself_out_of_git(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    ignore = project.root / ".imagebuild/.gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"


def test_frozen_under_json_answers_in_json(project: Project) -> None:
    project.write(CAMPAIGN)
    result = project.run("build", "--frozen", "--json")
    assert result.code == 1
    problem = result.json()["error"]
    assert problem["kind"] == "FrozenError"
    assert "--frozen but 3 targets would change" in problem["problems"][0]["message"]


def test_plan_previews_force_and_reseed(project: Project) -> None:
    project.write(CAMPAIGN)
    project.build()
    assert set(project.actions("--force").values()) == {"generate"}
    reseeded = {t["name"]: t for t in project.plan("--reseed")["targets"]}
    assert reseeded["logo"]["action"] == "keep"  # its seed is the manifest's
    assert reseeded["poster-tokyo"]["action"] == "generate"
    assert reseeded["poster-tokyo"]["reasons"][0].startswith("seed changed ")


PAID = """\
version: 1
targets:
  - name: generic
    model: "runware:101@1"
    prompt: a fox
  - name: priced
    model: "imagineart:1@5"
    prompt: a fox
    width: 2048
    height: 2048
"""


def test_unknown_prices_are_shown_and_refused_by_max_cost(project: Project) -> None:
    project.write(PAID)
    result = project.run("plan")
    assert "generate  generic  new target  unknown" in result.out
    assert "estimated cost $0.0300 + unknown for 1" in result.out
    summary = project.plan()["summary"]
    assert (summary["estimatedCost"], summary["unpriced"]) == (0.03, 1)
    refused = project.run("build", "--max-cost", "10")
    assert refused.code == 1
    assert "the price of generic is unknown" in refused.err
    assert "--allow-unknown-cost" in refused.err
    assert not project.lock.exists()


def test_allow_unknown_cost_needs_max_cost(project: Project) -> None:
    project.write(PAID)
    result = project.run("build", "--allow-unknown-cost")
    assert result.code == 2
    assert "--allow-unknown-cost goes with --max-cost" in result.err


def test_missing_credentials_are_all_reported_at_their_targets(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNWARE_API_KEY", raising=False)
    monkeypatch.delenv("RUNCOMFY_API_TOKEN", raising=False)
    project.write(
        PAID + "  - name: comfy\n    model: imagineart/imagineart-1.5-preview/text-to-image\n"
        "    prompt: a fox\n"
    )
    result = project.run("build")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "imagebuild.yaml:4:12: target generic: RUNWARE_API_KEY is not set:"
        " provider runware needs it for this target and 1 more",
        "imagebuild.yaml:12:12: target comfy: RUNCOMFY_API_TOKEN is not set:"
        " provider runcomfy needs it for this target",
    ]
    assert not project.lock.exists()
