"""What was queued for the remote and what reached it, kept on the local disk.

``<cache>/remote/<remote's id>.push.log`` gets ``+ FP RECORD`` when a push is
queued and ``= FP`` once its record is up. A build that dies between the two
leaves a ``+`` without its ``=``; the next build that opens the remote claims
the log and queues those again. Pushing twice is harmless (objects are named
by their bytes, records are create-only), so a claim may take everything it
finds, even a log another live build still appends to.

Each line starts with its own newline, written in one ``os.write``: appends
from concurrent builds sharing a cache never interleave, and a line torn by
a crash ends where the next begins and is skipped.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import orjson

from imagebuild.planning.files import make_state_dir
from imagebuild.remote.records import Record

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
_QUEUED = b"+ "
_PUSHED = b"= "


class PushLog:
    def __init__(self, cache_directory: Path, url: str) -> None:
        self.folder = cache_directory / "remote"
        self.path = self.folder / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.push.log"
        self._cache_directory = cache_directory

    def queued(self, records: dict[str, Record]) -> None:
        self._append(
            b"".join(
                b"\n" + _QUEUED + fp.encode() + b" " + orjson.dumps(record)
                for fp, record in records.items()
            )
        )

    def pushed(self, fingerprints: list[str]) -> None:
        self._append(b"".join(b"\n" + _PUSHED + fp.encode() for fp in fingerprints))

    def claim(self) -> dict[str, Record]:
        """The pushes that logs left unfinished, logged anew as queued, their
        old logs removed. Each log is renamed before it is read, so appends
        that follow start a new one."""
        pending: dict[str, Record] = {}
        if not self.folder.is_dir():
            return pending
        token = secrets.token_hex(4)
        claimed = []
        for index, path in enumerate(sorted(self.folder.glob(self.path.name + "*"))):
            mine = path.with_name(f"{self.path.name}.{os.getpid()}-{token}-{index}.claimed")
            try:
                os.replace(path, mine)
                _read(mine.read_bytes(), pending)
            except OSError:
                continue
            claimed.append(mine)
        if pending:
            self.queued(pending)
        for path in claimed:
            path.unlink(missing_ok=True)
        return pending

    def unfinished(self) -> bool:
        """Whether the logs hold pushes not made yet; read, not claimed."""
        pending: dict[str, Record] = {}
        for path in self.folder.glob(self.path.name + "*") if self.folder.is_dir() else ():
            try:
                _read(path.read_bytes(), pending)
            except OSError:
                continue
        return bool(pending)

    def _append(self, line: bytes) -> None:
        if not self.folder.is_dir():
            make_state_dir(self._cache_directory)
            self.folder.mkdir(exist_ok=True)
        descriptor = os.open(self.path, _APPEND, 0o666)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


def _read(data: bytes, pending: dict[str, Record]) -> None:
    for line in data.split(b"\n"):
        if line.startswith(_PUSHED):
            pending.pop(line[len(_PUSHED) :].decode(errors="replace"), None)
        elif line.startswith(_QUEUED):
            fingerprint, _, payload = line[len(_QUEUED) :].partition(b" ")
            try:
                record = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                pending[fingerprint.decode(errors="replace")] = record
