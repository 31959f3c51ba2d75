"""The journal: an append-only record of what a build paid for.

``submitted`` is written before a request leaves (its task id); ``built``
after a target's outputs are on disk and in the cache. The lock is written
once per build; if the process dies in between, the next build replays the
journal into the lock and recovers submitted tasks by id instead of paying
again. Each record is one ``os.write`` to an O_APPEND descriptor: it reaches
the kernel at once and so survives the death of the process; fsync is
batched to the end of the build.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(slots=True)
class Replay:
    built: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.built or self.pending)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self._descriptor).st_size
        if size and os.pread(self._descriptor, 1, size - 1) != b"\n":
            # A build died mid-record: end the torn line so the next record
            # starts on its own and is not lost with it.
            os.write(self._descriptor, b"\n")

    def _append(self, record: dict[str, Any]) -> None:
        if self._descriptor is None:
            self.open()
        assert self._descriptor is not None
        os.write(self._descriptor, orjson.dumps(record) + b"\n")

    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None:
        self._append(
            {
                "event": "submitted",
                "target": target,
                "fingerprint": fingerprint,
                "provider": provider,
                "taskId": task_id,
                "time": time.time(),
            }
        )

    def built(self, target: str, entry: dict[str, Any]) -> None:
        self._append({"event": "built", "target": target, "entry": entry})

    def replay(self) -> Replay:
        """What an earlier, interrupted build did; a torn last line is ignored."""
        replay = Replay()
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return replay
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            target = record.get("target")
            if record.get("event") == "submitted":
                replay.pending[record["taskId"]] = record
            elif record.get("event") == "built":
                replay.built[target] = record["entry"]
                replay.pending = {
                    task: pending
                    for task, pending in replay.pending.items()
                    if pending["fingerprint"] != record["entry"].get("fingerprint")
                }
        return replay

    def sync(self) -> None:
        if self._descriptor is not None:
            os.fsync(self._descriptor)

    def close(self, *, clear: bool) -> None:
        """Close; ``clear`` once the lock holds everything the journal recorded."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        if clear:
            self.path.unlink(missing_ok=True)
