"""What the two API emulators share: raw ASGI plumbing, counters, fault delivery and the
routes outside either API (image downloads, ``/_emulator/stats``, ``/_emulator/reset``).

The apps are raw ASGI: two tiny route tables do not need a framework, and a benchmark pushes
thousands of requests through them, so per-request overhead is one body read, one orjson
call and one dict lookup.

Faults are delivered here so both emulators misbehave identically. A lost answer ("drop") is
a response whose headers declare a ``Content-Length`` and whose body never comes: the ASGI
call returns with the response incomplete, the server closes the connection, and the client
sees a transport error (httpx: ``RemoteProtocolError``) after the work was done and paid.
A cut download ("truncate") is the same with half of the body sent.
"""

from __future__ import annotations

import hmac
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from imagebuild.emulators.faults import API_FAULTS, DOWNLOAD_FAULTS, REFUSALS, Faults
from imagebuild.emulators.images import IMAGES_PREFIX, ImageStore, image_id_of
from imagebuild.registry.models import ModelInfo
from imagebuild.registry.validation import ImageSizes, find_problems

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Counter = Literal["requests", "tasks", "uploads", "downloads", "cancelled"]

STATS_PATH = "/_emulator/stats"
RESET_PATH = "/_emulator/reset"


@dataclass
class EmulatorStats:
    """What an emulator saw and charged; safe to read from any thread.

    ``requests`` counts API requests (not downloads or ``/_emulator``), ``tasks`` the task
    objects (Runware) or submissions (RunComfy) in them, ``billed`` the images charged for
    and ``billed_cost`` their price in USD. ``max_in_flight`` is the peak number of HTTP
    requests being handled at once, downloads included.
    """

    requests: int = 0
    tasks: int = 0
    billed: int = 0
    billed_cost: float = 0.0
    uploads: int = 0
    downloads: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0
    cancelled: int = 0
    _in_flight: int = field(default=0, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: Counter, amount: int = 1) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def bill(self, images: int, cost: float) -> None:
        with self._lock:
            self.billed += images
            self.billed_cost += cost

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count one HTTP request as being handled for the duration of the block."""
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        """The public counters as JSON-ready values, read consistently."""
        with self._lock:
            return {
                "requests": self.requests,
                "tasks": self.tasks,
                "billed": self.billed,
                "billed_cost": round(self.billed_cost, 6),
                "uploads": self.uploads,
                "downloads": self.downloads,
                "faults": dict(self.faults),
                "max_in_flight": self.max_in_flight,
                "cancelled": self.cancelled,
            }

    def clear(self) -> None:
        """Zero every counter except the requests being handled right now."""
        with self._lock:
            self.requests = self.tasks = self.billed = 0
            self.uploads = self.downloads = self.cancelled = 0
            self.billed_cost = 0.0
            self.faults = {}
            self.max_in_flight = self._in_flight


@dataclass(frozen=True, slots=True)
class InvalidInput:
    """Why a request breaks its model's schema or rules, and which top-level field is to
    blame."""

    message: str
    parameter: str | None


def invalid_input(
    info: ModelInfo, request: dict[str, Any], image_size: ImageSizes | None = None
) -> InvalidInput | None:
    """The most relevant schema violation of ``request``, else the first rule it breaks
    (``image_size``: the sizes of its decoded image inputs), or None when it is valid."""
    problems = find_problems(info, request, image_size)
    if not problems:
        return None
    problem = problems[0]
    if problem.path:
        return InvalidInput(problem.message, str(problem.path[0]))
    required = info.schema.get("required", [])
    missing = next((name for name in required if name not in request), None)
    return InvalidInput(problem.message, missing)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, read whole; ``base_url`` is how the client addressed the server."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    base_url: str

    def bearer_matches(self, secret: str | None) -> bool:
        """Whether the ``Authorization: Bearer`` header carries ``secret`` (always, when None)."""
        if secret is None:
            return True
        scheme, _, given = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), secret.encode())

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not."""
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: Any) -> Response:
    return Response(status, orjson.dumps(payload))


async def read_request(scope: Scope, receive: Receive) -> Request:
    """Read the whole request; the base URL comes from ``Host``, as the client wrote it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }
    host = headers.get("host")
    if host is None:
        server_host, server_port = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server_host}:{server_port}"
    return Request(
        method=scope["method"],
        path=scope["path"],
        headers=headers,
        body=b"".join(chunks),
        base_url=f"{scope.get('scheme', 'http')}://{host}",
    )


async def send_response(send: Send, response: Response, cut_at: int | None = None) -> None:
    """Send ``response``; with ``cut_at``, stop after that many body bytes and leave the
    response incomplete, which makes the server close the connection mid-answer."""
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode("latin-1")),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if cut_at is None:
        await send({"type": "http.response.body", "body": response.body})
    elif cut_at > 0:
        await send(
            {"type": "http.response.body", "body": response.body[:cut_at], "more_body": True}
        )


class EmulatorApp(ABC):
    """An ASGI app with an API of its own plus the shared routes and fault delivery."""

    def __init__(self, faults: Faults | None) -> None:
        self.faults = faults if faults is not None else Faults()
        self.stats = EmulatorStats()
        self.images = ImageStore()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        if request.path.startswith("/_emulator/"):
            await send_response(send, self._control(request))
        elif request.path.startswith(IMAGES_PREFIX):
            with self.stats.in_flight():
                await self._download(request, send)
        else:
            self.stats.add("requests")
            with self.stats.in_flight():
                await self._api(request, send)

    @abstractmethod
    async def handle(self, request: Request) -> Response:
        """Answer one API request (faults are applied around this)."""

    @abstractmethod
    def error_response(self, status: int, message: str) -> Response:
        """An error that concerns the whole request, in the API's own error shape."""

    def reset(self) -> None:
        """Forget every task, image and counter, as a fresh emulator would."""
        self.stats.clear()
        self.images.clear()

    async def _api(self, request: Request, send: Send) -> None:
        fault = self._draw_fault(API_FAULTS)
        if fault is not None and fault in REFUSALS:
            await send_response(send, self._refusal(int(fault)))
            return
        response = await self.handle(request)
        if fault == "drop":
            await send_response(send, response, cut_at=0)
            return
        if fault == "malformed":
            response = replace(response, status=200, body=response.body[: len(response.body) // 2])
        await send_response(send, response)

    def _refusal(self, status: int) -> Response:
        if status != 429:
            return self.error_response(status, f"emulated fault: HTTP {status}")
        retry_after = f"{self.faults.retry_after:g}"
        response = self.error_response(429, f"too many requests; retry after {retry_after} s")
        return replace(response, headers=(*response.headers, ("retry-after", retry_after)))

    async def _download(self, request: Request, send: Send) -> None:
        if request.method != "GET":
            await send_response(
                send, self.error_response(405, f"{request.method} is not allowed here")
            )
            return
        image_id = image_id_of(request.path)
        image = await self.images.read(image_id)
        if image is None:
            await send_response(send, self.error_response(404, f"no image {image_id}"))
            return
        self.stats.add("downloads")
        data, content_type = image
        response = Response(200, data, content_type)
        cut_at = len(data) // 2 if self._draw_fault(DOWNLOAD_FAULTS) else None
        await send_response(send, response, cut_at)

    def _control(self, request: Request) -> Response:
        if request.path == STATS_PATH and request.method == "GET":
            return json_response(200, self.stats.snapshot())
        if request.path == RESET_PATH and request.method == "POST":
            self.reset()
            return json_response(200, {"reset": True})
        return self.error_response(404, f"no route {request.method} {request.path}")

    def _draw_fault(self, applicable: frozenset[str]) -> str | None:
        fault = self.faults.draw(applicable)
        if fault is not None:
            self.stats.fault(fault)
        return fault
