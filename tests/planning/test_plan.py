"""The plan: keep, restore or generate for each target, with reasons, seeds and
cost, decided from the manifest, the lock, the stat cache and the cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from imagebuild.pipeline import open_session
from imagebuild.planning.cache import Cache
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import SEED_RANGE, Action, Plan, PlanOptions, make_plan
from imagebuild.planning.statcache import StatCache

if TYPE_CHECKING:
    from tests.planning.conftest import Bench

LOCAL = ("model: local", 'prompt: "a red fox"', "width: 64", "height: 48")


def manifest(*fields: str, head: str = "") -> str:
    body = "".join(f"    {field}\n" for field in fields)
    return f"version: 1\n{head}targets:\n  - name: hero\n{body}"


def built(bench: Bench, text: str, **options: object) -> Plan:
    """Plan ``text`` and record the result as built; the plan is returned."""
    plan = bench.plan(text, **options)
    bench.build(plan)
    return plan


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_a_new_target_is_generated(bench: Bench) -> None:
    step = bench.step(manifest(*LOCAL))
    assert step.action is Action.GENERATE
    assert step.reasons == ["new target"]
    assert step.name == "hero"


def test_a_built_target_is_kept(bench: Bench) -> None:
    first = built(bench, manifest(*LOCAL)).steps[0]
    step = bench.step(manifest(*LOCAL))
    assert step.action is Action.KEEP
    assert step.reasons == []
    assert step.estimated_cost == 0.0
    assert step.fingerprint == first.fingerprint


def test_planning_writes_nothing(bench: Bench) -> None:
    bench.manifest.write_text(manifest(*LOCAL), encoding="utf-8")
    before = files_under(bench.root)
    bench.plan(manifest(*LOCAL))
    assert files_under(bench.root) == before


def test_whitespace_only_prompt_change_keeps_the_fingerprint(bench: Bench) -> None:
    first = built(bench, manifest(*LOCAL)).steps[0]
    rewrapped = ('prompt: "  a   red\\n fox  "', *LOCAL[2:])
    step = bench.step(manifest("model: local", *rewrapped))
    assert step.fingerprint == first.fingerprint
    assert step.action is Action.KEEP


def test_a_changed_field_regenerates_with_the_locked_seed(bench: Bench) -> None:
    first = built(bench, manifest(*LOCAL)).steps[0]
    step = bench.step(manifest(*LOCAL[:2], "width: 96", "height: 48"))
    assert step.action is Action.GENERATE
    assert step.reasons == ["width changed 64 -> 96"]
    assert step.request["seed"] == first.request["seed"]
    assert step.fingerprint != first.fingerprint


def test_a_prompt_change_regenerates(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    step = bench.step(manifest("model: local", 'prompt: "a blue fox"', *LOCAL[2:]))
    assert step.action is Action.GENERATE
    assert step.reasons == ["prompt changed"]


def test_a_missing_output_is_restored_from_the_cache(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    (bench.root / "out" / "hero.png").unlink()
    step = bench.step(manifest(*LOCAL))
    assert step.action is Action.RESTORE
    assert step.reasons == ["output missing: out/hero.png"]
    assert step.estimated_cost == 0.0
    assert step.cached is not None
    assert len(step.cached["outputs"]) == 1


def test_a_modified_output_is_restored_from_the_cache(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    (bench.root / "out" / "hero.png").write_bytes(b"edited by hand")
    step = bench.step(manifest(*LOCAL))
    assert step.action is Action.RESTORE
    assert step.reasons == ["output modified: out/hero.png"]


def test_a_missing_output_without_its_cache_object_is_generated(bench: Bench) -> None:
    plan = built(bench, manifest(*LOCAL))
    (bench.root / "out" / "hero.png").unlink()
    for obj in (bench.cache.directory / "objects").rglob("*"):
        if obj.is_file():
            obj.unlink()
    step = bench.step(manifest(*LOCAL))
    assert step.action is Action.GENERATE
    assert step.fingerprint == plan.steps[0].fingerprint


def test_a_renamed_output_is_restored_not_generated(bench: Bench) -> None:
    built(bench, manifest(*LOCAL, "output: out/a.png"))
    step = bench.step(manifest(*LOCAL, "output: out/b.png"))
    assert step.action is Action.RESTORE
    assert step.reasons == ["output path changed out/a.png -> out/b.png"]


def test_declaring_the_default_output_path_keeps_the_fingerprint(bench: Bench) -> None:
    first = built(bench, manifest(*LOCAL)).steps[0]
    step = bench.step(manifest(*LOCAL, "output: out/hero.png"))
    assert step.fingerprint == first.fingerprint
    assert step.action is Action.KEEP


def test_a_reverted_prompt_gets_its_old_image_from_the_cache(bench: Bench) -> None:
    original = built(bench, manifest(*LOCAL)).steps[0]
    built(bench, manifest("model: local", 'prompt: "a blue fox"', *LOCAL[2:]))
    step = bench.step(manifest(*LOCAL))
    assert step.action is Action.RESTORE
    assert step.reasons == ["prompt changed"]
    assert step.fingerprint == original.fingerprint


def test_a_cache_hit_restores_a_target_the_lock_does_not_know(bench: Bench) -> None:
    text = manifest(*LOCAL, "seed: 7")
    built(bench, text)
    bench.lock.drop({"hero"})
    (bench.root / "out" / "hero.png").unlink()
    step = bench.step(text)
    assert step.action is Action.RESTORE
    assert step.reasons == ["new target"]


def test_force_generates_even_when_the_cache_has_it(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    (bench.root / "out" / "hero.png").unlink()
    step = bench.step(manifest(*LOCAL), force=True)
    assert step.action is Action.GENERATE
    assert step.reasons == ["output missing: out/hero.png", "forced (--force)"]
    assert step.cached is None


def test_force_generates_an_up_to_date_target(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    step = bench.step(manifest(*LOCAL), force=True)
    assert step.action is Action.GENERATE
    assert step.reasons == ["forced (--force)"]


def test_a_manifest_seed_is_used(bench: Bench) -> None:
    bench.lock.put("hero", {"seed": 1234, "fingerprint": "old"})
    assert bench.step(manifest(*LOCAL, "seed: 7")).request["seed"] == 7
    assert bench.step(manifest(*LOCAL, "seed: 7"), reseed=True).request["seed"] == 7


def test_the_locked_seed_is_reused_when_the_manifest_has_none(bench: Bench) -> None:
    bench.lock.put("hero", {"seed": 1234, "fingerprint": "old"})
    assert bench.step(manifest(*LOCAL)).request["seed"] == 1234


def test_reseed_draws_a_new_seed(bench: Bench) -> None:
    bench.lock.put("hero", {"seed": 1234, "fingerprint": "old"})
    seeds = {bench.step(manifest(*LOCAL), reseed=True).request["seed"] for _ in range(3)}
    assert 1234 not in seeds
    assert all(SEED_RANGE[0] <= seed <= SEED_RANGE[1] for seed in seeds)


def test_a_new_target_draws_a_seed_in_range(bench: Bench) -> None:
    seed = bench.step(manifest(*LOCAL)).request["seed"]
    assert isinstance(seed, int)
    assert SEED_RANGE[0] <= seed <= SEED_RANGE[1]


def test_the_seed_does_not_leak_into_the_target_request(bench: Bench) -> None:
    step = bench.step(manifest(*LOCAL))
    assert "seed" in step.request
    assert "seed" not in step.target.request


IMAGINEART = (
    'model: "imagineart:1@5"',
    'prompt: "a red fox"',
    "width: 2048",
    "height: 2048",
)


def test_models_without_seed_support_get_no_seed(bench: Bench) -> None:
    bench.lock.put("hero", {"seed": 1234, "fingerprint": "old"})
    assert "seed" not in bench.step(manifest(*IMAGINEART)).request
    assert "seed" not in bench.step(manifest(*IMAGINEART), reseed=True).request


def test_estimated_cost_is_the_price_times_the_number_of_results(bench: Bench) -> None:
    assert bench.step(manifest(*IMAGINEART)).estimated_cost == pytest.approx(0.03)
    step = bench.step(manifest(*IMAGINEART, "numberResults: 2"))
    assert step.estimated_cost == pytest.approx(0.06)
    assert step.target.outputs == ("out/hero-1.jpg", "out/hero-2.jpg")


def test_local_generation_costs_nothing(bench: Bench) -> None:
    assert bench.step(manifest(*LOCAL, "numberResults: 3")).estimated_cost == 0.0
    assert bench.step(manifest(*IMAGINEART), provider="local").estimated_cost == 0.0


def test_prices_in_the_options_override_the_registry(bench: Bench) -> None:
    prices = {"runware": {"imagineart:1@5": 0.05}}
    step = bench.step(manifest(*IMAGINEART, "numberResults: 3"), prices=prices)
    assert step.estimated_cost == pytest.approx(0.15)
    other = {"runware": {"runware:101@1": 1.0}}
    assert bench.step(manifest(*IMAGINEART), prices=other).estimated_cost == pytest.approx(0.03)


def test_manifest_provider_prices_reach_the_plan(bench: Bench) -> None:
    head = "providers:\n  runware:\n    prices:\n      'imagineart:1@5': 0.04\n"
    session = bench.session(manifest(*IMAGINEART, head=head))
    assert session.prices() == {"runware": {"imagineart:1@5": 0.04}}
    plan = make_plan(
        session.targets, bench.lock, bench.stats, bench.cache, PlanOptions(prices=session.prices())
    )
    assert plan.steps[0].estimated_cost == pytest.approx(0.04)


def test_a_model_without_a_price_is_unpriced(bench: Bench) -> None:
    plan = bench.plan(manifest('model: "runware:101@1"', 'prompt: "fox"'))
    assert plan.steps[0].estimated_cost is None
    assert [step.name for step in plan.unpriced] == ["hero"]
    assert plan.estimated_cost == 0.0
    priced = bench.plan(
        manifest('model: "runware:101@1"', 'prompt: "fox"'),
        prices={"runware": {"runware:101@1": 0.002}},
    )
    assert priced.steps[0].estimated_cost == pytest.approx(0.002)
    assert priced.unpriced == []


def test_kept_and_restored_targets_cost_nothing(bench: Bench) -> None:
    built(bench, manifest(*IMAGINEART, "numberResults: 2"))
    assert bench.step(manifest(*IMAGINEART, "numberResults: 2")).estimated_cost == 0.0
    (bench.root / "out" / "hero-2.jpg").unlink()
    step = bench.step(manifest(*IMAGINEART, "numberResults: 2"))
    assert step.action is Action.RESTORE
    assert step.estimated_cost == 0.0


TWO = """\
version: 1
targets:
  - name: paid
    model: "imagineart:1@5"
    prompt: fox
    numberResults: 2
  - name: free
    model: local
    prompt: fox
"""


def test_plan_summary_and_json(bench: Bench) -> None:
    plan = bench.plan(TWO)
    assert plan.count(Action.GENERATE) == 2
    assert plan.estimated_cost == pytest.approx(0.06)
    assert [step.name for step in plan.work] == ["paid", "free"]
    assert plan.to_json() == {
        "targets": [
            {
                "name": "paid",
                "action": "generate",
                "reasons": ["new target"],
                "estimatedCost": pytest.approx(0.06),
                "outputs": ["out/paid-1.jpg", "out/paid-2.jpg"],
            },
            {
                "name": "free",
                "action": "generate",
                "reasons": ["new target"],
                "estimatedCost": 0.0,
                "outputs": ["out/free.png"],
            },
        ],
        "summary": {
            "keep": 0,
            "restore": 0,
            "generate": 2,
            "derive": 0,
            "estimatedCost": pytest.approx(0.06),
            "unpriced": 0,
            "removed": 0,
        },
        "removed": [],
    }


def test_new_and_changed_requests_are_unvalidated(bench: Bench) -> None:
    plan = bench.plan(manifest(*LOCAL))
    assert [target.name for target in plan.unvalidated] == ["hero"]
    bench.build(plan)
    assert bench.plan(manifest(*LOCAL)).unvalidated == []
    changed = bench.plan(manifest(*LOCAL[:2], "width: 96", "height: 48"))
    assert [target.name for target in changed.unvalidated] == ["hero"]


def test_a_kept_target_under_a_new_schema_is_unvalidated(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    entry = bench.lock.get("hero")
    assert entry is not None
    bench.lock.put("hero", {**entry, "schema": "an older schema"})
    plan = bench.plan(manifest(*LOCAL))
    assert plan.steps[0].action is Action.KEEP
    assert [target.name for target in plan.unvalidated] == ["hero"]


def test_a_restored_target_with_a_locked_fingerprint_is_not_unvalidated(bench: Bench) -> None:
    built(bench, manifest(*LOCAL))
    (bench.root / "out" / "hero.png").unlink()
    plan = bench.plan(manifest(*LOCAL))
    assert plan.steps[0].action is Action.RESTORE
    assert plan.unvalidated == []


def test_input_files_are_fingerprinted_by_content(bench: Bench) -> None:
    (bench.root / "in").mkdir()
    (bench.root / "in" / "base.png").write_bytes(b"base image")
    first = built(bench, manifest(*LOCAL, "seedImage: in/base.png")).steps[0]
    assert first.input_digests == {"seedImage": hashlib.sha256(b"base image").hexdigest()}
    assert first.request["seedImage"] == "in/base.png"
    os.replace(bench.root / "in" / "base.png", bench.root / "in" / "moved.png")
    moved = bench.step(manifest(*LOCAL, "seedImage: in/moved.png"))
    assert moved.fingerprint == first.fingerprint
    assert moved.action is Action.KEEP


def test_a_changed_input_file_regenerates(bench: Bench) -> None:
    (bench.root / "base.png").write_bytes(b"base image")
    built(bench, manifest(*LOCAL, "seedImage: base.png"))
    (bench.root / "base.png").write_bytes(b"another base image")
    step = bench.step(manifest(*LOCAL, "seedImage: base.png"))
    assert step.action is Action.GENERATE
    assert step.reasons == ["input seedImage changed"]


def test_a_new_targets_seed_is_derived_from_its_request(bench: Bench, tmp_path: Path) -> None:
    """Two machines with nothing in common but the manifest choose the same seed."""
    first = bench.step(manifest(*LOCAL)).request["seed"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "imagebuild.yaml").write_text(manifest(*LOCAL))
    other = open_session(str(elsewhere / "imagebuild.yaml")).targets
    state = elsewhere / ".imagebuild"
    step = make_plan(
        other,
        LockFile(elsewhere / "imagebuild.lock.json"),
        StatCache(state / "stat.json", elsewhere),
        Cache(state / "cache"),
        PlanOptions(),
    ).steps[0]
    assert step.request["seed"] == first
    assert (
        bench.step(manifest(*LOCAL[:1], 'prompt: "a blue fox"', *LOCAL[2:])).request["seed"]
        != first
    )


def test_a_locked_seed_survives_a_prompt_change(bench: Bench) -> None:
    seed = built(bench, manifest(*LOCAL)).steps[0].request["seed"]
    changed = bench.step(manifest(*LOCAL[:1], 'prompt: "a blue fox"', *LOCAL[2:]))
    assert changed.request["seed"] == seed


RENAMED = """\
version: 1
defaults: {model: local, width: 64, height: 48}
targets:
  - {name: NAME, prompt: "a red fox"}
  - {name: other, prompt: "a grey wolf"}
"""


def test_a_renamed_target_inherits_its_seed_and_is_restored(bench: Bench) -> None:
    first = built(bench, RENAMED.replace("NAME", "fox"))
    seed = first.steps[0].request["seed"]
    entry = bench.lock.get("fox")
    assert entry is not None
    plan = bench.plan(RENAMED.replace("NAME", "vixen"), departed={"fox": entry})
    step = plan.steps[0]
    assert step.name == "vixen"
    assert step.request["seed"] == seed
    assert step.action is Action.RESTORE
    assert step.reasons == ["renamed from fox"]
    assert plan.removed == ["fox"]


def test_rename_detection_finds_a_reseeded_entry(bench: Bench) -> None:
    """A seed drawn at random (--reseed, or an older lock) is not the one the
    request derives: only rename detection can find it."""
    built(bench, RENAMED.replace("NAME", "fox"), reseed=True)
    entry = bench.lock.get("fox")
    assert entry is not None
    step = bench.plan(RENAMED.replace("NAME", "vixen"), departed={"fox": entry}).steps[0]
    assert step.request["seed"] == entry["seed"]
    assert step.fingerprint == entry["fingerprint"]
    assert step.action is Action.RESTORE


def test_a_changed_request_is_not_a_rename(bench: Bench) -> None:
    built(bench, RENAMED.replace("NAME", "fox"), reseed=True)
    entry = bench.lock.get("fox")
    assert entry is not None
    text = RENAMED.replace("NAME", "vixen").replace("a red fox", "a red vixen")
    step = bench.plan(text, departed={"fox": entry}).steps[0]
    assert step.reasons == ["new target"]
    assert step.request["seed"] != entry["seed"]
    assert step.action is Action.GENERATE
