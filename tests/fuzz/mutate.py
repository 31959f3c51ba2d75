"""A seeded mutator over manifests: the same seed gives the same cases on every machine."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

from tests.fuzz.snippets import (
    ALIAS_BOMB,
    EXTREME_NUMBERS,
    FINDINGS,
    HEAVY_EXPRESSIONS,
    HEAVY_STATEMENTS,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests"
KEYS = (
    "name",
    "matrix",
    "include",
    "exclude",
    "exlude",
    "output",
    "prompt",
    "width",
    "height",
    "seed",
    "numberResults",
    "from",
    "transform",
    "model",
    "provider",
    "vars",
    "defaults",
    "providers",
    "targets",
    "version",
    "prices",
    "<<",
    "resize",
    "crop",
    "format",
    "quality",
)
CHARACTERS = [*"{}[]:,&*!|>-#%'\"\\ \t\n", "\x00", "\x07", "é", "\u2028", "{{", "}}", "{%"]
_KEY_LINE = re.compile(r"^(\s*(?:- )?)([\w.<-]+):(\s+)(\S.*)$", re.M)
_NUMBER = re.compile(r"(?<![\w.#])-?\d+(?:\.\d+)?(?![\w.])")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def shrunk(text: str) -> str:
    """An example with its image sizes cut down, so that building a mutant stays quick."""
    return _NUMBER.sub(
        lambda m: str(max(16, int(float(m[0])) // 32)) if float(m[0]) >= 256 else m[0], text
    )


def examples() -> list[str]:
    return [shrunk(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("*.yaml"))]


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mutator:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.mutations: list[Callable[[str], str]] = [
            self.flip,
            self.delete_line,
            self.duplicate_line,
            self.swap_values,
            self.rename_key,
            self.extreme_number,
            self.deep_nesting,
            self.alias_trick,
            self.heavy_template,
        ]

    def mutant(self, text: str) -> str:
        for _ in range(self.random.choices((1, 2, 3), weights=(6, 3, 1))[0]):
            text = self.random.choice(self.mutations)(text)
        return text

    def _lines(self, text: str) -> list[str]:
        return text.splitlines(keepends=True) or [""]

    def flip(self, text: str) -> str:
        if not text:
            return self.random.choice(CHARACTERS)
        at = self.random.randrange(len(text))
        return text[:at] + self.random.choice(CHARACTERS) + text[at + 1 :]

    def delete_line(self, text: str) -> str:
        lines = self._lines(text)
        del lines[self.random.randrange(len(lines))]
        return "".join(lines)

    def duplicate_line(self, text: str) -> str:
        lines = self._lines(text)
        at = self.random.randrange(len(lines))
        lines.insert(at, lines[at])
        return "".join(lines)

    def _key_lines(self, text: str) -> list[re.Match[str]]:
        return list(_KEY_LINE.finditer(text))

    def _rewrite_two_values(self, text: str, rewrite: Callable[[str, str], tuple[str, str]]) -> str:
        """The values of two ``key: value`` lines, in the order written, replaced."""
        found = self._key_lines(text)
        if len(found) < 2:
            return text
        first, second = sorted(self.random.sample(found, 2), key=lambda m: m.start())
        new_first, new_second = rewrite(first[4], second[4])
        return (
            text[: first.start(4)]
            + new_first
            + text[first.end(4) : second.start(4)]
            + new_second
            + text[second.end(4) :]
        )

    def swap_values(self, text: str) -> str:
        return self._rewrite_two_values(text, lambda first, second: (second, first))

    def rename_key(self, text: str) -> str:
        found = self._key_lines(text)
        if not found:
            return text
        line = self.random.choice(found)
        key = line[2]
        if self.random.random() < 0.5:
            at = self.random.randrange(len(key))
            key = (
                key[:at] + key[at + 1 :]
                if self.random.random() < 0.5
                else key[:at] + key[at] + key[at:]
            )
        else:
            key = self.random.choice(KEYS)
        return text[: line.start(2)] + key + text[line.end(2) :]

    def _replace_value(self, text: str, value: str) -> str:
        found = self._key_lines(text)
        if not found:
            return text + value
        line = self.random.choice(found)
        return text[: line.start(4)] + value + text[line.end(4) :]

    def extreme_number(self, text: str) -> str:
        found = list(_NUMBER.finditer(text))
        number = self.random.choice(EXTREME_NUMBERS)
        if not found:
            return self._replace_value(text, number)
        at = self.random.choice(found)
        return text[: at.start()] + number + text[at.end() :]

    def deep_nesting(self, text: str) -> str:
        depth = self.random.choice([30, 70, 300, 1200])
        opening, closing = self.random.choice([("[", "]"), ("{a: ", "}")])
        return self._replace_value(text, opening * depth + "1" + closing * depth)

    def alias_trick(self, text: str) -> str:
        trick = self.random.randrange(5)
        if trick == 0:
            return self._replace_value(text, "&loop [1, *loop]")
        if trick == 1:
            return self._replace_value(text, "*undefined")
        if trick == 2:
            return self._replace_value(
                text, "{<<: " + self.random.choice(["5", "'str'", "[1]", "*nowhere"]) + "}"
            )
        if trick == 3:
            return self._rewrite_two_values(text, lambda first, _: ("&shared " + first, "*shared"))
        return (
            text.replace("version: 1\n", ALIAS_BOMB, 1)
            if "vars:" not in text
            else text + "\n" + ALIAS_BOMB[11:]
        )

    def heavy_template(self, text: str) -> str:
        if self.random.random() < 0.3:
            return self._replace_value(text, quoted(self.random.choice(HEAVY_STATEMENTS)))
        expression = self.random.choice(HEAVY_EXPRESSIONS)
        found = list(_TEMPLATE.finditer(text))
        if found and self.random.random() < 0.5:
            at = self.random.choice(found)
            return text[: at.start()] + "{{ " + expression + " }}" + text[at.end() :]
        return self._replace_value(text, quoted("{{ " + expression + " }}"))


def mutants(seed: int, count: int) -> list[tuple[str, str]]:
    """``count`` (name, manifest) pairs, the same for the same seed: mostly the
    examples mutated, which still reach planning and building, and the findings."""
    mutator = Mutator(seed)
    valid, findings = examples(), [text for text, _, _ in FINDINGS.values()]
    cases = []
    for index in range(count):
        bases = valid if mutator.random.random() < 0.75 else findings
        cases.append((f"mutant-{seed}-{index}", mutator.mutant(mutator.random.choice(bases))))
    return cases
