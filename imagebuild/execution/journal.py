"""The journal: an append-only record of what a build paid for.

``submitted`` is written before a request leaves (its task id, and the seed
that went with it); ``built`` after a target's outputs are on disk and in the
cache. The lock is written once per build; if the process dies in between,
the next build replays the journal into the lock and collects submitted
tasks by id instead of paying again. Each record is one ``os.write`` to an
O_APPEND descriptor: it reaches the kernel at once and so survives the death
of the process; fsync is batched to the end of the build.

When a build ends, the journal shrinks to the submissions still unanswered
(an interrupted build's tasks in flight) or disappears when there are none.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from imagebuild.errors import Location, StateError
from imagebuild.planning.files import atomic_write, make_state_dir
from imagebuild.planning.lock import entry_problem

Record = dict[str, Any]
_OPEN = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


def _last_byte(descriptor: int, size: int) -> bytes:
    """Portable ``pread`` (Windows has none); appends ignore the offset anyway."""
    os.lseek(descriptor, size - 1, os.SEEK_SET)
    return os.read(descriptor, 1)


@dataclass(slots=True)
class Replay:
    built: dict[str, Record] = field(default_factory=dict)
    pending: dict[str, Record] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.built or self.pending)

    def seeds(self) -> dict[str, int]:
        """Seeds already sent for targets whose results never arrived: reusing
        them keeps the fingerprint, so the paid task can be collected."""
        return {
            record["target"]: record["seed"]
            for record in self.pending.values()
            if isinstance(record.get("seed"), int)
        }


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None
        self._read = False
        self.pending: dict[str, Record] = {}

    def open(self) -> None:
        if not self._read:
            self.replay()  # what is owed from before must survive compaction
        make_state_dir(self.path.parent)
        self._descriptor = os.open(self.path, _OPEN, 0o644)
        size = os.fstat(self._descriptor).st_size
        if size and _last_byte(self._descriptor, size) != b"\n":
            # A build died mid-record: end the torn line so the next record
            # starts on its own and is not lost with it.
            os.write(self._descriptor, b"\n")

    def _append(self, record: Record) -> None:
        if self._descriptor is None:
            self.open()
        assert self._descriptor is not None
        os.write(self._descriptor, orjson.dumps(record) + b"\n")

    def submitted(
        self, target: str, fingerprint: str, provider: str, task_id: str, seed: int | None = None
    ) -> None:
        record: Record = {
            "event": "submitted",
            "target": target,
            "fingerprint": fingerprint,
            "provider": provider,
            "taskId": task_id,
            "time": time.time(),
        }
        if seed is not None:
            record["seed"] = seed
        self._append(record)
        self.pending[task_id] = record

    def refused(self, task_id: str) -> None:
        """The provider refused the submission outright: nothing is owed for it."""
        if self.pending.pop(task_id, None) is not None:
            self._append({"event": "refused", "taskId": task_id})

    def owes(self, fingerprint: str) -> bool:
        """Whether a submission for ``fingerprint`` is still unanswered."""
        return any(record["fingerprint"] == fingerprint for record in self.pending.values())

    def built(self, target: str, entry: Record) -> None:
        self._append({"event": "built", "target": target, "entry": entry})
        self.pending = _without(self.pending, entry.get("fingerprint"))

    def replay(self) -> Replay:
        """What earlier, interrupted builds did. A torn line (a build died
        writing it) is skipped; a record of the wrong shape is an error, since
        the journal may hold tasks that were paid for."""
        replay = Replay()
        try:
            lines = self.path.read_bytes().split(b"\n")
        except (FileNotFoundError, NotADirectoryError):
            self._read = True
            return replay
        except OSError as error:
            raise self._damaged(1, f"cannot read the journal: {error.strerror}") from None
        for number, line in enumerate(lines, start=1):
            try:
                record = orjson.loads(line) if line.strip() else None
            except orjson.JSONDecodeError:
                continue
            if record is None:
                continue
            problem = _record_problem(record)
            if problem is not None:
                raise self._damaged(number, problem)
            if record["event"] == "submitted":
                replay.pending[record["taskId"]] = record
            elif record["event"] == "refused":
                replay.pending.pop(record["taskId"], None)
            else:
                replay.built[record["target"]] = record["entry"]
                replay.pending = _without(replay.pending, record["entry"].get("fingerprint"))
        self.pending = dict(replay.pending)
        self._read = True
        return replay

    def _damaged(self, line: int, problem: str) -> StateError:
        return StateError(
            f"{problem}; the journal lists tasks paid for but not yet in the lock: repair"
            " the line, or delete the file to give them up",
            Location(str(self.path), line, 1),
        )

    def sync(self) -> None:
        if self._descriptor is not None:
            os.fsync(self._descriptor)

    def close(self) -> None:
        """Call once the lock holds every built record: keep only what is still
        owed by a provider, so the next build collects it."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        if not self._read:
            return
        try:
            if self.pending:
                lines = b"".join(orjson.dumps(r) + b"\n" for r in self.pending.values())
                atomic_write(self.path, lines)
            else:
                self.path.unlink(missing_ok=True)
        except OSError as error:
            raise StateError(
                f"cannot compact the journal: {error.strerror or error}; it is intact, and"
                " the next build reads it as it is",
                Location(str(self.path), 1, 1),
            ) from None


def _record_problem(record: object) -> str | None:
    """What makes a journal record unusable, or None."""
    if not isinstance(record, dict):
        return "damaged record: not an object"
    event = record.get("event")
    if event == "submitted":
        for key in ("target", "fingerprint", "provider", "taskId"):
            if not isinstance(record.get(key), str):
                return f"damaged submitted record: {key} is not a string"
        seed = record.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            return "damaged submitted record: seed is not an integer"
        return None
    if event == "refused":
        return None if isinstance(record.get("taskId"), str) else "damaged refused record"
    if event == "built":
        if not isinstance(record.get("target"), str):
            return "damaged built record: target is not a string"
        problem = entry_problem(record.get("entry"))
        return None if problem is None else f"damaged built record: {problem}"
    return f"damaged record: unknown event {event!r}"


def _without(pending: dict[str, Record], fingerprint: str | None) -> dict[str, Record]:
    return {
        task: record for task, record in pending.items() if record["fingerprint"] != fingerprint
    }
