"""The origin record: what one output file says about where it came from.

It travels inside the image as JSON (camelCase keys, the lock file's and the
providers' own field names), so it must read back from a file found anywhere,
written by this or a later imagebuild: unknown keys are ignored, and a known
key of the wrong type makes the whole record invalid rather than half-read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from types import NoneType
from typing import Any, get_args, get_origin, get_type_hints

from imagebuild.errors import ImageBuildError
from imagebuild.planning.fingerprint import canonical_json

DERIVED = "derive"


class RecordError(ImageBuildError):
    """An imagebuild record that is not JSON or does not have the shape of an origin."""


@dataclass(frozen=True, slots=True)
class Origin:
    """One output of one target. A derived output names its ``source`` target
    and ``transform`` chain, and carries the source's own origin as ``upstream``
    (as read from the source file, so ``None`` when that file had none)."""

    target: str
    provider: str
    fingerprint: str
    output: int = 1
    manifest: str | None = None
    model: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    scheduler: str | None = None
    cfg_scale: float | None = None
    strength: float | None = None
    clip_skip: int | None = None
    task_uuid: str | None = None
    image_uuid: str | None = None
    preview: bool = False
    source: str | None = None
    transform: list[Any] | None = None
    upstream: Origin | None = None

    @property
    def derived(self) -> bool:
        return self.provider == DERIVED

    @property
    def generation(self) -> Origin | None:
        """The generated image at the root of a derivation chain (this one when
        generated); ``None`` when a source file carried no origin."""
        origin: Origin | None = self
        while origin is not None and origin.derived:
            origin = origin.upstream
        return origin

    def to_json(self) -> dict[str, Any]:
        """Set fields only, ``preview`` always: a reader should not have to
        know the default to tell a draft from the real thing."""
        document: dict[str, Any] = {}
        for name, key in _KEYS.items():
            value = getattr(self, name)
            if name == "upstream" and value is not None:
                value = value.to_json()
            if value is not None:
                document[key] = value
        return document

    @classmethod
    def from_json(cls, document: Any) -> Origin:
        if not isinstance(document, dict):
            raise RecordError("the record is not a JSON object")
        values: dict[str, Any] = {}
        for name, key in _KEYS.items():
            if key not in document or document[key] is None:
                continue
            value = document[key]
            if name == "upstream":
                value = cls.from_json(value)
            elif not has_type(value, _TYPES[name]):
                raise RecordError(f"{key} is {json.dumps(value)[:40]}, not {_TYPES[name].__name__}")
            values[name] = value
        missing = [
            _KEYS[name] for name in ("target", "provider", "fingerprint") if name not in values
        ]
        if missing:
            raise RecordError(f"the record has no {', '.join(missing)}")
        return cls(**values)

    def canonical(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8: the same origin, the same bytes."""
        return canonical_json(self.to_json())

    def canonical_ascii(self) -> str:
        """The same JSON with non-ASCII characters escaped, for EXIF's ASCII fields."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def parse_record(text: str | bytes) -> Origin:
    try:
        document = json.loads(text)
        return Origin.from_json(document)
    except (ValueError, UnicodeDecodeError) as error:
        raise RecordError(f"the record is not valid JSON ({error})") from None
    except RecursionError:
        raise RecordError("the record is nested too deeply") from None


_SPECIAL_KEYS = {
    "negative_prompt": "negativePrompt",
    "cfg_scale": "CFGScale",
    "clip_skip": "clipSkip",
    "task_uuid": "taskUUID",
    "image_uuid": "imageUUID",
    "source": "from",
}
_KEYS = {field.name: _SPECIAL_KEYS.get(field.name, field.name) for field in fields(Origin)}
# The plain type each field holds when set, from the annotations above.
_TYPES: dict[str, type] = {
    name: next(
        get_origin(option) or option
        for option in get_args(hint) or (hint,)
        if option is not NoneType
    )
    for name, hint in get_type_hints(Origin).items()
}


def has_type(value: Any, expected: type) -> bool:
    """JSON's view of types: a bool is no number, and an int is a float."""
    if expected is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)
