"""The ``parameters`` text of AUTOMATIC1111's web UI, which Forge, ComfyUI
readers, Civitai and most image viewers for generated images understand::

    a glass teapot, studio light
    Negative prompt: blurry
    Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 1024x1024, Model: "runware:101@1"

Only the settings a request had are written. Values holding a comma, colon or
newline are JSON-quoted, as A1111 quotes them; the reader follows A1111's own
rule that the last line holds the settings when it has at least three of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from imagebuild.provenance.origin import Origin

NEGATIVE = "Negative prompt:"
# A1111's pattern for one ``Key: value`` setting (modules/infotext_utils.py).
_SETTING = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_MIN_SETTINGS = 3


@dataclass(frozen=True, slots=True)
class Parameters:
    prompt: str
    negative_prompt: str = ""
    settings: dict[str, str] = field(default_factory=dict)


def format_parameters(origin: Origin) -> str | None:
    """The text for ``origin``; a derived output is described by the generation
    it comes from, at its own size. ``None`` when no prompt is known."""
    generation = origin.generation
    if generation is None or generation.prompt is None:
        return None
    size = f"{origin.width}x{origin.height}" if origin.width and origin.height else None
    settings = [
        ("Steps", generation.steps),
        ("Sampler", generation.scheduler),
        ("CFG scale", generation.cfg_scale),
        ("Seed", generation.seed),
        ("Size", size),
        ("Model", generation.model),
        ("Denoising strength", generation.strength),
        ("Clip skip", generation.clip_skip),
        ("Preview", "true" if origin.preview else None),
    ]
    lines = [generation.prompt]
    if generation.negative_prompt:
        lines.append(f"{NEGATIVE} {generation.negative_prompt}")
    lines.append(
        ", ".join(f"{key}: {_quote(value)}" for key, value in settings if value is not None)
    )
    return "\n".join(lines)


def parse_parameters(text: str) -> Parameters:
    *lines, last = text.strip().split("\n")
    settings = {key: _unquote(value.strip()) for key, value in _SETTING.findall(last)}
    if len(settings) < _MIN_SETTINGS:
        lines.append(last)
        settings = {}
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if negative or line.startswith(NEGATIVE):
            negative.append(line.removeprefix(NEGATIVE).strip())
        else:
            prompt.append(line.strip())
    return Parameters("\n".join(prompt), "\n".join(negative), settings)


def _quote(value: object) -> str:
    text = str(value)
    if any(mark in text for mark in ",:\n"):
        return json.dumps(text, ensure_ascii=False)
    return text


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text
