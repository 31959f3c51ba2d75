"""Up-to-date checkers: each looks at one aspect of a target and says why it
is out of date. An empty list from every checker means ``keep``.

Checkers are interchangeable strategies (as in doit): the planner runs them
all and collects the reasons per target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagebuild.planning.lock import Entry
from imagebuild.planning.statcache import StatCache
from imagebuild.targets import Target

_PROMPTS = frozenset({"positivePrompt", "prompt", "negativePrompt"})
_SHOWN = 40


@dataclass(slots=True)
class Candidate:
    """A target with everything the checkers compare against its lock entry."""

    target: Target
    entry: Entry | None
    fingerprint: str
    request: dict[str, Any]
    input_digests: dict[str, str]
    # A departed lock entry whose request this new target repeats.
    renamed_from: str | None = None


Checker = Callable[[Candidate, StatCache], list[str]]


def request_reasons(candidate: Candidate, stats: StatCache) -> list[str]:
    """What changed in the request since the lock entry was built."""
    entry = candidate.entry
    if entry is None:
        return [
            f"renamed from {candidate.renamed_from}" if candidate.renamed_from else "new target"
        ]
    if entry.get("fingerprint") == candidate.fingerprint:
        return []
    reasons = []
    if entry.get("provider") != candidate.target.provider:
        reasons.append(f"provider changed {entry.get('provider')} -> {candidate.target.provider}")
    old: dict[str, Any] = entry.get("request", {})
    new = candidate.request
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            reasons.append(_field_change(candidate.target.manifest_field((key,))[0], key, old, new))
    old_inputs: dict[str, str] = entry.get("inputs", {})
    upstreams = {
        ".".join(map(str, path)): reference.target
        for path, reference in candidate.target.references.items()
    }
    for key in sorted(old_inputs.keys() & candidate.input_digests.keys()):
        if old_inputs[key] != candidate.input_digests[key]:
            upstream = upstreams.get(key)
            reasons.append(f"upstream {upstream} changed" if upstream else f"input {key} changed")
    return reasons or ["fingerprint changed (cache epoch)"]


def output_reasons(candidate: Candidate, stats: StatCache) -> list[str]:
    """Whether the recorded outputs are on disk, unmodified, at the declared paths."""
    entry = candidate.entry
    if entry is None:
        return []
    recorded = entry.get("outputs", [])
    declared = candidate.target.outputs
    old_paths = [output["path"] for output in recorded]
    if old_paths != list(declared):
        moved = ", ".join(
            f"{a} -> {b}" for a, b in zip(old_paths, declared, strict=False) if a != b
        )
        return [f"output path changed {moved}" if moved else "number of outputs changed"]
    reasons = []
    for path, output in zip(declared, recorded, strict=True):
        digest = stats.digest(path)
        if digest is None:
            reasons.append(f"output missing: {path}")
        elif digest != output.get("sha256"):
            reasons.append(f"output modified: {path}")
    return reasons


CHECKERS: tuple[Checker, ...] = (request_reasons, output_reasons)


def _field_change(shown: str | int, key: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    if key in _PROMPTS:
        return f"{shown} changed"
    if key not in old:
        return f"{shown} set to {_short(new[key])}"
    if key not in new:
        return f"{shown} removed (was {_short(old[key])})"
    if isinstance(old[key], dict | list) or isinstance(new[key], dict | list):
        return f"{shown} changed"
    return f"{shown} changed {_short(old[key])} -> {_short(new[key])}"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
