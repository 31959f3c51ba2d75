"""The matrix follows GitHub Actions' ``jobs.<job_id>.strategy.matrix``: a product
of the variables' lists, minus ``exclude``, plus ``include``.

The expected results of the two documented examples are GitHub's own
("Expanding or adding matrix configurations" and "Excluding matrix
configurations" in the workflow syntax reference).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagebuild.manifest.matrix import MatrixError, expand_matrix, matrix_size, misspelt_keyword


def test_github_include_example_fruit_and_animal() -> None:
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand_matrix(matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_github_exclude_example_partial_match() -> None:
    matrix = {
        "os": ["macos-latest", "windows-latest"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "exclude": [
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    }
    combinations = expand_matrix(matrix)
    assert len(combinations) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in combinations
    # a partial match excludes every combination it matches: both environments
    assert not [c for c in combinations if c["os"] == "windows-latest" and c["version"] == 16]
    assert {"os": "macos-latest", "version": 12, "environment": "staging"} in combinations
    assert {"os": "macos-latest", "version": 16, "environment": "production"} in combinations


def test_github_include_extends_one_existing_combination() -> None:
    matrix = {
        "os": ["windows-latest", "ubuntu-latest"],
        "node": [14, 16],
        "include": [{"os": "windows-latest", "node": 16, "npm": 6}],
    }
    assert expand_matrix(matrix) == [
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16, "npm": 6},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16},
    ]


def test_combinations_follow_the_order_of_the_variables_then_of_the_lists() -> None:
    matrix = {"version": [10, 12, 14], "os": ["ubuntu", "windows"]}
    assert [(c["version"], c["os"]) for c in expand_matrix(matrix)] == [
        (10, "ubuntu"),
        (10, "windows"),
        (12, "ubuntu"),
        (12, "windows"),
        (14, "ubuntu"),
        (14, "windows"),
    ]


def test_include_never_overwrites_an_original_value() -> None:
    matrix = {"size": ["s", "m"], "include": [{"size": "l", "extra": 1}]}
    assert expand_matrix(matrix) == [{"size": "s"}, {"size": "m"}, {"size": "l", "extra": 1}]


def test_include_overwrites_values_added_by_an_earlier_include() -> None:
    matrix = {"a": [1, 2], "include": [{"tag": "x"}, {"a": 2, "tag": "y"}]}
    assert expand_matrix(matrix) == [{"a": 1, "tag": "x"}, {"a": 2, "tag": "y"}]


def test_include_can_add_back_an_excluded_combination() -> None:
    matrix = {"x": [1, 2], "exclude": [{"x": 1}], "include": [{"x": 1, "note": "back"}]}
    assert expand_matrix(matrix) == [{"x": 2}, {"x": 1, "note": "back"}]


def test_include_does_not_extend_combinations_added_by_include() -> None:
    matrix = {"x": [1], "include": [{"x": 9}, {"x": 9, "y": 2}]}
    assert expand_matrix(matrix) == [{"x": 1}, {"x": 9}, {"x": 9, "y": 2}]


def test_mapping_values_become_combination_values() -> None:
    sizes = [{"name": "square", "w": 1024, "h": 1024}, {"name": "story", "w": 576, "h": 1024}]
    matrix = {"city": ["tokyo", "paris"], "format": sizes}
    combinations = expand_matrix(matrix)
    assert combinations == [
        {"city": "tokyo", "format": sizes[0]},
        {"city": "tokyo", "format": sizes[1]},
        {"city": "paris", "format": sizes[0]},
        {"city": "paris", "format": sizes[1]},
    ]


def test_exclude_and_include_match_mapping_values_whole() -> None:
    square = {"name": "square", "w": 1024}
    story = {"name": "story", "w": 576}
    matrix = {
        "city": ["tokyo", "paris"],
        "format": [square, story],
        "exclude": [{"city": "paris", "format": story}],
        "include": [{"format": square, "hd": True}],
    }
    assert expand_matrix(matrix) == [
        {"city": "tokyo", "format": square, "hd": True},
        {"city": "tokyo", "format": story},
        {"city": "paris", "format": square, "hd": True},
    ]


def test_include_only_matrix_gives_one_combination_per_entry_when_nothing_else() -> None:
    # with no variables at all, every include entry stands alone
    combinations = expand_matrix({"include": [{"a": 1}, {"a": 2, "b": 3}]})
    assert {"a": 1} in combinations
    assert {"a": 2, "b": 3} in combinations


def test_include_only_matrix_has_no_empty_combination() -> None:
    assert expand_matrix({"include": [{"a": 1}, {"a": 2, "b": 3}]}) == [
        {"a": 1},
        {"a": 2, "b": 3},
    ]


def test_the_input_matrix_is_not_modified() -> None:
    matrix: dict[str, Any] = {
        "x": [1, 2],
        "include": [{"x": 1, "y": 1}, {"z": 3}],
        "exclude": [{"x": 2}],
    }
    before = repr(matrix)
    expand_matrix(matrix)
    assert repr(matrix) == before


def test_combinations_are_independent_dicts() -> None:
    combinations = expand_matrix({"x": [1, 2], "include": [{"y": 0}]})
    combinations[0]["y"] = 99
    assert combinations[1]["y"] == 0


@pytest.mark.parametrize(
    ("matrix", "key", "message"),
    [
        ({"city": []}, ("city",), "matrix variable 'city' must be a non-empty list"),
        ({"city": "tokyo"}, ("city",), "matrix variable 'city' must be a non-empty list"),
        ({"city": None}, ("city",), "matrix variable 'city' must be a non-empty list"),
        ({"city": {"a": 1}}, ("city",), "matrix variable 'city' must be a non-empty list"),
        (
            {"city": ["tokyo"], "exclude": [{"city": "tokyo"}, {"size": 1}]},
            ("exclude", 1, "size"),
            "matrix exclude names unknown variable 'size'",
        ),
        (
            {"city": ["tokyo"], "include": {"city": "paris"}},
            ("include",),
            "matrix include must be a list of mappings",
        ),
        (
            {"city": ["tokyo"], "include": ["paris"]},
            ("include",),
            "matrix include must be a list of mappings",
        ),
        (
            {"city": ["tokyo"], "exclude": "paris"},
            ("exclude",),
            "matrix exclude must be a list of mappings",
        ),
    ],
)
def test_malformed_matrices_raise_with_the_offending_key(
    matrix: dict[str, Any], key: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(MatrixError) as caught:
        expand_matrix(matrix)
    assert str(caught.value) == message
    assert caught.value.key == key


def test_matrix_error_is_a_value_error() -> None:
    assert issubclass(MatrixError, ValueError)
    assert MatrixError("x").key == ()


def test_matrix_size_is_known_before_any_combination_is_made() -> None:
    matrix = {"a": list(range(1000)), "b": list(range(1000)), "c": list(range(1000))}
    matrix["include"] = [{"a": 1, "x": 2}]
    matrix["exclude"] = [{"a": 0}, {"b": 0}]
    assert matrix_size(matrix) == (10**9 + 1, 3 * 10**9)
    assert matrix_size({"include": [{"a": 1}, {"a": 2}]}) == (2, 0)


@pytest.mark.parametrize(
    ("key", "keyword"),
    [("exlude", "exclude"), ("exclud", "exclude"), ("excludes", "exclude"), ("Include", "include")],
)
def test_a_key_reading_like_a_keyword_is_named(key: str, keyword: str) -> None:
    assert misspelt_keyword(key) == keyword


@pytest.mark.parametrize("key", ["include", "exclude", "city", "clue", "inch", "extra"])
def test_keywords_and_ordinary_names_are_not_typos(key: str) -> None:
    assert misspelt_keyword(key) is None


# Property tests against a reference written the plain way: every product in
# order, minus what an exclude entry matches, each include entry extending the
# combinations its axis values match or else added on its own.
AXES = ("a", "b", "c")
EXTRAS = ("x", "y")
values = st.one_of(st.integers(0, 3), st.sampled_from(["p", "q"]))


@st.composite
def matrices(draw: st.DrawFn) -> dict[str, Any]:
    axes = draw(st.lists(st.sampled_from(AXES), unique=True, max_size=3))
    matrix: dict[str, Any] = {
        axis: draw(st.lists(values, min_size=1, max_size=4, unique=True)) for axis in axes
    }
    if axes and draw(st.booleans()):
        matrix["exclude"] = draw(
            st.lists(st.dictionaries(st.sampled_from(axes), values, min_size=1), max_size=4)
        )
    if draw(st.booleans()):
        matrix["include"] = draw(
            st.lists(
                st.dictionaries(st.sampled_from(AXES + EXTRAS), values, min_size=1), max_size=4
            )
        )
    return matrix


def reference_expansion(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    axes = [key for key in matrix if key not in ("include", "exclude")]
    combinations: list[dict[str, Any]] = [{}] if axes else []
    for axis in axes:
        combinations = [{**c, axis: value} for c in combinations for value in matrix[axis]]

    def matches(combination: dict[str, Any], entry: dict[str, Any]) -> bool:
        return all(combination[key] == value for key, value in entry.items())

    kept = [c for c in combinations if not any(matches(c, e) for e in matrix.get("exclude", []))]
    extended = [dict(c) for c in kept]
    added = []
    for entry in matrix.get("include", []):
        own = {key: value for key, value in entry.items() if key in axes}
        hits = [index for index, c in enumerate(kept) if matches(c, own)]
        for index in hits:
            extended[index].update({k: v for k, v in entry.items() if k not in axes})
        if not hits:
            added.append(dict(entry))
    return extended + added


@settings(max_examples=100, deadline=None)
@given(matrices())
def test_expansion_agrees_with_the_reference(matrix: dict[str, Any]) -> None:
    assert expand_matrix(matrix) == reference_expansion(matrix)


@settings(max_examples=100, deadline=None)
@given(matrices())
def test_expansion_never_exceeds_its_predicted_size(matrix: dict[str, Any]) -> None:
    combinations = expand_matrix(matrix)
    count, comparisons = matrix_size(matrix)
    assert len(combinations) <= count
    axes = [key for key in matrix if key not in ("include", "exclude")]
    product = math.prod(len(matrix[axis]) for axis in axes) if axes else 0
    entries = len(matrix.get("include", [])) + len(matrix.get("exclude", []))
    assert comparisons == product * entries


@settings(max_examples=100, deadline=None)
@given(matrices())
def test_excluded_values_never_return_and_includes_never_overwrite_axis_values(
    matrix: dict[str, Any],
) -> None:
    axes = [key for key in matrix if key not in ("include", "exclude")]
    product = [
        dict(zip(axes, p, strict=True)) for p in itertools.product(*(matrix[a] for a in axes))
    ]
    kept = [
        c
        for c in (product if axes else [])
        if not any(all(c[k] == v for k, v in e.items()) for e in matrix.get("exclude", []))
    ]
    combinations = expand_matrix(matrix)
    assert [{axis: c[axis] for axis in axes} for c in combinations[: len(kept)]] == kept
