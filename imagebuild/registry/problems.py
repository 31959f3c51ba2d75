"""Why a request is invalid, in messages a user can act on.

Python's jsonschema reports each violation with the keyword, the schema and
the instance path, which the messages below are made from. It is imported
only for requests the fast screen in :mod:`imagebuild.registry.validation`
rejected.
"""

from __future__ import annotations

import string
from collections import defaultdict
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, relevance

from imagebuild.errors import unknown_name
from imagebuild.registry.models import ModelInfo
from imagebuild.registry.validation import Problem, RequestPath


def explain_problems(info: ModelInfo, instance: dict[str, Any]) -> list[Problem]:
    """Every top-level schema violation of ``instance``, most relevant first."""
    errors = sorted(_validator(info).iter_errors(instance), key=relevance)
    return [problem for error in errors for problem in _explain(error, instance)]


_validators: dict[str, Any] = {}


def _validator(info: ModelInfo) -> Any:
    validator = _validators.get(info.digest)
    if validator is None:
        cls = jsonschema.validators.validator_for(info.schema)
        validator = _validators[info.digest] = cls(info.schema, format_checker=cls.FORMAT_CHECKER)
    return validator


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
    """Where a custom message points: the field it is about, not the whole request.
    ``x-errorAt`` names that field (a dotted request path) where it is not the one
    that broke the rule: a layerDiffuse request is wrong about its outputFormat."""
    schema: Any = error.schema
    if "x-errorAt" in schema:
        return tuple(schema["x-errorAt"].split("."))
    if error.validator == "dependentRequired":
        return (*path, _dependent_present(error))
    instance: Any = error.instance
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
