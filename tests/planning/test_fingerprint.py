"""The fingerprint: sha256 of canonical JSON of what determines the pixels."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from imagebuild.planning.fingerprint import (
    CACHE_EPOCH,
    canonical_json,
    digest_bytes,
    fingerprint,
)

REQUEST: dict[str, Any] = {
    "model": "runware:101@1",
    "positivePrompt": "a red fox",
    "width": 1024,
    "height": 768,
    "seed": 42,
    "lora": [{"model": "civitai:1@2", "weight": 0.8}],
    "outpaint": {"top": 64, "bottom": 0},
}


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == (
        b'{"a":{"c":null,"d":[1,2]},"b":1}'
    )


def test_fingerprint_is_a_sha256_of_the_canonical_payload() -> None:
    payload = {"epoch": CACHE_EPOCH, "provider": "runware", "request": REQUEST}
    expected = hashlib.sha256(canonical_json(payload)).hexdigest()
    assert fingerprint("runware", REQUEST) == expected
    assert len(expected) == 64


def test_key_order_does_not_matter_at_any_depth() -> None:
    reordered = {
        "outpaint": {"bottom": 0, "top": 64},
        "lora": [{"weight": 0.8, "model": "civitai:1@2"}],
        "seed": 42,
        "height": 768,
        "width": 1024,
        "positivePrompt": "a red fox",
        "model": "runware:101@1",
    }
    assert fingerprint("runware", reordered) == fingerprint("runware", REQUEST)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model", "runware:100@1"),
        ("positivePrompt", "a red fox "),
        ("width", 1025),
        ("width", 1024.5),
        ("width", "1024"),
        ("seed", 43),
        ("seed", None),
        ("lora", [{"model": "civitai:1@2", "weight": 0.9}]),
        ("lora", []),
        ("outpaint", {"top": 64, "bottom": 1}),
        ("outpaint", {"top": 64}),
        ("steps", 30),
    ],
)
def test_any_value_change_changes_the_fingerprint(key: str, value: Any) -> None:
    changed = {**REQUEST, key: value}
    assert fingerprint("runware", changed) != fingerprint("runware", REQUEST)


def test_list_order_matters() -> None:
    one = {**REQUEST, "referenceImages": ["sha256:a", "sha256:b"]}
    two = {**REQUEST, "referenceImages": ["sha256:b", "sha256:a"]}
    assert fingerprint("runware", one) != fingerprint("runware", two)


def test_a_removed_key_changes_the_fingerprint() -> None:
    without_seed = {k: v for k, v in REQUEST.items() if k != "seed"}
    assert fingerprint("runware", without_seed) != fingerprint("runware", REQUEST)


def test_provider_matters() -> None:
    assert fingerprint("local", REQUEST) != fingerprint("runware", REQUEST)
    assert fingerprint("runcomfy", REQUEST) != fingerprint("runware", REQUEST)


def test_fingerprint_is_stable_across_calls() -> None:
    assert fingerprint("runware", REQUEST) == fingerprint("runware", dict(REQUEST))


def test_digest_bytes_is_sha256() -> None:
    assert digest_bytes(b"pixels") == hashlib.sha256(b"pixels").hexdigest()
