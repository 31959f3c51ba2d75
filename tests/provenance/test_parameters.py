"""A1111's parameters text: written with only the known settings, read as A1111 reads it."""

from __future__ import annotations

import dataclasses

from imagebuild.provenance.origin import Origin
from imagebuild.provenance.parameters import format_parameters, parse_parameters
from tests.provenance.conftest import ORIGIN

# As AUTOMATIC1111 1.10 writes it, model hash and version included.
A1111 = (
    "masterpiece, a castle on a hill, (sunset:1.2)\n"
    "Negative prompt: lowres, bad anatomy\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, "
    'Size: 832x1216, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "a: 1, b: 2", '
    "Version: v1.10.1"
)


def test_every_known_setting_in_a1111_order() -> None:
    full = dataclasses.replace(ORIGIN, strength=0.55, clip_skip=2)
    assert format_parameters(full) == (
        "a glass teapot, studio light, neon, 東京\n"
        "Negative prompt: blurry, text\n"
        "Steps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 96x64, "
        'Model: "runware:101@1", Denoising strength: 0.55, Clip skip: 2'
    )


def test_only_what_the_request_had() -> None:
    bare = Origin(target="t", provider="local", fingerprint="0" * 64, prompt="a cup", seed=3)
    assert format_parameters(bare) == "a cup\nSeed: 3"
    assert format_parameters(dataclasses.replace(bare, prompt=None)) is None


def test_a_preview_says_so() -> None:
    preview = dataclasses.replace(ORIGIN, preview=True)
    assert (format_parameters(preview) or "").endswith(", Preview: true")


def test_a_derived_output_shows_its_generation_at_its_own_size() -> None:
    derived = Origin(
        target="hero-story",
        provider="derive",
        fingerprint="cd" * 32,
        width=1080,
        height=1920,
        source="hero-tokyo",
        upstream=ORIGIN,
    )
    text = format_parameters(derived) or ""
    assert text.startswith(
        "a glass teapot, studio light, neon, 東京\nNegative prompt: blurry, text\n"
    )
    assert "Seed: 42, Size: 1080x1920," in text
    assert format_parameters(dataclasses.replace(derived, upstream=None)) is None


def test_reading_a1111_text() -> None:
    parsed = parse_parameters(A1111)
    assert parsed.prompt == "masterpiece, a castle on a hill, (sunset:1.2)"
    assert parsed.negative_prompt == "lowres, bad anatomy"
    assert parsed.settings["Sampler"] == "DPM++ 2M"
    assert parsed.settings["Lora hashes"] == "a: 1, b: 2"
    assert parsed.settings["Version"] == "v1.10.1"
    assert len(parsed.settings) == 10


def test_what_is_written_reads_back() -> None:
    parsed = parse_parameters(format_parameters(ORIGIN) or "")
    assert (parsed.prompt, parsed.negative_prompt) == (ORIGIN.prompt, ORIGIN.negative_prompt)
    assert parsed.settings["Model"] == "runware:101@1"
    assert parsed.settings["Size"] == "96x64"


def test_a_last_line_with_fewer_than_three_settings_is_prompt() -> None:
    parsed = parse_parameters("a cup\non a table, Seed: 3")
    assert (parsed.prompt, parsed.settings) == ("a cup\non a table, Seed: 3", {})
