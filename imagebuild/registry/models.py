"""Model metadata read from ``imagebuild/schemas/models/*.json``, shipped inside the package.

Each schema carries an ``x-imagebuild`` block (provider, model id, price,
seed support, prompt field, image inputs, allowed sizes). The generic Runware
schema (model id null) serves every Runware model without a schema of its own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import orjson

from imagebuild.errors import unknown_name

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
SCHEMAS_DIR = SCHEMAS / "models"
TRANSFORMS_SCHEMA = "transforms.schema.json"
_REFERENCE = {
    "type": "object",
    "description": "Output `index` (from 1) of the target `target`.",
    "required": ["target"],
    "additionalProperties": False,
    "properties": {"target": {"type": "string"}, "index": {"type": "integer", "minimum": 1}},
}
LOCAL_MODEL = "local"
# Runware's AIR identifiers: source:id@version, e.g. runware:101@1, civitai:139562@297320
_AIR_ID = re.compile(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+\Z")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    provider: str
    model: str | None
    price: float | None
    seed: bool
    prompt_field: str
    image_inputs: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...] | None
    schema: dict[str, Any] = field(repr=False)
    digest: str = field(repr=False)
    # Top-level request fields under which image inputs can appear: most
    # requests have none, and checking that is one set operation.
    input_roots: frozenset[str] = field(repr=False, default=frozenset())

    @property
    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = self.schema.get("properties", {})
        return props

    @property
    def default_format(self) -> str | None:
        default = self.properties.get("outputFormat", {}).get("default")
        return str(default).upper() if default is not None else None


class UnknownModelError(LookupError):
    pass


class Registry:
    """Finds the schema that validates a (provider, model) pair."""

    def __init__(self, models: list[ModelInfo], transforms_schema: Path) -> None:
        self.by_model = {info.model: info for info in models if info.model is not None}
        self.generic = {info.provider: info for info in models if info.model is None}
        self.transforms_schema = transforms_schema

    @classmethod
    def from_directory(cls, directory: Path) -> Registry:
        models = [_read_model(path) for path in sorted(directory.glob("*.json"))]
        return cls(models, directory.parent / TRANSFORMS_SCHEMA)

    @cached_property
    def derive(self) -> ModelInfo:
        """The schema of derived targets, read only by manifests that have some."""
        return _derive_model(self.transforms_schema)

    def find(self, provider: str | None, model: str | None) -> ModelInfo:
        """The model's schema; ``provider`` may differ only when it is ``local``,
        which renders any model's request offline."""
        if model is None:
            if provider in (None, "local"):
                return self.by_model[LOCAL_MODEL]
            raise UnknownModelError(f"no model given for provider '{provider}'")
        info = self.by_model.get(model)
        if info is not None:
            if provider not in (None, "local", info.provider):
                raise UnknownModelError(
                    f"model '{model}' is served by provider '{info.provider}', not '{provider}'"
                )
            return info
        runware = self.generic.get("runware")
        if runware is not None and provider == "runware":
            return runware
        if runware is not None and provider is None and _AIR_ID.match(model):
            near = [known for known in self.by_model if _one_edit_apart(model, known)]
            if not near:
                return runware
            raise UnknownModelError(
                f"unknown model '{model}' (did you mean '{near[0]}'?); to use a Runware model"
                " of exactly that id, set provider: runware on the target"
            )
        raise UnknownModelError(unknown_name("model", model, list(self.by_model)))


def _one_edit_apart(a: str, b: str) -> bool:
    """One character inserted, deleted or replaced: a typo, not another model
    (``imagineart:1@6`` for ``imagineart:1@5``; ``runware:101@1`` is far from
    every registered id)."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return len(long) - len(short) == 1 and any(
        long[:index] + long[index + 1 :] == short for index in range(len(long))
    )


@cache
def builtin_registry() -> Registry:
    return Registry.from_directory(SCHEMAS_DIR)


def _read_model(path: Path) -> ModelInfo:
    raw = path.read_bytes()
    schema = orjson.loads(raw)
    meta = schema["x-imagebuild"]
    sizes = meta.get("sizes")
    return ModelInfo(
        key=path.stem,
        provider=meta["provider"],
        model=meta["model"],
        price=meta["price"],
        seed=bool(meta["seed"]),
        prompt_field=meta["promptField"],
        image_inputs=tuple(meta.get("imageInputs", ())),
        sizes=tuple((int(w), int(h)) for w, h in sizes) if sizes else None,
        schema=schema,
        digest=hashlib.sha256(raw).hexdigest()[:16],
        input_roots=frozenset(
            path.split("[")[0].split(".")[0] for path in meta.get("imageInputs", ())
        ),
    )


def _derive_model(transforms_path: Path) -> ModelInfo:
    """Derived targets validate like any request: ``from`` plus a ``transform``
    list, against a schema composed around ``schemas/transforms.schema.json``."""
    raw = transforms_path.read_bytes()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["from"],
        "additionalProperties": False,
        "properties": {
            "from": {"anyOf": [{"type": "string"}, _REFERENCE]},
            "transform": orjson.loads(raw),
        },
    }
    return ModelInfo(
        key="derive",
        provider="derive",
        model=None,
        price=0.0,
        seed=False,
        prompt_field="prompt",
        # A composite's font file changes the pixels as much as its image does.
        image_inputs=("from", "transform[].composite.image", "transform[].composite.font"),
        sizes=None,
        schema=schema,
        digest=hashlib.sha256(raw).hexdigest()[:16],
        input_roots=frozenset({"from", "transform"}),
    )
