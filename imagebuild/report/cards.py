"""What the report shows of each target: one card, from the session's
targets, the offline plan and its reasons, the lock, the files on disk and
the lock it is compared with.

A card's images are paths relative to its manifest's folder with their
digests; turning them into thumbnails and links is the gallery's business.
Lock entries read from another revision are untrusted input like the
manifest: a malformed one gives a card with less on it, never an error.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagebuild.pipeline import Session
from imagebuild.planning.lock import Entry, LockFile
from imagebuild.planning.plan import Action, Plan
from imagebuild.planning.statcache import StatCache
from imagebuild.report.against import Baseline
from imagebuild.report.objects import ObjectSource
from imagebuild.targets import Target

REMOVED = "removed"  # the status of a target that left the manifest
_PROMPT_FIELDS = ("positivePrompt", "prompt")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Change(StrEnum):
    """A target against the baseline, by its output digests."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    NEW = "new"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Output:
    path: str  # relative to the manifest's folder
    sha256: str | None  # None: not on disk


@dataclass(slots=True)
class Card:
    name: str
    status: str  # the plan's action, or REMOVED
    reasons: list[str]
    provider: str
    model: str
    prompt: str
    seed: int | None
    cost: float | None  # paid, as the lock records it
    estimate: float | None  # what the planned step would cost, when there is work
    built_at: str  # "" when never built
    outputs: list[Output]
    tags: list[str] = field(default_factory=list)
    transform: list[str] = field(default_factory=list)  # operation names of a derived target
    upstreams: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    change: Change | None = None
    # The baseline's outputs the card shows, by output index: every one of a
    # removed target, those that differ from the current output of a changed one.
    before: list[Output | None] = field(default_factory=list)


@dataclass(slots=True)
class Section:
    """One manifest's cards, and where their files and earlier images are."""

    manifest: str  # as the user named it
    root: Path
    objects: ObjectSource
    baseline: str | None  # what the cards are compared with, if anything
    cards: list[Card]


def make_section(
    session: Session,
    plan: Plan,
    lock: LockFile,
    stats: StatCache,
    baseline: Baseline | None,
    objects: ObjectSource,
) -> Section:
    dependents: dict[str, list[str]] = defaultdict(list)
    for target in session.targets:
        for upstream in target.upstreams:
            dependents[upstream].append(target.name)
    cards = []
    for step in plan.steps:
        target = step.target
        entry = lock.get(step.name) or {}
        card = Card(
            name=step.name,
            status=str(step.action),
            reasons=list(step.reasons),
            provider=target.provider,
            model="" if target.derived else _model(target),
            prompt=_text(target.request.get(target.model.prompt_field)),
            seed=_seed(entry.get("seed", target.request.get("seed"))),
            cost=_number(entry.get("cost")),
            estimate=None if step.action is Action.KEEP else step.estimated_cost,
            built_at=_text(entry.get("builtAt")),
            outputs=[Output(path, stats.digest(path)) for path in target.outputs],
            tags=_tags(target.spec.fields.get("tags")),
            transform=_operations(target.request.get("transform")) if target.derived else [],
            upstreams=list(target.upstreams),
            derived=dependents.get(step.name, []),
        )
        if baseline is not None:
            _compare(card, baseline.lock.get(step.name))
        cards.append(card)
    if baseline is not None and session.selected_all:
        removed = sorted(set(baseline.lock.entries) - session.all_names)
        cards += [_removed(name, baseline.lock.entries[name]) for name in removed]
    label = baseline.label if baseline is not None else None
    return Section(session.manifest.display, session.manifest.root, objects, label, cards)


def _model(target: Target) -> str:
    """The model id as sent, or as the registry names it where the request
    carries none (RunComfy puts it in the URL)."""
    return str(target.request.get("model") or target.model.model or "")


def _compare(card: Card, old: Any) -> None:
    if not isinstance(old, dict):
        card.change = Change.NEW
        return
    current = [output.sha256 for output in card.outputs]
    earlier = _outputs(old)
    if [output.sha256 for output in earlier] == current:
        card.change = Change.UNCHANGED
        return
    card.change = Change.CHANGED
    card.before = [
        None if index < len(current) and output.sha256 == current[index] else output
        for index, output in enumerate(earlier)
    ]


def _removed(name: str, entry: Any) -> Card:
    entry = entry if isinstance(entry, dict) else {}
    request = entry.get("request")
    request = request if isinstance(request, dict) else {}
    prompt = next((request[key] for key in _PROMPT_FIELDS if key in request), "")
    return Card(
        name=name,
        status=REMOVED,
        reasons=["removed from the manifest"],
        provider=_text(entry.get("provider")),
        model=_text(request.get("model")),
        prompt=_text(prompt),
        seed=_seed(entry.get("seed")),
        cost=_number(entry.get("cost")),
        estimate=None,
        built_at=_text(entry.get("builtAt")),
        outputs=[],
        transform=_operations(request.get("transform")),
        change=Change.REMOVED,
        before=list(_outputs(entry)),
    )


def _outputs(entry: Entry) -> list[Output]:
    outputs = entry.get("outputs")
    return [
        Output(_text(output.get("path")), _digest(output.get("sha256")))
        for output in (outputs if isinstance(outputs, list) else [])
        if isinstance(output, dict)
    ]


def _operations(transform: Any) -> list[str]:
    steps = transform if isinstance(transform, list) else []
    return [str(next(iter(step))) for step in steps if isinstance(step, dict) and step]


def _tags(tags: Any) -> list[str]:
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _seed(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _digest(value: Any) -> str | None:
    """A sha256 as hex, else None: the digest names files the report writes."""
    return value if isinstance(value, str) and _SHA256.fullmatch(value) else None
