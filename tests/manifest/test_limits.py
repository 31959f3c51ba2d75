"""Limits: generous defaults, raised only from the environment, named in every message."""

from __future__ import annotations

import pytest

from imagebuild.errors import UsageError
from imagebuild.manifest.limits import VARIABLES, LimitError, Limits, Meter


def test_every_limit_has_its_own_variable() -> None:
    assert VARIABLES == {
        "bytes": "IMAGEBUILD_MAX_BYTES",
        "nodes": "IMAGEBUILD_MAX_NODES",
        "depth": "IMAGEBUILD_MAX_DEPTH",
        "targets": "IMAGEBUILD_MAX_TARGETS",
        "string": "IMAGEBUILD_MAX_STRING",
        "steps": "IMAGEBUILD_MAX_STEPS",
        "output": "IMAGEBUILD_MAX_OUTPUT",
    }


def test_the_environment_raises_a_limit_and_leaves_the_others() -> None:
    limits = Limits.from_environ({"IMAGEBUILD_MAX_TARGETS": "100_000", "HOME": "/x"})
    assert limits.targets == 100_000
    assert limits.nodes == Limits().nodes
    assert Limits.from_environ({}) == Limits()


@pytest.mark.parametrize("text", ["", "many", "0", "-5", "1.5"])
def test_a_limit_that_is_not_a_positive_integer_is_a_usage_error(text: str) -> None:
    with pytest.raises(
        UsageError, match=f"IMAGEBUILD_MAX_STEPS must be a positive integer, got {text!r}"
    ):
        Limits.from_environ({"IMAGEBUILD_MAX_STEPS": text})


def test_depth_stays_within_what_python_can_walk() -> None:
    assert Limits.from_environ({"IMAGEBUILD_MAX_DEPTH": "200"}).depth == 200
    with pytest.raises(UsageError, match="of at most 200"):
        Limits.from_environ({"IMAGEBUILD_MAX_DEPTH": "201"})


def test_the_message_names_the_limit_and_how_to_raise_it() -> None:
    assert Limits(targets=10).over("targets", "12 targets") == (
        "12 targets, over the limit of 10 (IMAGEBUILD_MAX_TARGETS=N raises it)"
    )


def test_the_meter_counts_steps_up_to_the_limit() -> None:
    meter = Meter(Limits(steps=10))
    meter.step(10)
    with pytest.raises(LimitError, match="IMAGEBUILD_MAX_STEPS"):
        meter.step()


def test_the_meter_refuses_one_long_value_and_too_much_in_all() -> None:
    meter = Meter(Limits(string=5, output=12))
    meter.allow(5)
    with pytest.raises(LimitError, match="a value of 6 characters or items, over the limit of 5"):
        meter.allow(6)
    meter.built(5)
    meter.built(5)
    with pytest.raises(LimitError, match="IMAGEBUILD_MAX_OUTPUT"):
        meter.built(3)
