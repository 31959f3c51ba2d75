"""Rules of Runware's ``imageInference`` that compare one field with another.

Seed 004 bounds some fields by others ("Max: {steps}", "Min: {startStep + 1}"),
limits reference images per model architecture and sizes an outpainting by its
seed image: nothing a JSON Schema can say without repeating itself per value.
The rules run only on requests their schema accepted, so every value has the
type the schema promises. Where the seed leaves a value open (steps chosen by an
acceleration preset, an architecture its table does not name), nothing is
refused: the API has the last word on what may be valid.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebuild.registry.models import ModelInfo
from imagebuild.registry.validation import ImageSizes, Problem, RequestPath

# "steps integer Min: 1 Max: 100 Default: 20" (seed 004).
DEFAULT_STEPS = 20
# referenceImages, "View model compatibility": "FLUX.1 Kontext | 2", "Ace++ | 1" (seed 004).
# ACE++ is recognised by its acePlusPlus object; FLUX.1 Kontext by the model of the seed's
# own referenceImages example, runware:106@1 (FLUX.1 Kontext [dev] on Runware's model page).
# "Other models | Not supported" is not enforced: the same seed documents ByteDance models
# taking reference images, and a model id does not say its architecture.
ACE_REFERENCE_LIMIT = 1
KONTEXT_REFERENCE_LIMITS = {"runware:106@1": 2}
# providerSettings.bytedance.maxSequentialImages: "The combined total of reference images
# plus sequential images cannot exceed 15" (seed 004).
BYTEDANCE_IMAGE_LIMIT = 15
# The top-level fields some rule reads: most requests have none, and that is one set operation.
_RULED_FIELDS = frozenset(
    {
        "controlNet",
        "acceleratorOptions",
        "refiner",
        "referenceImages",
        "providerSettings",
        "outpaint",
    }
)


def rule_problems(
    info: ModelInfo, request: dict[str, Any], image_size: ImageSizes | None = None
) -> list[Problem]:
    """Every cross-field rule ``request`` breaks; ``image_size`` gives the size of
    its image inputs where they can be read (without it, size rules are skipped)."""
    if info.provider != "runware" or _RULED_FIELDS.isdisjoint(request):
        return []
    problems = [*_step_problems(request), *_reference_problems(request)]
    if image_size is not None and "outpaint" in request:
        problems += _outpaint_problems(request, image_size)
    return problems


def file_sizes(root: Path, inputs: Mapping[RequestPath, str]) -> ImageSizes:
    """The sizes of a request's local input files (paths relative to ``root``),
    each read from the file's header only when a rule asks for it."""

    def size(path: RequestPath) -> tuple[int, int] | None:
        relative = inputs.get(path)
        return _header_size(root / relative) if relative is not None else None

    return size


def _header_size(file: Path) -> tuple[int, int] | None:
    # Pillow is imported by the few requests whose rules need a file's size.
    from PIL import Image

    try:
        with Image.open(file) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError):
        return None  # not an image at all: the provider refuses it when it reads it
    return width, height


@dataclass(frozen=True, slots=True)
class _Steps:
    """The request's number of steps, and whether the request gave it."""

    count: int
    given: bool

    @property
    def said(self) -> str:
        return f"steps ({self.count})" if self.given else f"steps ({self.count}, the default)"


def _steps_of(request: dict[str, Any]) -> _Steps | None:
    if "steps" in request:
        return _Steps(request["steps"], given=True)
    # "acceleration: ... intelligently adjusts acceleratorOptions, steps, scheduler, and
    # other underlying settings" (seed 004): with a preset, the steps are its own.
    if request.get("acceleration", "none") != "none":
        return None
    return _Steps(DEFAULT_STEPS, given=False)


def _step_problems(request: dict[str, Any]) -> Iterator[Problem]:
    steps = _steps_of(request)
    where: RequestPath
    for index, control in enumerate(request.get("controlNet", [])):
        where = ("controlNet", index)
        # startStep "Max: {steps}"; endStep "Min: {startStep + 1} Max: {steps}"; the
        # percentages: endStepPercentage "Min: {startStepPercentage + 1} Max: 100".
        yield from _ordered(where, control, "startStep", "endStep")
        yield from _within(where, control, ("startStep", "endStep"), steps)
        yield from _ordered(where, control, "startStepPercentage", "endStepPercentage")
    accelerator = request.get("acceleratorOptions", {})
    # cacheStartStep "Max: {steps}"; cacheEndStep "Min: {cacheStartStep + 1} Max: {steps}".
    where = ("acceleratorOptions",)
    yield from _ordered(where, accelerator, "cacheStartStep", "cacheEndStep")
    yield from _within(where, accelerator, ("cacheStartStep", "cacheEndStep"), steps)
    yield from _ordered(where, accelerator, "cacheStartStepPercentage", "cacheEndStepPercentage")
    # refiner.startStep: "from 2 (second step) to the number of steps specified".
    yield from _within(("refiner",), request.get("refiner", {}), ("startStep",), steps)


def _ordered(
    where: RequestPath, node: dict[str, Any], start_key: str, end_key: str
) -> Iterator[Problem]:
    start, end = node.get(start_key), node.get(end_key)
    if start is not None and end is not None and end <= start:
        path = (*where, end_key)
        yield Problem(path, f"{_name(path)}: {end} must be above {start_key} {start}")


def _within(
    where: RequestPath, node: dict[str, Any], keys: tuple[str, ...], steps: _Steps | None
) -> Iterator[Problem]:
    if steps is None:
        return
    for key in keys:
        value = node.get(key)
        if value is not None and value > steps.count:
            path = (*where, key)
            yield Problem(path, f"{_name(path)}: {value} is more than {steps.said}")


def _reference_problems(request: dict[str, Any]) -> Iterator[Problem]:
    count = len(request.get("referenceImages", []))
    limit, architecture = (
        (ACE_REFERENCE_LIMIT, "ACE++")
        if "acePlusPlus" in request
        else (KONTEXT_REFERENCE_LIMITS.get(request["model"]), "FLUX.1 Kontext")
    )
    if limit is not None and count > limit:
        yield Problem(
            ("referenceImages", limit),
            f"referenceImages: {count} images, but {architecture} takes at most {limit}",
        )
    sequential = request.get("providerSettings", {}).get("bytedance", {}).get("maxSequentialImages")
    if sequential is not None and count + sequential > BYTEDANCE_IMAGE_LIMIT:
        path = ("providerSettings", "bytedance", "maxSequentialImages")
        yield Problem(
            path,
            f"{_name(path)}: {sequential} plus {count} reference images is more than"
            f" {BYTEDANCE_IMAGE_LIMIT}",
        )


def _outpaint_problems(request: dict[str, Any], image_size: ImageSizes) -> Iterator[Problem]:
    seed = image_size(("seedImage",))
    if seed is None:
        return
    # outpaint: "you must provide the final dimensions using width and height parameters,
    # which should account for the original image size plus the total extension
    # (seedImage dimensions + top + bottom, left + right)" (seed 004).
    sides = request["outpaint"]
    for field, seed_side, before, after in (
        ("width", seed[0], "left", "right"),
        ("height", seed[1], "top", "bottom"),
    ):
        expected = seed_side + sides.get(before, 0) + sides.get(after, 0)
        if request[field] != expected:
            yield Problem(
                (field,),
                f"{field}: {request[field]} should be {expected}, the seed image's {field}"
                f" {seed_side} plus outpaint {before} {sides.get(before, 0)}"
                f" and {after} {sides.get(after, 0)}",
            )


def _name(path: RequestPath) -> str:
    return ".".join(str(part) for part in path)
