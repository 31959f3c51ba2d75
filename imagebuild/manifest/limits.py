"""How much one manifest may ask of ``validate`` and ``plan``.

A manifest can arrive in a pull request, so it is untrusted input: a nine-line
alias bomb, a six-axis matrix or a Jinja loop must be refused in seconds,
not after minutes and gigabytes. Each limit is generous for real campaigns
and named in the error that reports it. Only the environment of whoever runs
the command raises one (``IMAGEBUILD_MAX_TARGETS=100000 imagebuild plan``),
never the manifest itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from imagebuild.errors import UsageError

# Python's own stack, and the C libraries that walk JSON, run out not far beyond.
MAX_DEPTH = 200


@dataclass(frozen=True, slots=True)
class Limits:
    """Each field is a ceiling; ``VARIABLES`` names the environment variable raising it."""

    bytes: int = 8 * 1024 * 1024  # the manifest's text, with its aliases expanded
    nodes: int = 500_000  # YAML values, with aliases expanded
    depth: int = 64  # nesting of lists and mappings, in YAML and in template values
    targets: int = 25_000  # after matrix expansion; a matrix larger than this is refused early
    string: int = 100_000  # characters in one rendered string, items in one list
    steps: int = 2_000_000  # template loop iterations and calls, matrix comparisons
    output: int = 50_000_000  # characters (and list items) built by all templates

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The defaults, raised (or lowered) by ``IMAGEBUILD_MAX_*`` variables."""
        changes: dict[str, int] = {}
        for name, variable in VARIABLES.items():
            text = environ.get(variable)
            if text is None:
                continue
            try:
                value = int(text.replace("_", ""))
            except ValueError:
                value = 0
            highest = MAX_DEPTH if name == "depth" else None
            if value < 1 or (highest is not None and value > highest):
                bound = f" of at most {highest}" if highest is not None else ""
                raise UsageError(f"{variable} must be a positive integer{bound}, got {text!r}")
            changes[name] = value
        return replace(cls(), **changes)

    def over(self, name: str, what: str) -> str:
        """The message for ``what`` exceeding the limit ``name``, saying how to raise it."""
        return f"{what}, over the limit of {getattr(self, name):,} ({VARIABLES[name]}=N raises it)"


VARIABLES = {field.name: f"IMAGEBUILD_MAX_{field.name.upper()}" for field in fields(Limits)}
DEFAULT_LIMITS = Limits()


class LimitError(Exception):
    """A limit was reached; the message names it and how to raise it."""


class Meter:
    """What the templates of one manifest have done so far, against its limits.

    Kept apart from the Jinja sandbox that feeds it, so that a manifest of plain
    substitutions is metered without importing Jinja. Called for every render
    of ten thousand targets, so its ceilings are plain attributes."""

    __slots__ = ("_longest", "_most_output", "_most_steps", "limits", "output", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.output = 0
        self._most_steps = limits.steps
        self._longest = limits.string
        self._most_output = limits.output

    def step(self, count: int = 1) -> None:
        """``count`` loop iterations, calls or comparisons were made."""
        self.steps += count
        if self.steps > self._most_steps:
            raise LimitError(
                self.limits.over("steps", "templates and matrices take too many steps")
            )

    def allow(self, size: int) -> None:
        """A value of ``size`` characters or items is about to be built."""
        if size > self._longest:
            what = f"a template would build a value of {size:,} characters or items"
            raise LimitError(self.limits.over("string", what))

    def built(self, size: int) -> None:
        """A string or list of ``size`` was built: it counts towards the output of all templates."""
        if size > self._longest:
            self.allow(size)
        self.output += size
        if self.output > self._most_output:
            what = "templates build too much text (characters and list items, all together)"
            raise LimitError(self.limits.over("output", what))
