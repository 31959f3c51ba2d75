"""Runware over REST: batched tasks, async delivery, getResponse polling.

The money rules of ``base.py``, as Runware's API allows them:

- the taskUUID is journaled before the task is sent, and every resend of it
  (a lost answer, a failed request) reuses it; Runware answers a taskUUID it
  already has with ``conflictTaskUUID``, which is taken for the acknowledgement
  it is: the task is then polled, never submitted anew;
- results are fetched by taskUUID (getResponse), so ``resume`` after a crash
  collects what was paid for;
- Runware has no cancel: an interrupted build leaves its tasks running on the
  server, and the next build resumes them from the journal.

Batching keeps HTTP concurrency low however many tasks are in flight:
submissions and polls arriving within a few milliseconds share one POST (up to
``batchSize`` tasks), and async delivery means no request waits for a GPU.
Errors are answered per task, so a bad task never fails the siblings it was
batched with. Uploads travel alone (they are large) and once per content.
BMP and GIF inputs are sent as PNG: request fields take "PNG, JPG and WEBP"
(seed 004), and an upload of either would come back re-encoded anyway.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio.to_thread

from imagebuild.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    ProviderError,
    TaskNotFoundError,
    TransientError,
)
from imagebuild.imageformat import HEADER_BYTES, api_input, sniff_format
from imagebuild.providers.base import Generation, GenerationTask, RequestPath, TaskJournal
from imagebuild.providers.http import (
    Coalescer,
    HttpProvider,
    ImageSource,
    Reply,
    RequestFailed,
    SingleFlight,
    decode_base64,
    gather,
    materialise,
    with_retries,
)
from imagebuild.providers.settings import CREDENTIAL_VARIABLES, HttpSettings

SERVICE = "Runware"
ENV_KEY = CREDENTIAL_VARIABLES["runware"]
ENV_URL = "RUNWARE_API_URL"
DEFAULT_URL = "https://api.runware.ai/v1"
# Smaller inputs travel inside the task as data URIs; larger ones are uploaded
# once and referenced by imageUUID, so a shared input is not resent per task.
INLINE_LIMIT = 64 * 1024
CONFLICT = "conflictTaskUUID"
_STATUS_KINDS = {401: "invalidApiKey", 402: "insufficientCredits", 400: "invalidRequest"}
_IMAGE_FIELDS = ("imageURL", "imageBase64Data", "imageDataURI")
_MEDIA_TYPES = {"PNG": "png", "JPG": "jpeg", "WEBP": "webp"}


@dataclass(slots=True)
class TaskReply:
    """What one HTTP answer said about one task."""

    status: int
    items: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # When the request carrying the task left (event loop clock): a server
    # starts a task's clock when it receives it, not when it answers.
    sent: float = 0.0

    @property
    def conflict(self) -> bool:
        return any(error.get("code") == CONFLICT for error in self.errors)

    def failures(self) -> list[dict[str, Any]]:
        failed = [item for item in self.items if item.get("status") == "error"]
        return [*self.errors, *failed]


def split_replies(reply: Reply, task_uuids: list[str]) -> list[TaskReply]:
    """One TaskReply per task sent, in order. Errors naming no task concern every
    task the answer says nothing else about; older shapes (a singular ``error``,
    a bare list of items) are accepted."""
    body = reply.body
    data = body.get("data") if isinstance(body, dict) else body
    errors = _errors_of(body)
    if not reply.ok and not errors and not data:
        errors = [{"message": f"HTTP {reply.status}"}]
    replies = {uuid: TaskReply(reply.status) for uuid in task_uuids}
    shared: list[dict[str, Any]] = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and item.get("taskUUID") in replies:
            replies[item["taskUUID"]].items.append(item)
    for error in errors:
        uuid = error.get("taskUUID")
        target = replies.get(uuid) if isinstance(uuid, str) else None
        (target.errors if target is not None else shared).append(error)
    for task_reply in replies.values():
        if not task_reply.items and not task_reply.errors:
            task_reply.errors = list(shared)
    return [replies[uuid] for uuid in task_uuids]


def _errors_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, list):
        return [error for error in errors if isinstance(error, dict)]
    error = body.get("error")
    if isinstance(error, dict):
        return [error]
    if isinstance(error, str):
        return [{"message": error}]
    return []


def classify(error: dict[str, Any], status: int) -> ProviderError:
    """The exception for one task's error. The code decides; the HTTP status only
    when there is no code, because one answer carries the errors of several
    tasks under a single status (the first error's, when all failed)."""
    code = str(error.get("code") or "")
    message = str(error.get("message") or error.get("error") or code or f"HTTP {status}")
    parameter = error.get("parameter")
    kind = code or _STATUS_KINDS.get(status, "")
    if kind == "invalidApiKey":
        return AuthenticationError(f"{SERVICE} rejected the API key ({ENV_KEY})")
    if kind == "insufficientCredits":
        return InsufficientCreditsError(f"{SERVICE}: insufficient credits ({message})")
    if kind == "taskNotFound":
        return TaskNotFoundError(f"{SERVICE}: {message}")
    if kind == "timeoutProvider":
        return TransientError(f"{SERVICE}: the model provider timed out ({message})")
    if isinstance(parameter, str) and parameter:
        return InvalidRequestError(f"invalid parameter {parameter}: {message}", parameter=parameter)
    if kind == "invalidRequest":
        return InvalidRequestError(f"{SERVICE} rejected the task: {message}")
    suffix = f" ({code})" if code and code not in message else ""
    return ProviderError(f"{SERVICE}: {message}{suffix}")


def raise_failure(reply: TaskReply) -> None:
    failures = reply.failures()
    if failures:
        raise classify(failures[0], reply.status)


# Images up to this many pixels come inline with the poll that finds them
# (base64Data): one download per image costs more client CPU and a round trip
# than the third more bytes. Larger images come as URLs, streamed to disk.
INLINE_PIXELS = 1024 * 1024


def inference_task(task_uuid: str, request: dict[str, Any], output_type: str) -> dict[str, Any]:
    """The imageInference task; the fields imagebuild manages come last and win."""
    if output_type == "auto":
        pixels = int(request.get("width", 2048)) * int(request.get("height", 2048))
        output_type = "base64Data" if pixels <= INLINE_PIXELS else "URL"
    return {
        "taskType": "imageInference",
        "taskUUID": task_uuid,
        **request,
        "deliveryMethod": "async",
        "includeCost": True,
        "outputType": output_type,
    }


class ResultSet:
    """The results of one task across answers, de-duplicated by ``resultIndex``
    falling back to ``imageUUID``, as the official SDK does."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._items: dict[tuple[str, Any], dict[str, Any]] = {}

    @property
    def complete(self) -> bool:
        return len(self._items) >= self.count

    def add(self, items: list[dict[str, Any]]) -> None:
        """Keep the image items; status items (``processing``) carry no result."""
        for item in items:
            if any(item.get(key) for key in _IMAGE_FIELDS):
                self._items.setdefault(_result_key(item), item)

    def ordered(self) -> list[dict[str, Any]]:
        items = list(self._items.values())
        if all(isinstance(item.get("resultIndex"), int) for item in items):
            items.sort(key=lambda item: int(item["resultIndex"]))
        return items[: self.count]


def _result_key(item: dict[str, Any]) -> tuple[str, Any]:
    key = next(
        key for key in ("resultIndex", "imageUUID", *_IMAGE_FIELDS) if item.get(key) is not None
    )
    return key, item[key]


def image_source(item: dict[str, Any]) -> ImageSource:
    """Inline data is decoded at once; a URL is left for the downloader."""
    inline = item.get("imageBase64Data") or item.get("imageDataURI")
    seed, cost = item.get("seed"), item.get("cost")
    return ImageSource(
        url=None if inline else str(item["imageURL"]),
        data=decode_base64(str(inline), SERVICE) if inline else None,
        image_uuid=item.get("imageUUID"),
        seed=seed if isinstance(seed, int) else None,
        cost=float(cost) if isinstance(cost, int | float) else None,
        nsfw=item.get("NSFWContent") is True,
    )


def data_uri(data: bytes, where: RequestPath) -> str:
    """An input image inline, in a format the API takes: jpeg, png or webp."""
    kind = _MEDIA_TYPES.get(sniff_format(data[:HEADER_BYTES]) or "")
    if kind is None:
        raise not_an_image(where, "not a PNG, JPEG, WEBP, BMP or GIF image")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def api_image(data: bytes, where: RequestPath) -> bytes:
    """``data`` as the API takes it (BMP and GIF sent as PNG)."""
    try:
        return api_input(data)
    except ValueError as error:
        raise not_an_image(where, str(error)) from None


def not_an_image(where: RequestPath, reason: str) -> InvalidRequestError:
    parameter = ".".join(str(part) for part in where)
    return InvalidRequestError(f"invalid parameter {parameter}: {reason}", parameter=parameter)


def set_at(request: dict[str, Any], path: RequestPath, value: Any) -> None:
    node: Any = request
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _read_input(path: Path, where: RequestPath) -> tuple[bytes, str]:
    """The input as sent, and the digest of the file's own bytes (what planning hashed)."""
    data = path.read_bytes()
    return api_image(data, where), hashlib.sha256(data).hexdigest()


class RunwareProvider(HttpProvider):
    name = "runware"
    service = SERVICE
    credential_env = ENV_KEY
    url_env = ENV_URL
    default_url = DEFAULT_URL

    def __init__(self, api_key: str, settings: HttpSettings) -> None:
        super().__init__(api_key, settings)
        self._batches: Coalescer[dict[str, Any], TaskReply] = Coalescer(
            self._post, settings.batch_size, settings.batch_window
        )
        self._uploads: SingleFlight[str, str] = SingleFlight()
        self.tasks_sent = 0

    async def _generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        request = await self._with_inputs(task)
        task_uuid = str(uuid4())
        journal.submitted(task.target, task.fingerprint, self.name, task_uuid)
        accepted = await self._submit(inference_task(task_uuid, request, self.settings.output_type))
        return await self._collect(task, task_uuid, accepted.items, accepted.sent)

    async def _resume(self, task: GenerationTask, task_uuid: str) -> Generation:
        """Collect by taskUUID. A task Runware never received (the crash came
        between journaling and sending) is sent now under the same taskUUID:
        nothing was paid for it, and should it exist after all, Runware answers
        ``conflictTaskUUID`` and it is polled instead."""
        try:
            early = await self._poll(task_uuid)
        except TaskNotFoundError:
            request = await self._with_inputs(task)
            accepted = await self._submit(
                inference_task(task_uuid, request, self.settings.output_type)
            )
            return await self._collect(task, task_uuid, accepted.items, accepted.sent)
        return await self._collect(task, task_uuid, early, anyio.current_time())

    async def _submit(self, payload: dict[str, Any]) -> TaskReply:
        """Send one task until Runware has it; the answer's items may already
        hold results (a conflict's have none: the task is known, poll it)."""

        async def attempt() -> TaskReply:
            reply = await self._batches.call(payload)
            if reply.conflict:
                return TaskReply(reply.status, sent=reply.sent)
            raise_failure(reply)
            if not reply.items:
                raise RequestFailed(f"{SERVICE} did not acknowledge task {payload['taskUUID']}")
            return reply

        return await with_retries(self.settings.retry, attempt)

    async def _collect(
        self, task: GenerationTask, task_uuid: str, early: list[dict[str, Any]], sent: float
    ) -> Generation:
        """Poll until every result is in. The first poll is timed from when the
        request carrying the task was sent, not from its acknowledgement: the
        server's clock started when it received the task, which a batched
        answer reports late. Tasks sent together are polled together."""
        results = ResultSet(task.count)
        results.add(early)
        delays = self.settings.poll.delays()
        wake = sent + next(delays)
        while not results.complete:
            await anyio.sleep(max(0.0, wake - anyio.current_time()))
            results.add(await self._poll(task_uuid))
            wake = anyio.current_time() + next(delays)
        sources = [image_source(item) for item in results.ordered()]
        images = await materialise(
            self._downloader, sources, task.staging_dir, task_uuid, task.output_format
        )
        return Generation(images, task_id=task_uuid)

    async def _poll(self, task_uuid: str) -> list[dict[str, Any]]:
        poll = {"taskType": "getResponse", "taskUUID": task_uuid}

        async def attempt() -> list[dict[str, Any]]:
            reply = await self._batches.call(poll)
            raise_failure(reply)
            return reply.items

        return await with_retries(self.settings.retry, attempt)

    async def _with_inputs(self, task: GenerationTask) -> dict[str, Any]:
        """The request with local input files replaced by data URIs or imageUUIDs."""
        if not task.inputs:
            return task.request
        request = copy.deepcopy(task.request)
        paths = list(task.inputs)
        references = await gather(
            [partial(self._reference, path, task.inputs[path]) for path in paths]
        )
        for path, reference in zip(paths, references, strict=True):
            set_at(request, path, reference)
        return request

    async def _reference(self, where: RequestPath, file: Path) -> str:
        data, digest = await anyio.to_thread.run_sync(_read_input, file, where)
        uri = data_uri(data, where)
        if len(data) < INLINE_LIMIT:
            return uri
        return await self._uploads.get(digest, partial(self._upload, uri))

    async def _upload(self, uri: str) -> str:
        """imageUpload, alone in its request; a fresh taskUUID per attempt is
        harmless, uploads being free."""

        async def attempt() -> str:
            (reply,) = await self._post(
                [{"taskType": "imageUpload", "taskUUID": str(uuid4()), "image": uri}]
            )
            raise_failure(reply)
            for item in reply.items:
                if isinstance(item.get("imageUUID"), str):
                    return str(item["imageUUID"])
            raise RequestFailed(f"{SERVICE} answered an upload without an imageUUID")

        return await with_retries(self.settings.retry, attempt)

    async def _post(self, tasks: list[dict[str, Any]]) -> list[TaskReply]:
        self.tasks_sent += len(tasks)
        sent = anyio.current_time()
        reply = await self._exchange("POST", self.settings.url, payload=tasks)
        replies = split_replies(reply, [str(task["taskUUID"]) for task in tasks])
        for task_reply in replies:
            task_reply.sent = sent
        return replies
