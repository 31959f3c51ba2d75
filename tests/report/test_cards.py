"""Cards from a real session: plan, lock, files on disk and the baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebuild.planning.lock import LockFile
from imagebuild.report.cards import Card, Change, Output, Section
from tests.conftest import Project
from tests.report.conftest import planned_section

MANIFEST = """\
version: 1
defaults:
  model: local
targets:
  - name: master
    prompt: a glass teapot, studio light
    width: 32
    height: 32
    tags: [hero, "<b>bold</b>"]
    output: out/master.png
  - name: cut
    from: master
    transform:
      - resize: {width: 16, height: 16, fit: cover}
      - format: {type: WEBP}
    output: out/cut.webp
  - name: logo
    prompt: a logo
    width: 16
    height: 16
    seed: 7
    tags: [solo]
    output: out/logo.png
"""


def section(
    project: Project, baseline: LockFile | None = None, targets: list[str] | None = None
) -> Section:
    return planned_section(str(project.manifest), baseline, targets)


def by_name(section: Section) -> dict[str, Card]:
    return {card.name: card for card in section.cards}


def test_cards_of_a_built_manifest(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    locked = project.locked()
    cards = by_name(section(project))
    assert list(cards) == ["master", "cut", "logo"]  # the plan's dependency order
    master = cards["master"]
    assert (master.status, master.reasons, master.change, master.before) == ("keep", [], None, [])
    assert (master.provider, master.model) == ("local", "local")
    assert master.prompt == "a glass teapot, studio light"
    assert master.tags == ["hero", "<b>bold</b>"]
    assert master.seed == locked["master"]["seed"]
    assert master.cost == 0.0 and master.estimate is None
    assert master.built_at == locked["master"]["builtAt"]
    assert master.outputs == [Output("out/master.png", locked["master"]["outputs"][0]["sha256"])]
    assert (master.upstreams, master.derived) == ([], ["cut"])
    cut = cards["cut"]
    assert (cut.provider, cut.model, cut.prompt) == ("derive", "", "")
    assert cut.transform == ["resize", "format"]
    assert (cut.upstreams, cut.derived) == (["master"], [])
    assert cards["logo"].tags == ["solo"]
    assert cards["logo"].seed == 7


def test_work_to_do_shows_its_reasons_and_a_missing_output(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    (project.root / "out/logo.png").unlink()
    project.write(MANIFEST.replace("studio light", "candle light"))
    cards = by_name(section(project))
    assert (cards["master"].status, cards["master"].reasons) == ("generate", ["prompt changed"])
    assert cards["master"].estimate == 0.0
    assert cards["cut"].reasons == ["upstream master changed"]
    assert cards["logo"].reasons == ["output missing: out/logo.png"]
    assert cards["logo"].outputs == [Output("out/logo.png", None)]


def test_a_new_target_is_not_built_and_has_no_seed_yet(project: Project) -> None:
    project.write(MANIFEST)
    master = by_name(section(project))["master"]
    assert (master.status, master.seed, master.built_at, master.cost) == (
        "generate",
        None,
        "",
        None,
    )
    assert master.outputs == [Output("out/master.png", None)]


def test_changes_against_the_baseline(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    old = LockFile.read(project.lock)
    old_master = old.entries["master"]["outputs"][0]["sha256"]
    project.write(
        MANIFEST.replace("studio light", "candle light").replace("name: logo", "name: mark")
    )
    project.build()
    cards = by_name(section(project, old))
    assert cards["master"].change is Change.CHANGED
    assert cards["master"].before == [Output("out/master.png", old_master)]
    assert cards["cut"].change is Change.CHANGED
    assert cards["mark"].change is Change.NEW and cards["mark"].before == []
    removed = cards["logo"]
    assert (removed.status, removed.change, removed.outputs) == ("removed", Change.REMOVED, [])
    assert removed.reasons == ["removed from the manifest"]
    assert (removed.prompt, removed.seed, removed.provider, removed.model) == (
        "a logo",
        7,
        "local",
        "local",
    )
    assert removed.before == [Output("out/logo.png", old.entries["logo"]["outputs"][0]["sha256"])]
    assert list(cards)[-1] == "logo"


def test_an_unchanged_target_shows_no_earlier_image(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    cards = by_name(section(project, LockFile.read(project.lock)))
    assert {card.change for card in cards.values()} == {Change.UNCHANGED}
    assert all(card.before == [] for card in cards.values())


def test_only_the_outputs_that_differ_are_shown_before(project: Project) -> None:
    project.write(MANIFEST.replace("seed: 7", "seed: 7\n    numberResults: 2"))
    project.build()
    old = LockFile.read(project.lock)
    first = old.entries["logo"]["outputs"][0]
    old.entries["logo"]["outputs"][1]["sha256"] = "e" * 64
    logo = by_name(section(project, old))["logo"]
    assert logo.change is Change.CHANGED
    assert logo.before == [None, Output("out/logo-2.png", "e" * 64)]
    assert logo.outputs[0].sha256 == first["sha256"]


def test_removed_targets_only_when_every_target_is_selected(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    old = LockFile.read(project.lock)
    old.entries["gone"] = {"outputs": []}
    assert "gone" in by_name(section(project, old))
    assert set(by_name(section(project, old, ["cut"]))) == {"master", "cut"}


@pytest.mark.parametrize(
    "entry",
    [
        "not a mapping",
        {"outputs": "nope", "request": ["x"], "seed": "7", "cost": True, "provider": 3},
        {
            "outputs": [{"path": 5, "sha256": "../../etc/passwd"}, "x"],
            "request": {"transform": "x"},
        },
    ],
)
def test_a_malformed_baseline_entry_gives_a_card_not_an_error(
    project: Project, entry: object
) -> None:
    project.write(MANIFEST)
    project.build()
    old = LockFile(Path("old.lock.json"), {"gone": entry, "master": entry})  # type: ignore[dict-item]
    cards = by_name(section(project, old))
    gone = cards["gone"]
    assert (gone.status, gone.seed, gone.cost, gone.provider, gone.transform) == (
        "removed",
        None,
        None,
        "",
        [],
    )
    assert all(output.sha256 is None for output in gone.before if output is not None)
    assert cards["master"].change in (Change.NEW, Change.CHANGED)


def test_the_model_of_a_provider_that_takes_it_in_the_url(project: Project) -> None:
    project.write(
        "version: 1\ntargets:\n  - name: queued\n"
        "    model: imagineart/imagineart-1.5-preview/text-to-image\n"
        "    prompt: a fox\n    width: 1024\n    height: 1024\n"
    )
    (card,) = section(project).cards
    assert (card.provider, card.model) == (
        "runcomfy",
        "imagineart/imagineart-1.5-preview/text-to-image",
    )
    assert card.prompt == "a fox"
