"""Runware's REST API on loopback, answered by the deterministic renderer.

``POST /v1`` (or ``/``) takes a JSON array of tasks and answers ``{"data": [...]}`` and/or
``{"errors": [...]}``; an error concerns only the task it names, so one answer may carry
both (HTTP 200 when any task succeeded, else the first error's status). Task types:

- ``imageInference``: validated against the model's schema and the rules that compare its
  fields (:mod:`imagebuild.registry.rules`, outpaint against the decoded seed image's size),
  every image input the schema lists decoded, charged at acceptance (a real API bills the
  job it accepted, whether or not the answer reaches the client), finished
  ``faults.latency`` seconds later. ``deliveryMethod: "sync"`` answers then with the
  results; ``"async"`` answers at once with ``{"taskType", "taskUUID"}``.
- ``getResponse`` ``{"taskUUID": X}``: ``{"taskType", "taskUUID", "status": "processing"}``
  while X runs, then X's result items with ``"status": "success"``. Works for every accepted
  task, sync ones and uploads included, so a client whose answer was lost can collect it.
- ``imageUpload`` ``{"image": data URI | base64 | URL of this emulator}``: stores the image
  and answers ``{"taskType", "taskUUID", "imageUUID"}``.

Result items carry ``imageUUID``, ``seed`` (the request's, or one the emulator draws;
result *i* uses seed + *i*, so any result can be reproduced alone), ``imageURL`` (served
at ``GET /images/<imageUUID>.<ext>``) or ``imageBase64Data`` or ``imageDataURI`` by
``outputType``, ``cost`` with ``includeCost`` and ``NSFWContent`` with ``safety`` (true when the
prompt holds ``[nsfw]``, so tests can meet a flagged image).

Error codes and HTTP statuses (emulator's choices where Runware publishes none):
``invalidApiKey`` 401 (every task of the request), ``invalidRequestBody`` 400 (not a JSON
array of objects; no taskUUID), ``unsupportedTaskType`` 400, ``invalidTaskUUID`` 400 (not
8-4-4-4-12 hex), ``conflictTaskUUID`` 400 (taskUUID already accepted; nothing charged),
``invalidParameter`` 400 (``parameter`` names the top-level field), ``invalidModel`` 400,
``invalidImage`` 400 (an image input that cannot be found or decoded), ``insufficientCredits``
402, ``taskNotFound`` 400 (getResponse of a taskUUID never accepted). Injected faults:
``rateLimitExceeded`` 429 with ``Retry-After``, ``internalServerError`` 500,
``serviceUnavailable`` 503; these concern the whole request and carry no taskUUID.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from imagebuild.emulators.common import EmulatorApp, Request, Response, invalid_input, json_response
from imagebuild.emulators.faults import Faults
from imagebuild.emulators.images import (
    RENDER_FORMATS,
    UPLOAD_FORMATS,
    ImageError,
    InputImage,
    image_url,
    in_pool,
    is_uuid,
    normalise_upload,
)
from imagebuild.registry.models import ModelInfo, Registry, UnknownModelError, builtin_registry
from imagebuild.registry.validation import RequestPath
from imagebuild.render import RenderSpec
from imagebuild.render.spec import MAX_SEED
from imagebuild.targets import iter_image_inputs

# USD per image for a model whose schema names no price: the cost in the response example of
# Runware's imageInference reference (seeds/004).
GENERIC_PRICE = 0.0013
DEFAULT_SIDE = 1024
NSFW_MARKER = "[nsfw]"
DEFAULT_FORMAT = "JPG"
DEFAULT_QUALITY = 95
DEFAULT_STRENGTH = 0.8
API_PATHS = frozenset({"/", "/v1", "/v1/"})
TASK_TYPES = ("imageInference", "getResponse", "imageUpload")
_STATUS_CODES = {
    400: "invalidRequestBody",
    404: "notFound",
    405: "methodNotAllowed",
    429: "rateLimitExceeded",
    500: "internalServerError",
    503: "serviceUnavailable",
}
_DOCS = "https://runware.ai/docs/en"
_DOCUMENTATION = {
    "imageInference": f"{_DOCS}/image-inference/api-reference",
    "getResponse": f"{_DOCS}/utilities/task-responses",
    "imageUpload": f"{_DOCS}/utilities/image-upload",
}
_OUTPUT_FIELDS = {"URL": "imageURL", "base64Data": "imageBase64Data", "dataURI": "imageDataURI"}

Item = dict[str, Any]


class TaskFailure(Exception):
    """One task's error; the other tasks of its request go on."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter

    def item(self, task: dict[str, Any] | None) -> Item:
        task_type = _string(task, "taskType")
        return {
            "code": self.code,
            "message": self.message,
            "parameter": self.parameter,
            "taskType": task_type,
            "taskUUID": _string(task, "taskUUID"),
            "documentation": _DOCUMENTATION.get(task_type or "", f"{_DOCS}/platform/errors"),
        }


@dataclass(frozen=True, slots=True)
class _Inputs:
    """A task's image inputs by request path, loaded before the task is judged (loading
    may render)."""

    images: dict[RequestPath, InputImage] = field(default_factory=dict)
    upload: tuple[bytes, str] | None = None

    def data(self, path: RequestPath) -> bytes | None:
        image = self.images.get(path)
        return image.data if image is not None else None

    def size(self, path: RequestPath) -> tuple[int, int] | None:
        image = self.images.get(path)
        return image.size if image is not None else None

    def references(self) -> tuple[bytes, ...]:
        """The reference images, in the request's order."""
        return tuple(
            image.data for path, image in self.images.items() if path[0] == "referenceImages"
        )


@dataclass(frozen=True, slots=True)
class _Output:
    image_uuid: str
    extension: str
    fields: Item


@dataclass(frozen=True, slots=True)
class _Job:
    """An accepted task: what getResponse reports about it, and from when."""

    task_type: str
    task_uuid: str
    done_at: float
    output_type: str | None
    outputs: tuple[_Output, ...]


class RunwareEmulator(EmulatorApp):
    """The Runware REST API as an ASGI app; serve it with :func:`imagebuild.emulators.serve`.

    ``api_key``: the only Bearer key accepted (any, when None). ``credits``: the balance in
    USD, or unlimited when None.
    """

    def __init__(
        self,
        api_key: str | None = None,
        faults: Faults | None = None,
        credits: float | None = None,
        registry: Registry | None = None,
    ) -> None:
        super().__init__(faults)
        self.registry = registry if registry is not None else builtin_registry()
        self._api_key = api_key
        self._credits = credits
        self.balance = credits
        self._jobs: dict[str, _Job] = {}
        self._seeds = random.Random(self.faults.seed)

    def reset(self) -> None:
        super().reset()
        self._jobs.clear()
        self.balance = self._credits

    def error_response(self, status: int, message: str) -> Response:
        code = _STATUS_CODES.get(status, "error")
        return _envelope([], [(None, TaskFailure(status, code, message))])

    async def handle(self, request: Request) -> Response:
        if request.path not in API_PATHS:
            return self.error_response(404, f"no route {request.method} {request.path}")
        if request.method != "POST":
            return self.error_response(405, f"{request.method} is not allowed; POST the tasks")
        try:
            tasks = _parse_tasks(request)
        except TaskFailure as failure:
            return _envelope([], [(None, failure)])
        self.stats.add("tasks", len(tasks))
        if not request.bearer_matches(self._api_key):
            refused = TaskFailure(401, "invalidApiKey", "Invalid API key")
            return _envelope([], [(task, refused) for task in tasks])
        inputs = await asyncio.gather(*(self._load_inputs(task) for task in tasks))
        # Judged one after another with no await in between, so that conflicts and credits
        # are decided in request order even while other requests are being answered.
        judged = [
            self._accept(task, loaded, request.base_url)
            for task, loaded in zip(tasks, inputs, strict=True)
        ]
        answers = await asyncio.gather(*(_settle(answer) for answer in judged))
        data = [item for answer in answers if isinstance(answer, list) for item in answer]
        failures = [
            (task, answer)
            for task, answer in zip(tasks, answers, strict=True)
            if isinstance(answer, TaskFailure)
        ]
        return _envelope(data, failures)

    def _accept(
        self, task: dict[str, Any], inputs: _Inputs | TaskFailure, base_url: str
    ) -> Awaitable[list[Item]] | TaskFailure:
        """Judge one task now; its answer may still have to wait for the latency."""
        try:
            return self._judge(task, inputs, base_url)
        except TaskFailure as failure:
            return failure

    def _judge(
        self, task: dict[str, Any], inputs: _Inputs | TaskFailure, base_url: str
    ) -> Awaitable[list[Item]]:
        task_type = _task_type(task)
        task_uuid = _task_uuid(task)
        if task_type == "getResponse":
            return self._poll(self._job(task_uuid), base_url)
        if task_uuid in self._jobs:
            raise TaskFailure(
                400,
                "conflictTaskUUID",
                f"taskUUID {task_uuid} was already used; collect its results with getResponse",
                "taskUUID",
            )
        if task_type == "imageUpload":
            return _ready(self._upload(task_uuid, inputs))
        return self._infer(task, task_uuid, inputs, base_url)

    def _infer(
        self,
        task: dict[str, Any],
        task_uuid: str,
        inputs: _Inputs | TaskFailure,
        base_url: str,
    ) -> Awaitable[list[Item]]:
        info = self._model(task)
        # Rules on an input's size need it loaded; a task whose inputs failed is judged
        # on the rest first, as its other mistakes are as much its own.
        sizes = inputs.size if isinstance(inputs, _Inputs) else None
        problem = invalid_input(info, task, sizes)
        if problem is not None:
            raise TaskFailure(400, "invalidParameter", problem.message, problem.parameter)
        if isinstance(inputs, TaskFailure):
            raise inputs
        specs = self._specs(info, task, inputs)
        price = info.price if info.price is not None else GENERIC_PRICE
        self._charge(price * len(specs))
        self.stats.bill(len(specs), price * len(specs))
        job = self._register(task, task_uuid, specs, price)
        if task.get("deliveryMethod") == "async":
            return _ready([{"taskType": "imageInference", "taskUUID": task_uuid}])
        return self._deliver(job, base_url)

    def _upload(self, task_uuid: str, inputs: _Inputs | TaskFailure) -> list[Item]:
        if isinstance(inputs, TaskFailure):
            raise inputs
        if inputs.upload is None:
            raise TaskFailure(
                400,
                "invalidParameter",
                "image: expected a data URI, base64 data or a URL of this emulator",
                "image",
            )
        image_uuid = str(uuid.uuid4())
        self.images.add_bytes(image_uuid, *inputs.upload)
        self.stats.add("uploads")
        fields = {"taskType": "imageUpload", "taskUUID": task_uuid, "imageUUID": image_uuid}
        output = _Output(image_uuid, "", fields)
        self._jobs[task_uuid] = _Job("imageUpload", task_uuid, time.monotonic(), None, (output,))
        return [dict(fields)]

    def _model(self, task: dict[str, Any]) -> ModelInfo:
        model = task.get("model")
        if not isinstance(model, str):
            raise TaskFailure(
                400,
                "invalidParameter",
                f"model: expected an AIR identifier such as runware:101@1, got {model!r}",
                "model",
            )
        try:
            return self.registry.find("runware", model)
        except UnknownModelError as error:
            raise TaskFailure(400, "invalidModel", str(error), "model") from None

    def _specs(self, info: ModelInfo, task: dict[str, Any], inputs: _Inputs) -> list[RenderSpec]:
        """One spec per result; result i renders with seed + i, as its own request would."""
        seed = task.get("seed")
        first_seed = seed if isinstance(seed, int) else self._seeds.randrange(1, 2**32)
        width, height = _size(info, task)
        outpaint = task.get("outpaint")
        try:
            first = RenderSpec(
                width=width,
                height=height,
                seed=first_seed,
                prompt=str(task.get(info.prompt_field, "")),
                negative_prompt=str(task.get("negativePrompt", "")),
                output_format=str(
                    task.get("outputFormat") or info.default_format or DEFAULT_FORMAT
                ),
                quality=int(task.get("outputQuality", DEFAULT_QUALITY)),
                seed_image=inputs.data(("seedImage",)),
                mask_image=inputs.data(("maskImage",)),
                strength=float(task.get("strength", DEFAULT_STRENGTH)),
                reference_images=inputs.references(),
                outpaint=_outpaint(outpaint) if isinstance(outpaint, dict) else None,
            )
            count = int(task.get("numberResults", 1))
            return [replace(first, seed=(first_seed + i) % (MAX_SEED + 1)) for i in range(count)]
        except ValueError as error:
            message = str(error)
            field = next((name for name in task if message.startswith(name)), None)
            raise TaskFailure(400, "invalidParameter", message, field) from None

    def _charge(self, cost: float) -> None:
        if self.balance is None:
            return
        if cost > self.balance + 1e-9:
            raise TaskFailure(
                402,
                "insufficientCredits",
                f"insufficient credits: the task costs ${cost:.4f}, "
                f"the balance is ${self.balance:.4f}",
            )
        self.balance -= cost

    def _register(
        self, task: dict[str, Any], task_uuid: str, specs: list[RenderSpec], price: float
    ) -> _Job:
        outputs = []
        for spec in specs:
            image_uuid = str(uuid.uuid4())
            self.images.add_spec(image_uuid, spec)
            fields: Item = {
                "taskType": "imageInference",
                "taskUUID": task_uuid,
                "imageUUID": image_uuid,
                "seed": spec.seed,
            }
            if _checks_content(task):
                # A test's way to meet a flagged image: the marker in the prompt.
                fields["NSFWContent"] = NSFW_MARKER in str(task.get("positivePrompt", ""))
            if task.get("includeCost") is True:
                fields["cost"] = price
            outputs.append(_Output(image_uuid, spec.format.extension, fields))
        output_type = str(task.get("outputType", "URL"))
        # Rendered halfway through the latency, as a service generates while the
        # client waits: neither the acceptance nor the answer pays for the pixels.
        loop = asyncio.get_running_loop()
        for output in outputs:
            loop.call_later(self.faults.latency / 2, self.images.prepare, output.image_uuid)
        done_at = time.monotonic() + self.faults.latency
        job = _Job("imageInference", task_uuid, done_at, output_type, tuple(outputs))
        self._jobs[task_uuid] = job
        return job

    def _job(self, task_uuid: str) -> _Job:
        job = self._jobs.get(task_uuid)
        if job is None:
            raise TaskFailure(
                400, "taskNotFound", f"no task {task_uuid} was accepted here", "taskUUID"
            )
        return job

    async def _deliver(self, job: _Job, base_url: str) -> list[Item]:
        """A sync answer: the results, once the task has taken its latency."""
        await asyncio.sleep(max(0.0, job.done_at - time.monotonic()))
        return await self._items(job, base_url, None)

    async def _poll(self, job: _Job, base_url: str) -> list[Item]:
        if time.monotonic() < job.done_at:
            return [{"taskType": job.task_type, "taskUUID": job.task_uuid, "status": "processing"}]
        return await self._items(job, base_url, "success")

    async def _items(self, job: _Job, base_url: str, status: str | None) -> list[Item]:
        items = [self._item(job, output, base_url, status) for output in job.outputs]
        return list(await asyncio.gather(*items))

    async def _item(self, job: _Job, output: _Output, base_url: str, status: str | None) -> Item:
        item = dict(output.fields)
        field = _OUTPUT_FIELDS.get(job.output_type or "")
        if field == "imageURL":
            item[field] = image_url(base_url, output.image_uuid, output.extension)
        elif field is not None:
            image = await self.images.read(output.image_uuid)
            if image is None:
                raise TaskFailure(400, "taskNotFound", "the emulator was reset", "taskUUID")
            encoded = base64.b64encode(image[0]).decode("ascii")
            item[field] = (
                encoded if field == "imageBase64Data" else f"data:{image[1]};base64,{encoded}"
            )
        if status is not None:
            item["status"] = status
        return item

    async def _load_inputs(self, task: dict[str, Any]) -> _Inputs | TaskFailure:
        try:
            if task.get("taskType") == "imageInference":
                return await self._inference_inputs(task)
            image = task.get("image")
            if task.get("taskType") == "imageUpload" and isinstance(image, str):
                return _Inputs(upload=await self._upload_input(image))
        except TaskFailure as failure:
            return failure
        return _Inputs()

    async def _inference_inputs(self, task: dict[str, Any]) -> _Inputs:
        """Every image input the model's schema lists, decoded, whether or not the
        renderer uses it: the API refuses a guide image that is not an image."""
        images = {
            path: await self._load(value, path)
            for path, value in iter_image_inputs(task, self._image_fields(task))
            if isinstance(value, str)
        }
        return _Inputs(images=images)

    def _image_fields(self, task: dict[str, Any]) -> tuple[str, ...]:
        """Where the task's model takes images; none for a model judged unknown later."""
        try:
            return self._model(task).image_inputs
        except TaskFailure:
            return ()

    async def _load(
        self, value: str, path: RequestPath, formats: tuple[str, ...] = RENDER_FORMATS
    ) -> InputImage:
        try:
            return await self.images.load(value, formats)
        except ImageError as error:
            name = ".".join(str(part) for part in path)
            raise TaskFailure(400, "invalidImage", f"{name}: {error}", str(path[0])) from None

    async def _upload_input(self, value: str) -> tuple[bytes, str]:
        data = (await self._load(value, ("image",), UPLOAD_FORMATS)).data
        try:
            return await in_pool(normalise_upload, data)
        except ImageError as error:
            raise TaskFailure(400, "invalidImage", f"image: {error}", "image") from None


def _parse_tasks(request: Request) -> list[dict[str, Any]]:
    try:
        tasks = request.json()
    except ValueError:
        raise TaskFailure(400, "invalidRequestBody", "the body is not valid JSON") from None
    if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
        raise TaskFailure(400, "invalidRequestBody", "the body must be a JSON array of tasks")
    return tasks


def _task_type(task: dict[str, Any]) -> str:
    task_type = task.get("taskType")
    if not isinstance(task_type, str) or task_type not in TASK_TYPES:
        raise TaskFailure(
            400,
            "unsupportedTaskType",
            f"unsupported taskType {task_type!r}; the emulator handles {', '.join(TASK_TYPES)}",
            "taskType",
        )
    return task_type


def _task_uuid(task: dict[str, Any]) -> str:
    value = task.get("taskUUID")
    if not isinstance(value, str) or not is_uuid(value):
        raise TaskFailure(
            400,
            "invalidTaskUUID",
            f"taskUUID must be a UUID (8-4-4-4-12 hex digits), got {value!r}",
            "taskUUID",
        )
    return value


def _size(info: ModelInfo, task: dict[str, Any]) -> tuple[int, int]:
    width, height = task.get("width"), task.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    return info.sizes[0] if info.sizes else (DEFAULT_SIDE, DEFAULT_SIDE)


def _outpaint(sides: dict[str, Any]) -> tuple[int, int, int, int]:
    top, right, bottom, left = (
        int(sides.get(side, 0)) for side in ("top", "right", "bottom", "left")
    )
    return top, right, bottom, left


def _checks_content(task: dict[str, Any]) -> bool:
    safety = task.get("safety")
    if not isinstance(safety, dict):
        return False
    return safety.get("checkContent") is True or safety.get("mode") in ("fast", "full")


def _string(task: dict[str, Any] | None, key: str) -> str | None:
    value = task.get(key) if task is not None else None
    return value if isinstance(value, str) else None


def _envelope(
    data: list[Item], failures: Sequence[tuple[dict[str, Any] | None, TaskFailure]]
) -> Response:
    """Runware's answer: HTTP 200 when any task succeeded, else the first error's status."""
    body: dict[str, Any] = {}
    if data or not failures:
        body["data"] = data
    if failures:
        body["errors"] = [failure.item(task) for task, failure in failures]
    status = 200 if data or not failures else failures[0][1].status
    return json_response(status, body)


async def _ready(items: list[Item]) -> list[Item]:
    return items


async def _settle(answer: Awaitable[list[Item]] | TaskFailure) -> list[Item] | TaskFailure:
    if isinstance(answer, TaskFailure):
        return answer
    try:
        return await answer
    except TaskFailure as failure:
        return failure
