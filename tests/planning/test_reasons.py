"""Why a target is out of date: one human-readable reason per change, in the
manifest's own field names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagebuild.planning.plan import Action
from imagebuild.planning.reasons import Candidate, output_reasons, request_reasons

if TYPE_CHECKING:
    from tests.planning.conftest import Bench


def manifest(*fields: str) -> str:
    body = "".join(f"    {field}\n" for field in fields)
    return f"version: 1\ntargets:\n  - name: hero\n{body}"


BASE = ("model: local", 'prompt: "a red fox"', "width: 2048", "height: 1024")


def rebuilt(bench: Bench, *fields: str) -> list[str]:
    """Build BASE, then the reasons the plan gives for ``fields``."""
    bench.build(bench.plan(manifest(*BASE)))
    return bench.step(manifest(*fields)).reasons


def test_a_target_without_a_lock_entry_is_new(bench: Bench) -> None:
    assert bench.step(manifest(*BASE)).reasons == ["new target"]


def test_an_up_to_date_target_has_no_reasons(bench: Bench) -> None:
    assert rebuilt(bench, *BASE) == []


def test_a_changed_number_shows_old_and_new(bench: Bench) -> None:
    reasons = rebuilt(bench, *BASE[:2], "width: 2560", "height: 1024")
    assert reasons == ["width changed 2048 -> 2560"]


def test_several_changes_are_listed_in_field_order(bench: Bench) -> None:
    reasons = rebuilt(bench, *BASE[:2], "width: 2560", "height: 1440")
    assert reasons == ["height changed 1024 -> 1440", "width changed 2048 -> 2560"]


def test_a_prompt_change_uses_the_manifest_name(bench: Bench) -> None:
    reasons = rebuilt(bench, "model: local", 'prompt: "a blue fox"', *BASE[2:])
    assert reasons == ["prompt changed"]


def test_a_prompt_written_under_the_provider_name_keeps_that_name(bench: Bench) -> None:
    bench.build(bench.plan(manifest("model: local", "positivePrompt: a red fox", *BASE[2:])))
    step = bench.step(manifest("model: local", "positivePrompt: a blue fox", *BASE[2:]))
    assert step.reasons == ["positivePrompt changed"]


def test_switching_between_prompt_and_provider_name_is_no_change(bench: Bench) -> None:
    assert rebuilt(bench, "model: local", "positivePrompt: a red fox", *BASE[2:]) == []


def test_a_negative_prompt_change_hides_the_text(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE, "negativePrompt: blurry")))
    assert bench.step(manifest(*BASE, "negativePrompt: noisy")).reasons == [
        "negativePrompt changed"
    ]


def test_a_whitespace_only_prompt_change_is_no_change(bench: Bench) -> None:
    assert rebuilt(bench, "model: local", 'prompt: " a  red\\tfox "', *BASE[2:]) == []


def test_an_added_field_is_set(bench: Bench) -> None:
    assert rebuilt(bench, *BASE, "strength: 0.5") == ["strength set to 0.5"]


def test_a_removed_field_shows_what_it_was(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE, "strength: 0.5")))
    assert bench.step(manifest(*BASE)).reasons == ["strength removed (was 0.5)"]


def test_a_changed_mapping_or_list_is_named_without_values(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE, "outpaint: {top: 64}")))
    assert bench.step(manifest(*BASE, "outpaint: {top: 128}")).reasons == ["outpaint changed"]
    bench.build(bench.plan(manifest(*BASE, "outpaint: {top: 128}")))
    assert bench.step(manifest(*BASE, "outpaint: 3")).reasons == ["outpaint changed"]


def test_long_values_are_shortened(bench: Bench) -> None:
    fields = ('model: "runware:101@1"', "prompt: fox")
    old, new = "A" * 50, "B" * 10
    bench.build(bench.plan(manifest(*fields, f"scheduler: {old}")))
    (reason,) = bench.step(manifest(*fields, f"scheduler: {new}")).reasons
    assert reason == f"scheduler changed {'A' * 39}… -> {new}"


def test_a_changed_provider_is_named(bench: Bench) -> None:
    fields = ('model: "imagineart:1@5"', "prompt: fox", "width: 2048", "height: 2048")
    bench.build(bench.plan(manifest(*fields)))
    assert bench.step(manifest(*fields), provider="local").reasons == [
        "provider changed runware -> local"
    ]


def test_a_changed_model_is_named(bench: Bench) -> None:
    fields = ('model: "runware:101@1"', "prompt: fox", "seed: 3")
    bench.build(bench.plan(manifest(*fields)))
    step = bench.step(manifest('model: "runware:100@1"', "prompt: fox", "seed: 3"))
    assert step.reasons == ["model changed runware:101@1 -> runware:100@1"]


def test_a_changed_input_file_is_named(bench: Bench) -> None:
    (bench.root / "mask.png").write_bytes(b"mask one")
    bench.build(bench.plan(manifest(*BASE, "maskImage: mask.png")))
    (bench.root / "mask.png").write_bytes(b"mask two")
    assert bench.step(manifest(*BASE, "maskImage: mask.png")).reasons == ["input maskImage changed"]


def test_an_added_input_file_is_named_by_its_field(bench: Bench) -> None:
    (bench.root / "ref.png").write_bytes(b"reference")
    reasons = rebuilt(bench, *BASE, "referenceImages: [ref.png]")
    assert reasons == ["referenceImages set to ['ref.png']"]


def test_a_changed_epoch_alone_is_named(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE)))
    entry = bench.lock.get("hero")
    assert entry is not None
    bench.lock.put("hero", {**entry, "fingerprint": "0" * 64})
    assert bench.step(manifest(*BASE)).reasons == ["fingerprint changed (cache epoch)"]


def test_a_missing_output_is_named(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE)))
    (bench.root / "out" / "hero.png").unlink()
    assert bench.step(manifest(*BASE)).reasons == ["output missing: out/hero.png"]


def test_a_modified_output_is_named(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE)))
    (bench.root / "out" / "hero.png").write_bytes(b"retouched")
    assert bench.step(manifest(*BASE)).reasons == ["output modified: out/hero.png"]


def test_a_changed_output_path_is_named(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE, "output: out/a.png")))
    assert bench.step(manifest(*BASE, "output: out/b.png")).reasons == [
        "output path changed out/a.png -> out/b.png"
    ]


def test_every_changed_output_path_is_named(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE, "numberResults: 2", "output: [a/1.png, a/2.png]")))
    step = bench.step(manifest(*BASE, "numberResults: 2", "output: [b/1.png, b/2.png]"))
    assert step.reasons == ["output path changed a/1.png -> b/1.png, a/2.png -> b/2.png"]
    assert step.action is Action.RESTORE


def test_more_outputs_than_recorded_change_the_request_and_the_outputs(bench: Bench) -> None:
    bench.build(bench.plan(manifest(*BASE, "numberResults: 2", "output: [a/1.png, a/2.png]")))
    step = bench.step(manifest(*BASE, "numberResults: 3", "output: [a/1.png, a/2.png, a/3.png]"))
    assert step.reasons == ["numberResults changed 2 -> 3", "number of outputs changed"]


def test_checkers_can_be_called_on_their_own(bench: Bench) -> None:
    step = bench.step(manifest(*BASE))
    new = Candidate(step.target, None, step.fingerprint, step.request, {})
    assert request_reasons(new, bench.stats) == ["new target"]
    assert output_reasons(new, bench.stats) == []
    entry = {
        "fingerprint": step.fingerprint,
        "provider": "local",
        "request": step.request,
        "outputs": [{"path": "out/hero.png", "sha256": "0" * 64}],
    }
    known = Candidate(step.target, entry, step.fingerprint, step.request, {})
    assert request_reasons(known, bench.stats) == []
    assert output_reasons(known, bench.stats) == ["output missing: out/hero.png"]
