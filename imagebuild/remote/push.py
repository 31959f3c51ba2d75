"""Pushing results: the objects first, then the record, then the lease goes.

A record only ever names objects that are already up, so a reader that
finds a record finds its bytes. :func:`upload` pushes a batch and waits (the
``push`` command); :class:`PushQueue` runs it in one background thread while
the build goes on: queueing a push is one append to the push log and costs
a generation nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Mapping

from imagebuild.planning.cache import Cache
from imagebuild.remote.errors import StorageError
from imagebuild.remote.fetch import Warn
from imagebuild.remote.pushlog import PushLog
from imagebuild.remote.records import Record, encode
from imagebuild.remote.store import Store, object_key, record_key

PUSHED = "pushed"
PRESENT = "present"
UNAVAILABLE = "unavailable"


def upload(store: Store, cache: Cache, records: Mapping[str, Record], warn: Warn) -> dict[str, str]:
    """Push each record with its objects from the local cache. Per
    fingerprint: ``pushed``, ``present`` (another build's record was there
    first, and stays), or ``unavailable`` (an object is missing or damaged
    here: nothing of it is pushed)."""
    status: dict[str, str] = {}
    objects: dict[str, bytes] = {}
    for fingerprint, record in records.items():
        found = _objects(cache, record)
        if isinstance(found, str):
            warn(f"warning: cannot push {fingerprint[:12]}: {found}")
            status[fingerprint] = UNAVAILABLE
        else:
            objects.update(found)
    store.create(objects)
    created = store.create(
        {record_key(fp): encode(fp, record) for fp, record in records.items() if fp not in status}
    )
    for fingerprint in records:
        if fingerprint not in status:
            status[fingerprint] = PUSHED if created[record_key(fingerprint)] else PRESENT
    return status


def _objects(cache: Cache, record: Record) -> dict[str, bytes] | str:
    """The record's objects by remote key, read and checked; or what is wrong."""
    objects = {}
    for output in record["outputs"]:
        digest = output["sha256"]
        try:
            data = cache.object_path(digest).read_bytes()
        except OSError:
            return f"object {digest[:12]} is not in the local cache"
        if hashlib.sha256(data).hexdigest() != digest:
            return f"the local cache's object {digest[:12]} is damaged"
        objects[object_key(digest)] = data
    return objects


class PushQueue:
    """Pushes in the background, in batches of up to ``batch`` records."""

    def __init__(
        self,
        store: Store,
        cache: Cache,
        log: PushLog,
        *,
        batch: int,
        warn: Warn,
        usable: Callable[[], bool],
        failed: Callable[[StorageError], None],
        pushed: Callable[[list[str]], None],
    ) -> None:
        self.store = store
        self.cache = cache
        self.log = log
        self.batch = batch
        self.warn = warn
        self.usable = usable
        self.failed = failed
        self.pushed = pushed
        self._waiting: deque[tuple[str, Record]] = deque()
        self._unfinished = 0
        # Skipped once the remote was off: still in the log, for the next build.
        self._skipped = 0
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, fingerprint: str, record: Record) -> None:
        self.log.queued({fingerprint: record})
        self._enqueue({fingerprint: record})

    def resume(self) -> int:
        """Queue again what earlier builds logged but did not finish pushing."""
        pending = self.log.claim()
        self._enqueue(pending)
        return len(pending)

    def flush(self, timeout: float) -> int:
        """Wait until every queued push is done, at most ``timeout`` seconds;
        the number not pushed (they stay in the push log for the next build)."""
        with self._changed:
            self._changed.wait_for(lambda: self._unfinished == 0, timeout)
            return self._unfinished + self._skipped

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _enqueue(self, records: dict[str, Record]) -> None:
        if not records:
            return
        with self._changed:
            self._waiting.extend(records.items())
            self._unfinished += len(records)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="imagebuild-remote-push", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting or self._closed)
                if not self._waiting:
                    return
                count = min(self.batch, len(self._waiting))
                batch = dict(self._waiting.popleft() for _ in range(count))
            skipped = len(batch)
            try:
                if self.usable():
                    upload(self.store, self.cache, batch, self.warn)
                    self.log.pushed(list(batch))
                    skipped = 0
                    self.pushed(list(batch))
            except StorageError as error:
                self.failed(error)
            finally:
                with self._changed:
                    self._unfinished -= len(batch)
                    self._skipped += skipped
                    self._changed.notify_all()
