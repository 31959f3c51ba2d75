"""HTTP machinery shared by the remote providers.

What lives here is protocol-neutral: pacing, connection pools, retries,
request coalescing, single-flight, and size-capped staged downloads (the
settings they follow are in :mod:`imagebuild.providers.settings`). The
providers add only what their APIs say.

Retry policy. One HTTP exchange that fails transiently (a timeout, a refused or
dropped connection, a malformed answer, HTTP 408, 429 or 500-504) raises
``RequestFailed``; ``with_retries`` waits ``U(0, min(30, 1 x 2^(n-1)))`` seconds
(full jitter), or the server's ``Retry-After`` when that is longer, and tries
again, at most ``retries + 1`` times. Other 4xx are never retried. Every wait is
bounded: a ``Retry-After`` beyond the cap ends the retries at once rather than
sleeping blind. The overall deadline per task is the providers' business (an
``anyio.move_on_after`` around each generation), so that a retry loop never
needs to know whose deadline it runs under.

Pools. httpcore scans every connection of a pool on each request (and asks
anyio for socket details each time), so its cost grows with the pool:
PROVIDERS.md saw one pool degrade past ~64 connections, and against the
Runware emulator (1,000 images of 128x128, 1 s latency, 2 cores) one client
of 32 connections took 6.9 s and 5.9 ms of client CPU per image where eight
clients of 4 took 3.4 s and 2.0 ms. So a ``ClientPool`` gives no client more
than ``SHARD_CONNECTIONS`` connections; 32 in flight is where that benchmark
stopped improving (16: 4.5 s; 64: 3.7 s), hence the default concurrency.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache, partial
from pathlib import Path
from typing import Any, Generic, Self, TypeVar
from uuid import uuid4

import anyio
import httpx
import orjson

from imagebuild.errors import (
    AuthenticationError,
    ProviderError,
    TransientError,
)
from imagebuild.providers.base import GeneratedImage, Generation, GenerationTask, TaskJournal
from imagebuild.providers.settings import (
    HttpSettings,
    RetryPolicy,
    credential_problem,
    parse_settings,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
In = TypeVar("In")
Out = TypeVar("Out")
K = TypeVar("K")

SHARD_CONNECTIONS = 4
RETRYABLE_STATUSES = frozenset({408, 429, 500, 501, 502, 503, 504})
# Answers that say the server did not act on the request: safe to repeat even
# when repeating could otherwise pay twice.
REFUSED_STATUSES = frozenset({408, 429, 503})
SUFFIXES = {"PNG": ".png", "JPG": ".jpg", "JPEG": ".jpg", "WEBP": ".webp"}
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def require_env(environ: Mapping[str, str], name: str) -> str:
    """A credential from the environment; the manifest never holds one. It
    goes into an HTTP header, which takes printable ASCII only: anything else
    is refused here, by the variable's name, and the value is never shown."""
    value = environ.get(name, "").strip()
    problem = credential_problem(name, value)
    if problem is not None:
        raise AuthenticationError(problem)
    return value


def choose_url(
    environ: Mapping[str, str], variable: str, settings: Mapping[str, Any], default: str
) -> str:
    """The environment beats the manifest, so CI can point any manifest at an emulator."""
    return environ.get(variable) or str(settings.get("url") or default)


class Redactor:
    """Strips a secret from what came from outside: a server may echo the key
    in any field of any answer (an error's message, parameter or code, a
    result's ids), and what it sends may be printed or stored."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __call__(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text

    def deep(self, value: Any) -> Any:
        """``value`` with the secret removed from every string in it, keys too."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.deep(item) for item in value]
        if isinstance(value, dict):
            return {self.deep(key): self.deep(item) for key, item in value.items()}
        return value


# -- pacing and pools -----------------------------------------------------------


class Pacer:
    """At most ``concurrency`` requests in flight, and request starts spaced to
    at most ``rate`` per second (no bursts: spacing is what servers reward)."""

    def __init__(self, concurrency: int, rate: float | None = None) -> None:
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._spacing = 1.0 / rate if rate else 0.0
        self._next_start = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._limiter:
            await self._wait_turn()
            yield

    async def _wait_turn(self) -> None:
        if not self._spacing:
            return
        now = anyio.current_time()
        start = max(now, self._next_start)
        self._next_start = start + self._spacing
        await anyio.sleep(start - now)


@cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every pool of the process: loading the CA
    bundle costs about 20 ms each time."""
    return httpx.create_ssl_context()


class ClientPool:
    """httpx clients behind a ``Pacer``; each request takes the least busy one.

    ``secure=False`` says the pool only ever speaks plain HTTP (an API URL of
    ``http://``, such as an emulator on loopback, with redirects off): it then
    needs no CA bundle, and nothing is verified because nothing is encrypted."""

    def __init__(
        self,
        concurrency: int,
        *,
        timeout: float,
        rate: float | None = None,
        headers: Mapping[str, str] | None = None,
        secure: bool = True,
    ) -> None:
        shards = max(1, math.ceil(concurrency / SHARD_CONNECTIONS))
        per_shard = math.ceil(concurrency / shards)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self._clients = [
            httpx.AsyncClient(
                verify=tls_context() if secure else False,
                limits=limits,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                headers=dict(headers or {}),
                follow_redirects=False,
            )
            for _ in range(shards)
        ]
        self._busy = [0] * shards
        self._pacer = Pacer(concurrency, rate)
        self.requests = 0

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        async with self._pacer.slot():
            index = self._busy.index(min(self._busy))
            self._busy[index] += 1
            self.requests += 1
            try:
                yield self._clients[index]
            finally:
                self._busy[index] -= 1

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    def __repr__(self) -> str:
        return f"ClientPool(shards={len(self._clients)})"


# -- one exchange and its retries -------------------------------------------------


class RequestFailed(TransientError):
    """One HTTP exchange failed in a way worth another try.

    ``may_have_run`` says whether the server may have acted on the request
    (the answer was lost, or the server failed after receiving it): a request
    that is not idempotent must not be repeated then."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, may_have_run: bool = True
    ) -> None:
        self.may_have_run = may_have_run
        super().__init__(message, retry_after)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def exchange(
    pool: ClientPool,
    method: str,
    url: str,
    *,
    service: str,
    payload: Any = None,
    shield: bool = False,
) -> Reply:
    """One request, its JSON answer parsed; transient failures raise ``RequestFailed``.

    A non-2xx answer whose body is not JSON comes back with ``body=None``: its
    status still says what went wrong. ``shield`` protects the exchange itself
    (not the wait for a slot) from cancellation, for a request whose answer
    must not be lost once it is sent."""
    content = orjson.dumps(payload) if payload is not None else None
    headers = {"Content-Type": "application/json"} if content is not None else None
    try:
        async with pool.client() as client:
            with anyio.CancelScope(shield=shield):
                response = await client.request(method, url, content=content, headers=headers)
    except httpx.UnsupportedProtocol as error:
        raise ProviderError(f"{service}: {error}") from None
    except (httpx.TransportError, httpx.DecodingError) as error:
        raise transport_failure(service, error) from None
    raise_for_retryable(service, response)
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        if 200 <= response.status_code < 300:
            raise RequestFailed(
                f"{service} sent a malformed answer (HTTP {response.status_code})"
            ) from None
        body = None
    return Reply(response.status_code, body)


def transport_failure(service: str, error: httpx.HTTPError) -> RequestFailed:
    """A failed exchange; only errors raised before a byte left are known unsent."""
    detail = str(error)
    message = f"{service}: {type(error).__name__}" + (f" ({detail})" if detail else "")
    return RequestFailed(message, may_have_run=not isinstance(error, _NEVER_SENT))


def raise_for_retryable(service: str, response: httpx.Response) -> None:
    status = response.status_code
    if status in RETRYABLE_STATUSES:
        raise RequestFailed(
            f"{service} answered HTTP {status}",
            retry_after_seconds(response.headers.get("Retry-After")),
            may_have_run=status not in REFUSED_STATUSES,
        )


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def with_retries(
    policy: RetryPolicy, attempt: Callable[[], Awaitable[T]], *, idempotent: bool = True
) -> T:
    """Run ``attempt`` until it succeeds, retrying ``RequestFailed`` by ``policy``.

    When not ``idempotent``, a failure that ``may_have_run`` is raised as is:
    the caller decides what a possibly-processed request means."""
    retry = 0
    while True:
        try:
            return await attempt()
        except RequestFailed as error:
            if not idempotent and error.may_have_run:
                raise
            retry += 1
            if retry >= policy.attempts:
                raise TransientError(
                    f"{error}; gave up after {policy.attempts} attempts", error.retry_after
                ) from error
            delay = policy.delay(retry, error.retry_after)
            if delay is None:
                raise TransientError(
                    f"{error}; the server asks to wait {error.retry_after:g} s, "
                    f"longer than the {policy.cap:g} s limit",
                    error.retry_after,
                ) from error
            logger.debug("%s; retry %d in %.2f s", error, retry, delay)
            await anyio.sleep(delay)


async def within_deadline(seconds: float, service: str, work: Callable[[], Awaitable[T]]) -> T:
    """The overall deadline of one task: whatever it is doing is cancelled then,
    which the providers' own cancellation handling turns into the right cleanup."""
    with anyio.move_on_after(seconds):
        return await work()
    raise TransientError(f"{service}: no result within {seconds:g} s")


# -- coalescing and single flight ---------------------------------------------------


@dataclass(eq=False, slots=True)
class _Slot(Generic[In, Out]):
    item: In
    done: bool = False
    result: Out | None = None
    error: Exception | None = None
    event: anyio.Event = field(default_factory=anyio.Event)

    def wake(self) -> None:
        self.event.set()

    async def wait(self) -> None:
        self.event = anyio.Event()
        await self.event.wait()

    def finish(self, result: Out | None = None, error: Exception | None = None) -> None:
        self.result, self.error, self.done = result, error, True
        self.wake()


class Coalescer(Generic[In, Out]):
    """Gathers concurrent calls arriving within ``window`` seconds (at most
    ``size``) into one ``send``, which answers each item in order.

    There is no background task, so nothing outlives the callers: the first
    caller in the queue leads the gathering, hands the lead to the next queued
    caller once its batch is taken, and sends the batch itself. Several
    batches can be in flight at once. A caller cancelled while sending gives
    its batch back to the queue, so siblings never inherit its cancellation;
    an exception from ``send`` is every item's answer."""

    def __init__(
        self, send: Callable[[list[In]], Awaitable[list[Out]]], size: int, window: float
    ) -> None:
        self._send = send
        self._size = size
        self._window = window
        self._queue: list[_Slot[In, Out]] = []
        self._leader: _Slot[In, Out] | None = None
        self._full = anyio.Event()

    async def call(self, item: In) -> Out:
        slot: _Slot[In, Out] = _Slot(item)
        self._enqueue([slot])
        try:
            while not slot.done:
                if self._leader is slot:
                    await self._lead()
                else:
                    await slot.wait()
        finally:
            self._forget(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _enqueue(self, slots: list[_Slot[In, Out]]) -> None:
        self._queue.extend(slots)
        if len(self._queue) >= self._size:
            self._full.set()
        self._promote()

    def _promote(self) -> None:
        if self._leader is None and self._queue:
            self._leader = self._queue[0]
            self._leader.wake()

    def _forget(self, slot: _Slot[In, Out]) -> None:
        if slot in self._queue:
            self._queue.remove(slot)
        if self._leader is slot:
            self._leader = None
            self._promote()

    async def _lead(self) -> None:
        if len(self._queue) < self._size:
            with anyio.move_on_after(self._window):
                await self._full.wait()
        batch = self._queue[: self._size]
        del self._queue[: self._size]
        if len(self._queue) < self._size:
            self._full = anyio.Event()
        self._leader = None
        self._promote()
        await self._flush(batch)

    async def _flush(self, batch: list[_Slot[In, Out]]) -> None:
        try:
            results = await self._send([slot.item for slot in batch])
        except Exception as error:
            for slot in batch:
                slot.finish(error=error)
        except BaseException:
            self._enqueue(batch)
            raise
        else:
            for slot, result in zip(batch, results, strict=True):
                slot.finish(result=result)


@dataclass(eq=False, slots=True)
class _Flight(Generic[T]):
    event: anyio.Event = field(default_factory=anyio.Event)
    value: T | None = None
    error: Exception | None = None
    landed: bool = False


class SingleFlight(Generic[K, T]):
    """One computation per key: concurrent callers share it, later callers get
    its value. A failure is shared with those waiting and then forgotten, so a
    later call tries again; a cancelled run lets a waiter take over."""

    def __init__(self) -> None:
        self._flights: dict[K, _Flight[T]] = {}

    async def get(self, key: K, compute: Callable[[], Awaitable[T]]) -> T:
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._run(key, compute)
            await flight.event.wait()
            if flight.error is not None:
                raise flight.error
            if flight.landed:
                return flight.value  # type: ignore[return-value]

    async def _run(self, key: K, compute: Callable[[], Awaitable[T]]) -> T:
        flight: _Flight[T] = _Flight()
        self._flights[key] = flight
        try:
            flight.value = await compute()
            flight.landed = True
            return flight.value
        except Exception as error:
            flight.error = error
            raise
        finally:
            if not flight.landed:
                del self._flights[key]
            flight.event.set()


# -- images ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageSource:
    """Where one result's bytes are: a URL to download, or inline data."""

    url: str | None = None
    data: bytes | None = None
    image_uuid: str | None = None
    seed: int | None = None
    cost: float | None = None
    nsfw: bool = False


def decode_base64(text: str, service: str) -> bytes:
    """Inline image bytes, from raw base64 or a ``data:`` URI."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ProviderError(f"{service} returned image data that is not valid base64") from None


class Downloader:
    """Streams result images to staging files: capped, verified, retried.

    Image hosts are not the API: this pool sends no credentials."""

    def __init__(self, settings: HttpSettings, service: str) -> None:
        self._settings = settings
        self._pool: ClientPool | None = None
        self._retry = settings.retry
        self._limit = settings.max_image_bytes
        self._service = service

    @property
    def downloads(self) -> int:
        return self._pool.requests if self._pool is not None else 0

    @property
    def pool(self) -> ClientPool:
        """Made on the first download: results that come inline never need it."""
        if self._pool is None:
            self._pool = ClientPool(
                self._settings.concurrency, timeout=self._settings.request_timeout
            )
        return self._pool

    async def fetch(self, url: str, destination: Path) -> Path:
        return await with_retries(self._retry, lambda: self._fetch_once(url, destination))

    async def _fetch_once(self, url: str, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.{uuid4().hex}.part")
        try:
            async with self.pool.client() as client, client.stream("GET", url) as response:
                self._check(response)
                await self._stream(response, partial)
            os.replace(partial, destination)
        except httpx.UnsupportedProtocol as error:
            raise ProviderError(f"{self._service}: image URL: {error}") from None
        except (httpx.TransportError, httpx.DecodingError) as error:
            raise transport_failure(f"{self._service} image download", error) from None
        finally:
            partial.unlink(missing_ok=True)
        return destination

    def _check(self, response: httpx.Response) -> None:
        raise_for_retryable(f"{self._service} image download", response)
        if response.status_code != 200:
            raise ProviderError(
                f"{self._service}: image download failed with HTTP {response.status_code} "
                "(result URLs are temporary)"
            )
        expected = _content_length(response)
        if expected is not None and expected > self._limit:
            raise self._too_large()

    async def _stream(self, response: httpx.Response, partial: Path) -> None:
        """Writes go straight to the page cache: a thread hop per chunk would
        cost more than the write itself."""
        written = 0
        with partial.open("wb") as handle:
            async for chunk in response.aiter_bytes():
                written += len(chunk)
                if written > self._limit:
                    raise self._too_large()
                handle.write(chunk)
        expected = _content_length(response)
        if expected is not None and response.num_bytes_downloaded != expected:
            raise RequestFailed(
                f"{self._service}: truncated image download "
                f"({response.num_bytes_downloaded} of {expected} bytes)"
            )

    def _too_large(self) -> ProviderError:
        return ProviderError(
            f"{self._service}: result image exceeds the {self._limit // (1024 * 1024)} MB limit"
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def staged_path(staging_dir: Path, task_id: str, index: int, output_format: str) -> Path:
    """A staging name unique per task and result, so concurrent tasks never collide."""
    return staging_dir / f"{task_id}-{index}{SUFFIXES.get(output_format.upper(), '')}"


async def materialise(
    downloader: Downloader,
    sources: list[ImageSource],
    staging_dir: Path,
    task_id: str,
    output_format: str,
) -> list[GeneratedImage]:
    """Every result as a GeneratedImage, URLs downloaded concurrently, in order.

    If one download fails the others' staged files are removed: the target
    fails as a whole, and staging must not fill up with orphans."""

    async def land(index: int, source: ImageSource) -> GeneratedImage:
        staged = None
        if source.url is not None:
            destination = staged_path(staging_dir, task_id, index, output_format)
            staged = await downloader.fetch(source.url, destination)
        return GeneratedImage(
            data=source.data if staged is None else None,
            staged=staged,
            image_uuid=source.image_uuid,
            seed=source.seed,
            cost=source.cost,
            nsfw=source.nsfw,
        )

    try:
        return await gather([partial(land, index, source) for index, source in enumerate(sources)])
    except BaseException:
        for index in range(len(sources)):
            staged_path(staging_dir, task_id, index, output_format).unlink(missing_ok=True)
        raise


async def gather(operations: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run concurrently and return the results in order. The first failure
    cancels the rest and is raised as itself, not as an ExceptionGroup, so the
    executor sees the one ProviderError it knows how to report."""
    if len(operations) == 1:
        return [await operations[0]()]
    results: dict[int, T] = {}

    async def run(index: int) -> None:
        results[index] = await operations[index]()

    try:
        async with anyio.create_task_group() as group:
            for index in range(len(operations)):
                group.start_soon(run, index)
    except ExceptionGroup as errors:
        raise _first_leaf(errors) from None
    return [results[index] for index in range(len(operations))]


def _first_leaf(errors: BaseExceptionGroup[Exception]) -> Exception:
    first = errors.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


# -- the shell every HTTP provider shares -----------------------------------------


class HttpProvider:
    """Credentials, pools, deadlines and counters of a remote provider.

    Subclasses say what their API does in ``_generate`` and ``_resume``; the
    credential lives only in the pool's headers and the redactor."""

    name: str
    service: str
    credential_env: str
    url_env: str
    default_url: str

    def __init__(self, credential: str, settings: HttpSettings) -> None:
        self.settings = settings
        self._redact = Redactor(credential)
        self._api = ClientPool(
            settings.concurrency,
            timeout=settings.request_timeout,
            rate=settings.rate,
            headers={"Authorization": f"Bearer {credential}"},
            secure=settings.url.startswith("https://"),
        )
        self._downloader = Downloader(settings, self.service)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], environ: Mapping[str, str]) -> Self:
        """The credential from the environment only; the URL from the
        environment, else the manifest's settings, else the public API."""
        credential = require_env(environ, cls.credential_env)
        url = choose_url(environ, cls.url_env, settings, cls.default_url)
        return cls(credential, parse_settings(cls.name, settings, url))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.settings.url!r})"

    @property
    def http_requests(self) -> int:
        """API requests made, retries and uploads included."""
        return self._api.requests

    @property
    def downloads(self) -> int:
        return self._downloader.downloads

    async def generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        return await within_deadline(
            self.settings.timeout, self.service, partial(self._generate, task, journal)
        )

    async def resume(self, task: GenerationTask, task_id: str) -> Generation:
        return await within_deadline(
            self.settings.timeout, self.service, partial(self._resume, task, task_id)
        )

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._downloader.aclose()

    async def _exchange(
        self, method: str, url: str, *, payload: Any = None, shield: bool = False
    ) -> Reply:
        """One API exchange, the answer cleaned of the credential before anything
        reads it."""
        reply = await exchange(
            self._api, method, url, service=self.service, payload=payload, shield=shield
        )
        return Reply(reply.status, self._redact.deep(reply.body))

    async def _generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        raise NotImplementedError

    async def _resume(self, task: GenerationTask, task_id: str) -> Generation:
        raise NotImplementedError
