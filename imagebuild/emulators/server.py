"""Run an emulator as a real HTTP server on loopback, with uvicorn.

Tests and benchmarks need a server they can start inside their own process and stop cleanly
(:func:`serve`: a background thread with its own event loop); the command line needs one that
runs until Ctrl-C (:func:`run_forever`). Both bind the socket themselves, so port 0 gives a
free port whose number is known before the first request.

The emulators lose answers on purpose by returning with a response incomplete; uvicorn then
closes the connection, as wanted, but also logs an error each time. That one message is
filtered out; every other error still shows.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# Seconds a stopping server waits for requests still being answered (a sync task sleeping).
GRACEFUL_SHUTDOWN = 2
BACKLOG = 2048
_INCOMPLETE = "ASGI callable returned without completing response."


class _DeliberateDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _INCOMPLETE


_DROPS_FILTER = _DeliberateDrops()


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields the base URL, e.g. http://127.0.0.1:PORT."""
    sock = bind(host, port)
    server = uvicorn.Server(_config(app, log_level="warning"))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name=f"emulator-{sock.getsockname()[1]}",
        daemon=True,
    )
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()


def run_forever(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` in this thread until Ctrl-C or SIGTERM; ``on_ready`` gets the base URL
    once the port is bound. Raises ``OSError`` when the address cannot be bound."""
    sock = bind(host, port)
    try:
        if on_ready is not None:
            on_ready(base_url(sock))
        uvicorn.Server(_config(app, log_level="warning")).run(sockets=[sock])
    except KeyboardInterrupt:
        return
    finally:
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Connections accepted from it inherit ``TCP_NODELAY``. asyncio sets it only on
    sockets whose protocol number says TCP, which ``create_server``'s do not; without
    it each answer's body waits for the client's delayed ACK of its headers, 40 ms
    per request on a kept-alive connection, which no real API adds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(app: Any, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_DROPS_FILTER)
    return uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="off",
        log_level=log_level,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        backlog=BACKLOG,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the emulator's HTTP server did not start")
        time.sleep(0.005)
