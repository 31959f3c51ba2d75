"""Validate requests against model schemas, with messages a user can act on.

jsonschema is imported by this module only, and ``plan`` imports it only for
requests the lock file has not already seen validated under the same schema.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, relevance

from imagebuild.errors import unknown_name
from imagebuild.registry.models import ModelInfo

RequestPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a request is invalid; ``at_key`` points at the key, not its value."""

    path: RequestPath
    message: str
    at_key: bool = False


def find_problems(info: ModelInfo, request: dict[str, Any]) -> list[Problem]:
    """Every top-level schema violation of ``request``, most relevant first."""
    instance = {**_envelope(info), **request}
    if "model" not in info.properties:
        # RunComfy names the model in the URL, not the body.
        instance.pop("model", None)
    errors = sorted(_validator(info).iter_errors(instance), key=relevance)
    return [problem for error in errors for problem in _explain(error, instance)]


# A well-formed v4 UUID: the providers set the real one when they submit.
_PLACEHOLDER_UUID = "00000000-0000-4000-8000-000000000000"


def _envelope(info: ModelInfo) -> dict[str, Any]:
    """The transport fields a provider adds to every task, so that schemas
    requiring them validate the manifest's part of the request."""
    envelope: dict[str, Any] = {}
    task_type = info.properties.get("taskType", {})
    if "const" in task_type:
        envelope["taskType"] = task_type["const"]
    if "taskUUID" in info.properties:
        envelope["taskUUID"] = _PLACEHOLDER_UUID
    return envelope


_validators: dict[str, Any] = {}


def _validator(info: ModelInfo) -> Any:
    validator = _validators.get(info.digest)
    if validator is None:
        base = jsonschema.validators.validator_for(info.schema)
        cls = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
            base, {"properties": _remembering_properties()}
        )
        validator = _validators[info.digest] = cls(info.schema, format_checker=base.FORMAT_CHECKER)
    return validator


_SCALARS = (str, int, float, bool, type(None))
Keyword = Callable[[Any, dict[str, Any], Any, dict[str, Any]], Iterator[ValidationError]]


def _remembering_properties() -> Keyword:
    """The ``properties`` keyword, remembering which scalar values a property's
    schema accepted. A matrix of a thousand targets repeats one width, model
    and format a thousand times; only its prompts differ. Whether a scalar is
    valid depends on nothing but the value and the subschema (these schemas
    use no dynamic references), and the memo lives with its validator, which
    keeps the subschemas it is keyed by alive."""
    accepted: set[tuple[int, str, type, Any]] = set()

    def properties(
        validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for name, subschema in properties.items():
            if name not in instance:
                continue
            value = instance[name]
            key = (id(subschema), name, type(value), value)
            if isinstance(value, _SCALARS) and key in accepted:
                continue
            errors = list(validator.descend(value, subschema, path=name, schema_path=name))
            if errors:
                yield from errors
            elif isinstance(value, _SCALARS):
                accepted.add(key)

    return properties


def _explain(error: ValidationError, request: dict[str, Any]) -> list[Problem]:
    path: RequestPath = tuple(error.absolute_path)
    name = ".".join(str(part) for part in path) or "request"
    value: Any = error.instance
    expected: Any = error.validator_value
    custom = _custom_message(error, request)
    if custom is not None:
        return [Problem(_focus(error, path), custom)]
    schema = error.schema if isinstance(error.schema, dict) else {}
    match error.validator:
        case "additionalProperties":
            known = list(schema.get("properties", {}))
            return [
                Problem((*path, extra), unknown_name("field", str(extra), known), at_key=True)
                for extra in sorted(set(value) - set(known))
            ]
        case "required":
            missing = next((f for f in expected if f not in value), str(expected))
            return [Problem(path, f"missing required field '{missing}'")]
        case "dependentRequired":
            present = _dependent_present(error)
            needs = ", ".join(expected[present])
            return [Problem((*path, present), f"{present} needs {needs} too (they go together)")]
        case "enum":
            allowed = ", ".join(str(v) for v in expected)
            return [Problem(path, f"{name}: {value!r} is not allowed; allowed: {allowed}")]
        case "const":
            return [Problem(path, f"{name}: must be {expected!r}, got {value!r}")]
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            bound = error.validator.replace("exclusiveM", "exclusive m")
            return [Problem(path, f"{name}: {value!r} is out of range ({bound} {expected})")]
        case "multipleOf":
            return [Problem(path, f"{name}: {value!r} is not a multiple of {expected}")]
        case "type":
            expected = expected
            return [
                Problem(path, f"{name}: expected {expected}, got {type(value).__name__} {value!r}")
            ]
        case "minLength" | "maxLength" | "minItems" | "maxItems":
            return [Problem(path, f"{name}: {error.message}")]
    return [Problem(path, f"{name}: {error.message}")]


def _dependent_present(error: ValidationError) -> str:
    """The field present without the fields it needs."""
    value: Any = error.instance
    needs_by_field: Any = error.validator_value
    return next(
        str(field)
        for field, needs in needs_by_field.items()
        if field in value and any(need not in value for need in needs)
    )


def _focus(error: ValidationError, path: RequestPath) -> RequestPath:
    """Where a custom message points: the field it is about, not the whole request."""
    if error.validator == "dependentRequired":
        return (*path, _dependent_present(error))
    instance: Any = error.instance
    schema: Any = error.schema
    for _, field, _, _ in string.Formatter().parse(schema["x-errorMessage"]):
        if field and isinstance(instance, dict) and field in instance:
            return (*path, field)
    return path


def _custom_message(error: ValidationError, request: dict[str, Any]) -> str | None:
    """A schema may say ``x-errorMessage`` where jsonschema's words would not help."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    template = schema.get("x-errorMessage")
    if not isinstance(template, str):
        return None
    fields: defaultdict[str, Any] = defaultdict(lambda: "?", request)
    return template.format_map(fields)
