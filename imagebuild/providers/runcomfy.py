"""RunComfy's queue API: submit, poll the status, fetch the result, cancel on abort.

The limit of this API: there is no idempotency key. A submit whose answer is
lost still runs and bills, and no client can learn its request id; such an
orphan can only be found in RunComfy's dashboard. This client keeps that
window as small as the API allows:

- a submit is repeated only when the server cannot have acted on it: the
  connection was never opened (nothing was sent) or the server refused it
  outright (HTTP 408, 429, 503). After a timeout, a dropped connection, a
  garbled answer or HTTP 500/502/504 it is not repeated: the target fails
  with a LostSubmissionError that names the possible orphan, and
  ``lost_submissions`` counts it;
- the submit exchange itself is shielded from cancellation, so an interrupt
  arriving mid-submit waits for the answer (at most ``requestTimeout``),
  journals the id, and cancels the still-queued request instead of
  orphaning it;
- the id is journaled the moment the answer arrives, the earliest it exists.

Status polls, result fetches and downloads are idempotent and retried
normally. An interrupted generation cancels its request while it is queued
(in-progress requests cannot be cancelled): an interrupted build clears its
journal, so nothing would ever collect it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from imagebuild.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    LostSubmissionError,
    ProviderError,
    TaskNotFoundError,
)
from imagebuild.providers.base import Generation, GenerationTask, TaskJournal
from imagebuild.providers.http import (
    HttpProvider,
    ImageSource,
    Reply,
    RequestFailed,
    materialise,
    with_retries,
)
from imagebuild.providers.settings import CREDENTIAL_VARIABLES, HttpSettings

SERVICE = "RunComfy"
ENV_TOKEN = CREDENTIAL_VARIABLES["runcomfy"]
ENV_URL = "RUNCOMFY_API_URL"
DEFAULT_URL = "https://model-api.runcomfy.net"
PENDING = frozenset({"in_queue", "in_progress"})
CANCEL_TIMEOUT = 5.0


@dataclass(slots=True)
class _Progress:
    """The last status seen, which decides whether an abort cancels."""

    status: str | None = None

    @property
    def cancellable(self) -> bool:
        return self.status in (None, "in_queue")


def error_code(body: Any) -> str | None:
    """RunComfy's numeric error code, wherever this answer shape keeps it."""
    if not isinstance(body, dict):
        return None
    for holder in (body, body.get("error"), body.get("detail")):
        if isinstance(holder, dict):
            code = holder.get("code", holder.get("error_code"))
            if code is not None:
                return str(code)
    return None


def error_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for holder in (body.get("error"), body.get("detail"), body):
        if isinstance(holder, str):
            return holder
        if isinstance(holder, dict) and isinstance(holder.get("message"), str):
            return str(holder["message"])
    return None


def check_reply(reply: Reply, request_id: str | None = None) -> dict[str, Any]:
    """The answer's body, or the error its code and status name."""
    code = error_code(reply.body)
    if reply.ok and code is None and isinstance(reply.body, dict):
        return reply.body
    message = error_message(reply.body) or f"HTTP {reply.status}"
    raise classify(code, reply.status, message, request_id)


def classify(code: str | None, status: int, message: str, request_id: str | None) -> ProviderError:
    if code == "403001" or status in (401, 403):
        return AuthenticationError(f"{SERVICE} refused the API token ({ENV_TOKEN})")
    if code == "400002":
        return InsufficientCreditsError(f"{SERVICE}: insufficient resources ({message})")
    if code == "400004":
        return ProviderError(f"{SERVICE}: account error ({message})")
    if code == "404001" or status == 404:
        if request_id is None:
            return InvalidRequestError(f"{SERVICE}: {message}", parameter="model")
        return TaskNotFoundError(
            f"{SERVICE}: request {request_id} not found or expired ({message})"
        )
    if code == "400001" or status in (400, 422):
        return InvalidRequestError(f"{SERVICE} rejected the request: {message}")
    return ProviderError(f"{SERVICE}: {message} (HTTP {status})")


def output_urls(output: Any, count: int, request_id: str) -> list[str]:
    """The result's image URLs (``image`` or ``images``), exactly ``count`` of them."""
    urls: list[Any] = []
    if isinstance(output, dict):
        images = output.get("images")
        single = output.get("image")
        urls = images if isinstance(images, list) else [single] if single else []
    found = [url for url in urls if isinstance(url, str) and url]
    if len(found) != count:
        raise ProviderError(
            f"{SERVICE}: request {request_id} returned {len(found)} images, expected {count}"
        )
    return found


def failure_message(result: dict[str, Any]) -> str:
    return error_message(result) or str(result.get("status"))


class RunComfyProvider(HttpProvider):
    name = "runcomfy"
    service = SERVICE

    credential_env = ENV_TOKEN
    url_env = ENV_URL
    default_url = DEFAULT_URL

    def __init__(self, token: str, settings: HttpSettings) -> None:
        super().__init__(token, settings)
        self.lost_submissions = 0

    async def _resume(self, task: GenerationTask, task_id: str) -> Generation:
        return await self._collect(task, task_id)

    async def _generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        request_id = await self._submit(task)
        journal.submitted(task.target, task.fingerprint, self.name, request_id)
        return await self._collect(task, request_id)

    async def _submit(self, task: GenerationTask) -> str:
        body = dict(task.request)
        # The API chooses the format; the executor converts the result to the
        # one the output names.
        body.pop("outputFormat", None)
        model = body.pop("model", None)
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(f"{SERVICE} needs a model id", parameter="model")
        url = f"{self.settings.url}/v1/models/{model}"

        async def attempt() -> Reply:
            return await self._exchange("POST", url, payload=body, shield=True)

        try:
            reply = await with_retries(self.settings.retry, attempt, idempotent=False)
        except RequestFailed as error:
            raise self._lost(str(error)) from None
        request_id = check_reply(reply).get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise self._lost(f"{SERVICE} accepted the submit without a request_id")
        return request_id

    def _lost(self, cause: str) -> LostSubmissionError:
        self.lost_submissions += 1
        return LostSubmissionError(
            f"{cause}; the submit may have reached {SERVICE} and may still run and bill "
            "under an id imagebuild cannot learn (RunComfy has no idempotency key), so it "
            "was not repeated: check the RunComfy dashboard before building again"
        )

    async def _collect(self, task: GenerationTask, request_id: str) -> Generation:
        progress = _Progress()
        try:
            output = await self._await_output(request_id, progress)
        except anyio.get_cancelled_exc_class():
            if progress.cancellable:
                await self._cancel(request_id)
            raise
        sources = [ImageSource(url=url) for url in output_urls(output, task.count, request_id)]
        images = await materialise(
            self._downloader, sources, task.staging_dir, request_id, task.output_format
        )
        return Generation(images, task_id=request_id)

    async def _await_output(self, request_id: str, progress: _Progress) -> Any:
        """Poll the status until it leaves the queue, then read the result: only
        the result says whether ``completed`` succeeded."""
        delays = self.settings.poll.delays()
        while True:
            await anyio.sleep(next(delays))
            status = await self._get(request_id, "status")
            progress.status = str(status.get("status"))
            if progress.status in PENDING:
                continue
            result = await self._get(request_id, "result")
            outcome = str(result.get("status"))
            if outcome == "succeeded":
                return result.get("output")
            if outcome in PENDING:
                progress.status = outcome
                continue
            message = failure_message(result)
            raise ProviderError(f"{SERVICE}: request {request_id} {outcome}: {message}")

    async def _get(self, request_id: str, what: str) -> dict[str, Any]:
        url = f"{self.settings.url}/v1/requests/{request_id}/{what}"

        async def attempt() -> dict[str, Any]:
            reply = await self._exchange("GET", url)
            return check_reply(reply, request_id)

        return await with_retries(self.settings.retry, attempt)

    async def _cancel(self, request_id: str) -> None:
        """Best effort, shielded, short: the build is stopping and must not hang."""
        url = f"{self.settings.url}/v1/requests/{request_id}/cancel"
        with anyio.move_on_after(CANCEL_TIMEOUT, shield=True):
            try:
                await self._exchange("POST", url)
            except ProviderError:
                return
