"""Request validation: a value accepted once is remembered, and nothing else is."""

from __future__ import annotations

from typing import Any

from imagebuild.registry.models import builtin_registry
from imagebuild.registry.validation import find_problems

RUNWARE = builtin_registry().find("runware", "runware:101@1")


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "runware:101@1", "positivePrompt": "a red fox", **fields}


def paths(fields: dict[str, Any]) -> list[tuple[str | int, ...]]:
    return [problem.path for problem in find_problems(RUNWARE, fields)]


def test_a_value_accepted_for_one_field_is_still_checked_for_another() -> None:
    assert paths(request(width=1024, height=1024)) == []
    assert paths(request(width=1024, height=1024, numberResults=1024)) == [("numberResults",)]


def test_a_remembered_number_does_not_vouch_for_a_boolean_equal_to_it() -> None:
    assert paths(request(numberResults=1)) == []
    assert paths(request(numberResults=True)) == [("numberResults",)]


def test_invalid_values_are_reported_every_time_they_appear() -> None:
    for _ in range(3):
        assert paths(request(width=1000, height=1024)) == [("width",)]


def test_nested_values_are_checked_against_their_own_schema() -> None:
    assert paths(request(outputFormat="PNG")) == []
    assert paths(request(outputFormat="TIFF")) == [("outputFormat",)]
    assert paths(request(outputFormat="PNG", outputQuality=101)) == [("outputQuality",)]
