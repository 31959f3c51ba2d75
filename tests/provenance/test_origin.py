"""The origin record: its JSON, read back strictly enough to trust."""

from __future__ import annotations

import dataclasses
import json

import pytest

from imagebuild.provenance.origin import Origin, RecordError, parse_record
from tests.provenance.conftest import ORIGIN

DERIVED = Origin(
    target="hero-story",
    provider="derive",
    fingerprint="cd" * 32,
    manifest="manifests/campaign.yaml",
    width=1080,
    height=1920,
    source="hero-night",
    transform=[{"resize": {"width": 1080, "height": 1920, "fit": "cover"}}],
    upstream=ORIGIN,
    preview=True,
)


def test_json_uses_the_lock_and_request_names_and_round_trips() -> None:
    document = ORIGIN.to_json()
    assert {"negativePrompt", "CFGScale", "taskUUID", "imageUUID"} <= set(document)
    assert "clipSkip" not in document
    assert document["preview"] is False
    assert Origin.from_json(document) == ORIGIN
    assert parse_record(DERIVED.canonical()) == DERIVED
    assert DERIVED.to_json()["from"] == "hero-night"


def test_canonical_json_is_sorted_compact_and_stable() -> None:
    canonical = DERIVED.canonical()
    document = json.loads(canonical)
    assert (
        canonical
        == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert "東京" in canonical.decode()
    ascii_form = DERIVED.canonical_ascii()
    assert ascii_form.isascii()
    assert json.loads(ascii_form) == document


def test_generation_is_the_root_of_a_derivation_chain() -> None:
    twice = dataclasses.replace(DERIVED, target="hero-story-small", upstream=DERIVED)
    assert twice.generation == ORIGIN
    assert ORIGIN.generation == ORIGIN
    assert dataclasses.replace(DERIVED, upstream=None).generation is None


def test_unknown_keys_are_ignored_for_later_versions() -> None:
    document = {**ORIGIN.to_json(), "nsfw": False, "cost": 0.03}
    assert Origin.from_json(document) == ORIGIN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": "42"}, 'seed is "42", not int'),
        ({"seed": True}, "seed is true, not int"),
        ({"preview": 1}, "preview is 1, not bool"),
        ({"transform": {"resize": {}}}, "transform is .*, not list"),
        ({"upstream": []}, "not a JSON object"),
    ],
)
def test_a_field_of_the_wrong_type_invalidates_the_record(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(RecordError, match=message):
        Origin.from_json({**DERIVED.to_json(), **change})


def test_an_integer_is_a_valid_cfg_scale() -> None:
    assert Origin.from_json({**ORIGIN.to_json(), "CFGScale": 7}).cfg_scale == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"target": "a"}', "has no provider, fingerprint"),
        ('{"upstream": ' * 5000 + "{}" + "}" * 5000, "nested too deeply|not valid JSON"),
    ],
)
def test_records_that_are_not_origins_are_refused(text: str, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_record(text)
