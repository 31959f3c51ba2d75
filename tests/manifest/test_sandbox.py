"""The metered sandbox: what each hook counts, and the sizes it predicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagebuild.manifest.limits import LimitError, Limits, Meter
from imagebuild.manifest.sandbox import HEAVY_STEPS, MeteredSandbox, text_size
from imagebuild.manifest.template import TemplateEngine


@pytest.mark.parametrize(
    "value",
    ["text", "", ["a", "bc"], ("a", 1), {"k": ["v", 2]}, [[["deep"]]], 12345678901234567890],
)
def test_text_size_is_at_least_the_length_of_the_text(value: Any) -> None:
    assert text_size(value, 10**6) >= len(str(value))


def test_text_size_counts_a_shared_string_each_time_it_is_held() -> None:
    shared = "x" * 1000
    assert text_size([shared] * 50, 10**9) >= 50_000


def test_text_size_stops_counting_past_the_cap() -> None:
    # Nested lists of a million references each: counting stops at the first list.
    nested = [["y" * 100] * 10**6] * 10**6
    assert text_size(nested, 100) > 100
    assert text_size([["y" * 100] * 10, "z" * 200], 100) > 100


def render(text: str, limits: Limits | None = None) -> tuple[Any, Meter]:
    meter = Meter(limits or Limits())
    environment = MeteredSandbox(meter)
    return environment.from_string(text).render(), meter


def test_each_loop_iteration_is_a_step() -> None:
    _, meter = render("{% for i in range(7) %}{% endfor %}")
    assert meter.steps == 7 + 2  # seven iterations, calls of range and of the loop


def test_each_filter_is_a_step_and_its_result_is_output() -> None:
    result, meter = render("{{ 'abc'|upper|lower }}")
    assert result == "abc"
    assert meter.steps == 2
    assert meter.output == 6


def test_a_macro_call_is_a_heavy_step() -> None:
    _, meter = render("{% macro m() %}{% endmacro %}{{ m() }}{{ m() }}")
    assert meter.steps == 2 * HEAVY_STEPS


def test_an_include_is_a_heavy_step(tmp_path: Path) -> None:
    (tmp_path / "part.j2").write_text("p")
    engine = TemplateEngine(tmp_path)
    assert engine.render("{% include 'part.j2' %}{% include 'part.j2' %}", {}) == "pp"
    assert engine.meter.steps == 2 * HEAVY_STEPS


def test_filters_are_not_run_while_compiling() -> None:
    meter = Meter(Limits())
    environment = MeteredSandbox(meter)
    template = environment.from_string("{{ 'a'|center(10**9) }}")
    assert meter.steps == 0
    with pytest.raises(LimitError):
        template.render()


def test_a_captured_block_counts_as_output() -> None:
    result, meter = render("{% set x %}{{ 'ab' }}cd{% endset %}{{ x|length }}")
    assert result == "4"
    assert meter.output >= 4
