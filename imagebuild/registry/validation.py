"""Validate requests against model schemas before anything is spent.

Every request is screened by jsonschema-rs, a compiled validator of the same
draft: a thousand requests take about a millisecond, where Python's
jsonschema takes 60 ms plus 60 ms to import. Only a request it rejects goes
to :mod:`imagebuild.registry.problems`, whose jsonschema errors say what is
wrong and where. The screen is at least as strict as jsonschema (it checks
every format, and ``$`` in a pattern does not match before a final newline),
and a request it rejects that jsonschema accepts is accepted: jsonschema has
the last word. A request its schema accepts then meets the rules that compare
its fields (:mod:`imagebuild.registry.rules`). ``plan`` validates only
requests the lock file has not already seen validated under the same schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from imagebuild.registry.models import ModelInfo

RequestPath = tuple[str | int, ...]
# The pixel size of the image input at a request path, when the caller knows it.
ImageSizes = Callable[[RequestPath], tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a request is invalid; ``at_key`` points at the key, not its value."""

    path: RequestPath
    message: str
    at_key: bool = False


def find_problems(
    info: ModelInfo, request: dict[str, Any], image_size: ImageSizes | None = None
) -> list[Problem]:
    """Every top-level schema violation of ``request``, most relevant first; when
    there is none, every cross-field rule it breaks. ``image_size`` gives the pixel
    size of an image input where the caller can read it."""
    instance = {**_envelope(info), **request}
    for owned in ("model", "outputFormat"):
        # RunComfy names the model in the URL, not the body, and chooses no
        # format: imagebuild converts the result to the output's format.
        if owned not in info.properties:
            instance.pop(owned, None)
    # Imported here: the rules build on Problem, defined below.
    from imagebuild.registry.rules import rule_problems

    if screen(info).is_valid(instance):
        return rule_problems(info, request, image_size)
    from imagebuild.registry.problems import explain_problems

    return explain_problems(info, instance) or rule_problems(info, request, image_size)


_screens: dict[str, jsonschema_rs.Validator] = {}


def screen(info: ModelInfo) -> jsonschema_rs.Validator:
    """The compiled validator of a model's schema, formats checked; schemas
    refer only within themselves, so nothing is ever fetched."""
    validator = _screens.get(info.digest)
    if validator is None:
        validator = _screens[info.digest] = jsonschema_rs.validator_for(
            info.schema, validate_formats=True
        )
    return validator


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
