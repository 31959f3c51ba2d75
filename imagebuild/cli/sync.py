"""What ``push`` and ``pull`` share: their arguments, the remote they open,
and the progress line they keep on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, TextIO, TypeVar

import orjson

from imagebuild.cli.arguments import add_manifests, add_targets
from imagebuild.pipeline import Session, open_session
from imagebuild.planning.cache import Cache

if TYPE_CHECKING:
    from imagebuild.remote.client import RemoteCache
    from imagebuild.remote.settings import Mode

# Records per round trip: enough to keep the remote busy, few enough that a
# round's objects sit in memory at once.
CHUNK = 128
_REDRAW_SECONDS = 0.1
V = TypeVar("V")


def add_arguments(parser: argparse.ArgumentParser, handler: Callable[..., int]) -> None:
    add_manifests(parser)
    add_targets(parser)
    parser.set_defaults(handler=handler)


def run_sync(
    arguments: argparse.Namespace,
    sync: Callable[[Session], dict[str, str]],
    done: str,
    failure: str,
) -> int:
    """Sync each manifest; ``sync`` gives each selected target's status:
    ``done``, ``present``, ``failed`` (``failure`` says why) or ``skipped``."""
    started = time.monotonic()
    errors = {"skipped": "not built yet (not in the lock)", "failed": failure}
    targets = []
    counts = dict.fromkeys((done, "present", "failed", "skipped"), 0)
    for path in arguments.manifests:
        session = open_session(path, patterns=arguments.targets)
        for name, status in sync(session).items():
            if status == "failed":
                print(f"{session.manifest.display}: target {name}: {failure}", file=sys.stderr)
            counts[status] += 1
            targets.append({"name": name, "status": status, "error": errors.get(status)})
    seconds = time.monotonic() - started
    if arguments.json:
        document = {"targets": targets, "summary": {**counts, "seconds": round(seconds, 3)}}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        summary = ", ".join(f"{value} {key}" for key, value in counts.items() if value)
        print(f"{summary or 'nothing to do'}; {seconds:.2f}s", file=sys.stderr)
    return 1 if counts["failed"] else 0


def connect(session: Session, cache: Cache, mode: Mode) -> RemoteCache:
    """The manifest's remote, required: an explicit sync that cannot reach
    it fails with one line instead of warning. Imports the remote's machinery,
    which ``validate`` and ``plan`` never pay for."""
    from imagebuild.remote.client import open_remote
    from imagebuild.remote.errors import RemoteError
    from imagebuild.remote.settings import REMOTE_ENV

    remote = open_remote(session.manifest.cache, cache, mode)
    if remote.url is None:
        raise RemoteError(
            f"{session.manifest.display}: no remote cache configured "
            f"(set cache.remote in the manifest, or {REMOTE_ENV})"
        )
    return remote


def chunks(items: Mapping[str, V]) -> Iterator[dict[str, V]]:
    iterator = iter(items.items())
    while chunk := dict(islice(iterator, CHUNK)):
        yield chunk


class SyncProgress:
    """``push 120/1000`` redrawn in place on a terminal; silent in CI logs,
    where the summary line says it all."""

    def __init__(self, verb: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.verb = verb
        self.total = total
        self.done = 0
        self.stream = stream
        self.live = stream.isatty() and total > 0
        self.last = 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.live and (now - self.last >= _REDRAW_SECONDS or self.done == self.total):
            self.last = now
            self.stream.write(f"\r\033[K{self.verb} {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
