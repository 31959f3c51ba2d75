"""What every container writer promises: a round trip, exact pixels, the same
bytes for the same origin, and replacement instead of accumulation."""

from __future__ import annotations

import dataclasses

import pytest

from imagebuild.provenance.blob import Blob, ContainerError
from imagebuild.provenance.containers import container_of
from imagebuild.provenance.origin import parse_record
from imagebuild.provenance.parameters import format_parameters
from tests.provenance.conftest import IMAGES, ORIGIN, embedded, found, pixels

KINDS = sorted(IMAGES)


@pytest.mark.parametrize("kind", KINDS)
def test_the_origin_reads_back(kind: str) -> None:
    result = found(embedded(IMAGES[kind]()))
    assert result.record is not None
    assert parse_record(result.record) == ORIGIN
    assert result.parameters == format_parameters(ORIGIN)
    assert (result.width, result.height) == (96, 64)


@pytest.mark.parametrize("kind", KINDS)
def test_pixels_are_exactly_those_delivered(kind: str) -> None:
    original = IMAGES[kind]()
    assert pixels(embedded(original)) == pixels(original)


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_origin_gives_the_same_bytes(kind: str) -> None:
    original = IMAGES[kind]()
    first = embedded(original)
    assert embedded(original) == first
    assert first != original


@pytest.mark.parametrize("kind", KINDS)
def test_embedding_again_replaces_the_earlier_origin(kind: str) -> None:
    original = IMAGES[kind]()
    other = dataclasses.replace(ORIGIN, target="hero-paris", prompt="a cup", seed=7)
    again = embedded(embedded(original), other)
    assert again == embedded(original, other)
    record = found(again).record
    assert record is not None
    assert parse_record(record) == other


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_without_provenance_reads_as_none(kind: str) -> None:
    result = found(IMAGES[kind]())
    assert (result.record, result.parameters) == (None, None)


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a" + bytes(20), b"\x00\x00\x00\x1cftypavif" + bytes(20), b"plain text"],
    ids=["empty", "gif", "avif", "text"],
)
def test_other_files_are_refused(data: bytes) -> None:
    with pytest.raises(ContainerError, match="not a PNG, JPEG or WEBP image"):
        container_of(Blob(data))


@pytest.mark.parametrize("kind", KINDS)
def test_a_truncated_file_is_refused_with_its_place(kind: str) -> None:
    data = IMAGES[kind]()
    cut = data[: len(data) // 2] if kind.startswith("webp") else data[:40]
    with pytest.raises(ContainerError, match=r"byte \d+|truncated"):
        embedded(cut)
