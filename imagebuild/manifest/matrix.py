"""GitHub Actions matrix semantics: a product of lists, minus exclude, plus include."""

from __future__ import annotations

import difflib
import itertools
import math
from typing import Any

Combination = dict[str, Any]
KEYWORDS = ("include", "exclude")


class MatrixError(ValueError):
    """A malformed matrix; ``key`` names the offending entry."""

    def __init__(self, message: str, key: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.key = key


def expand_matrix(matrix: dict[str, Any]) -> list[Combination]:
    """Every combination, in the order of the lists, then include-only additions."""
    axes, include, exclude = _parts(matrix)
    for position, entry in enumerate(exclude):
        for key in entry:
            if key not in axes:
                raise MatrixError(
                    f"matrix exclude names unknown variable '{key}'", ("exclude", position, key)
                )
    combinations = [
        dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())
    ]
    combinations = [c for c in combinations if not any(_matches(c, e) for e in exclude)]
    if not axes:
        combinations = []  # an include-only matrix is just its include entries
    return _apply_include(combinations, include, frozenset(axes))


def matrix_size(matrix: dict[str, Any]) -> tuple[int, int]:
    """(at most how many combinations, how many comparisons include and exclude
    make), known before any combination is made."""
    axes, include, exclude = _parts(matrix)
    product = math.prod(len(values) for values in axes.values()) if axes else 0
    return product + len(include), product * (len(include) + len(exclude))


def misspelt_keyword(key: str) -> str | None:
    """``include`` or ``exclude`` when ``key`` reads like a typo of one."""
    close = difflib.get_close_matches(key, KEYWORDS, n=1, cutoff=0.75)
    return close[0] if close and key not in KEYWORDS else None


def _parts(
    matrix: dict[str, Any],
) -> tuple[dict[str, list[Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    include = _entries(matrix, "include")
    exclude = _entries(matrix, "exclude")
    axes = {key: value for key, value in matrix.items() if key not in KEYWORDS}
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise MatrixError(f"matrix variable '{key}' must be a non-empty list", (key,))
    return axes, include, exclude


def _entries(matrix: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = matrix.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MatrixError(f"matrix {key} must be a list of mappings", (key,))
    return entries


def _matches(combination: Combination, pattern: dict[str, Any]) -> bool:
    return all(combination.get(key) == value for key, value in pattern.items())


def _apply_include(
    combinations: list[Combination], include: list[dict[str, Any]], original: frozenset[str]
) -> list[Combination]:
    """An include entry extends every combination whose original values it
    does not contradict; one that extends none becomes a combination itself."""
    added: list[Combination] = []
    for entry in include:
        fixed = {key: value for key, value in entry.items() if key in original}
        extra = {key: value for key, value in entry.items() if key not in original}
        targets = [c for c in combinations if _matches(c, fixed)] if original else []
        for combination in targets:
            combination.update(extra)
        if not targets:
            added.append(dict(entry))
    return combinations + added
