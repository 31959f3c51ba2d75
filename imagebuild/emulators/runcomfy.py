"""RunComfy's model API (a queue) on loopback, answered by the deterministic renderer.

Routes (all but downloads need ``Authorization: Bearer <token>`` when a token is set):

- ``POST /v1/models/{model_id}`` with the model's input as JSON ->
  ``{request_id, status_url, result_url, cancel_url}`` (absolute URLs);
- ``GET /v1/requests/{id}/status`` -> ``{request_id, status, queue_position?, status_url,
  result_url}``, status ``in_queue`` | ``in_progress`` | ``completed`` | ``cancelled``;
- ``GET /v1/requests/{id}/result`` -> ``{request_id, status, output?, created_at,
  finished_at}``, status ``in_queue`` | ``in_progress`` | ``succeeded`` | ``cancelled``,
  ``output: {"image": URL}`` once succeeded (a PNG at ``GET /images/<id>.png``);
- ``POST /v1/requests/{id}/cancel`` -> 202 ``{request_id, status, outcome}``, outcome
  ``cancelled`` for a queued request (never charged) else ``not_cancellable``.

A request waits ``queue_seconds`` in the queue, is charged when it starts (``in_progress``),
and completes ``faults.latency`` seconds later. Submissions carry no client-chosen id, so an
answer lost after submitting (fault "drop") leaves a charged request the client cannot find:
that is RunComfy's real risk, and the emulator keeps it.

Errors are ``{"error": {"code", "message"}}`` with RunComfy's published codes: 403001 (bad
token), 404001 (unknown model or request) and 400001 (published as "invalid resource id";
here also a body that breaks the model's schema, the message naming the field). Other
statuses use ``status * 1000 + 1``: 405001, and the injected faults 429001, 500001, 503001.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imagebuild.emulators.common import EmulatorApp, Request, Response, invalid_input, json_response
from imagebuild.emulators.faults import Faults
from imagebuild.emulators.images import image_url
from imagebuild.registry.models import ModelInfo, Registry, UnknownModelError, builtin_registry
from imagebuild.render import RenderSpec
from imagebuild.render.spec import MAX_SEED

# The emulator's own choice of pixels per aspect ratio (RunComfy publishes none): about one
# megapixel, both sides multiples of 64, as SDXL-era models bucket their sizes.
ASPECT_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "3:1": (1728, 576),
    "1:3": (576, 1728),
}
DEFAULT_ASPECT = "1:1"
# USD per image for a model whose schema names no price: ImagineArt 1.5 on Runware (seeds/000).
DEFAULT_PRICE = 0.03
MAX_QUEUE_SECONDS = 0.05
MODELS_PREFIX = "/v1/models/"
_REQUEST_ROUTE = re.compile(r"/v1/requests/([^/]+)/(status|result|cancel)\Z")
_ROUTE_METHODS = {"status": "GET", "result": "GET", "cancel": "POST"}


class _Refusal(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.response = json_response(status, {"error": {"code": code, "message": message}})


@dataclass
class _Job:
    request_id: str
    price: float
    created_at: float
    started_at: float | None = None
    cancelled_at: float | None = None
    timer: asyncio.TimerHandle | None = None

    def status(self, latency: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if self.started_at is None:
            return "in_queue"
        return "completed" if time.time() >= self.started_at + latency else "in_progress"


class RunComfyEmulator(EmulatorApp):
    """The RunComfy model API as an ASGI app; serve it with :func:`imagebuild.emulators.serve`.

    ``token``: the only Bearer token accepted (any, when None). ``queue_seconds``: how long a
    request stays ``in_queue`` (default ``min(0.05, latency / 4)``).
    """

    def __init__(
        self,
        token: str | None = None,
        faults: Faults | None = None,
        registry: Registry | None = None,
        queue_seconds: float | None = None,
    ) -> None:
        super().__init__(faults)
        self.registry = registry if registry is not None else builtin_registry()
        self._token = token
        default_queue = min(MAX_QUEUE_SECONDS, self.faults.latency / 4)
        self.queue_seconds = default_queue if queue_seconds is None else queue_seconds
        self._jobs: dict[str, _Job] = {}
        self._queue: dict[str, _Job] = {}

    def reset(self) -> None:
        super().reset()
        for job in self._queue.values():
            if job.timer is not None:
                job.timer.cancel()
        self._jobs.clear()
        self._queue.clear()

    def error_response(self, status: int, message: str) -> Response:
        return _Refusal(status, status * 1000 + 1, message).response

    async def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except _Refusal as refusal:
            return refusal.response

    def _route(self, request: Request) -> Response:
        match = _REQUEST_ROUTE.match(request.path)
        if request.path.startswith(MODELS_PREFIX):
            action = "submit"
            expected = "POST"
        elif match is not None:
            action = match.group(2)
            expected = _ROUTE_METHODS[action]
        else:
            raise _Refusal(404, 404001, f"no route {request.method} {request.path}")
        if request.method != expected:
            raise _Refusal(405, 405001, f"{request.method} is not allowed; use {expected}")
        if not request.bearer_matches(self._token):
            raise _Refusal(403, 403001, "Permission denied: invalid token")
        if match is None:
            return self._submit(request, request.path.removeprefix(MODELS_PREFIX))
        job = self._job(match.group(1))
        if action == "status":
            return json_response(200, self._status(job, request.base_url))
        if action == "result":
            return json_response(200, self._result(job, request.base_url))
        return json_response(202, self._cancel(job))

    def _submit(self, request: Request, model_id: str) -> Response:
        self.stats.add("tasks")
        info = self._model(model_id)
        body = _body(request)
        problem = invalid_input(info, body)
        if problem is not None:
            raise _Refusal(400, 400001, problem.message)
        request_id = str(uuid.uuid4())
        self.images.add_spec(request_id, _spec(info, body))
        price = info.price if info.price is not None else DEFAULT_PRICE
        job = _Job(request_id, price, created_at=time.time())
        job.timer = asyncio.get_running_loop().call_later(self.queue_seconds, self._start, job)
        self._jobs[request_id] = self._queue[request_id] = job
        urls = _urls(request.base_url, request_id)
        return json_response(200, {"request_id": request_id, **urls})

    def _start(self, job: _Job) -> None:
        """Leave the queue: from now on the request runs and is charged."""
        self._queue.pop(job.request_id, None)
        job.started_at = time.time()
        job.timer = None
        self.stats.bill(1, job.price)

    def _cancel(self, job: _Job) -> dict[str, Any]:
        if job.request_id in self._queue:
            del self._queue[job.request_id]
            if job.timer is not None:
                job.timer.cancel()
            job.cancelled_at = time.time()
            self.stats.add("cancelled")
        status = job.status(self.faults.latency)
        outcome = "cancelled" if status == "cancelled" else "not_cancellable"
        return {"request_id": job.request_id, "status": status, "outcome": outcome}

    def _status(self, job: _Job, base_url: str) -> dict[str, Any]:
        status = job.status(self.faults.latency)
        answer: dict[str, Any] = {"request_id": job.request_id, "status": status}
        if status == "in_queue":
            answer["queue_position"] = list(self._queue).index(job.request_id)
        urls = _urls(base_url, job.request_id)
        return {**answer, "status_url": urls["status_url"], "result_url": urls["result_url"]}

    def _result(self, job: _Job, base_url: str) -> dict[str, Any]:
        status = job.status(self.faults.latency)
        answer: dict[str, Any] = {"request_id": job.request_id}
        finished_at: float | None = None
        if status == "completed":
            assert job.started_at is not None
            finished_at = job.started_at + self.faults.latency
            answer["status"] = "succeeded"
            answer["output"] = {"image": image_url(base_url, job.request_id, "png")}
        else:
            finished_at = job.cancelled_at
            answer["status"] = status
        answer["created_at"] = _timestamp(job.created_at)
        answer["finished_at"] = _timestamp(finished_at)
        return answer

    def _model(self, model_id: str) -> ModelInfo:
        try:
            return self.registry.find("runcomfy", model_id)
        except UnknownModelError:
            raise _Refusal(404, 404001, f"model {model_id} not found") from None

    def _job(self, request_id: str) -> _Job:
        job = self._jobs.get(request_id)
        if job is None:
            raise _Refusal(404, 404001, f"request {request_id} not found")
        return job


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _Refusal(400, 400001, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _Refusal(400, 400001, "the body must be a JSON object of the model's inputs")
    return body


def _spec(info: ModelInfo, body: dict[str, Any]) -> RenderSpec:
    """What the request renders; absent fields take the schema's defaults (seed 0, 1:1)."""
    defaults = {name: spec.get("default") for name, spec in info.properties.items()}
    aspect = str(body.get("aspect_ratio", defaults.get("aspect_ratio") or DEFAULT_ASPECT))
    width, height = ASPECT_SIZES.get(aspect, ASPECT_SIZES[DEFAULT_ASPECT])
    seed = int(body.get("seed", defaults.get("seed") or 0))
    return RenderSpec(
        width=width,
        height=height,
        # Any integer is a valid RunComfy seed; the renderer takes 0 .. 2**63 - 1.
        seed=seed % (MAX_SEED + 1),
        prompt=str(body.get(info.prompt_field, "")),
        output_format="PNG",
    )


def _urls(base_url: str, request_id: str) -> dict[str, str]:
    root = f"{base_url}/v1/requests/{request_id}"
    return {
        "status_url": f"{root}/status",
        "result_url": f"{root}/result",
        "cancel_url": f"{root}/cancel",
    }


def _timestamp(moment: float | None) -> str | None:
    if moment is None:
        return None
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
