"""RemoteCache: what the commands call, and the failure policy in one place.

By default a storage problem (unreachable, refused, timed out, a missing
package) is one warning, and the remote is off for the rest of the run: the
build goes on locally, and what it did not push stays in the push log for the
next one. With ``required`` the problem is a one-line RemoteError, now and at
every later call. ``read_only`` reads records and objects and writes
nothing: no pushes, no leases. A remote that is not configured, or
``--no-remote``, behaves as one that is off, so callers need no special case.

Every method blocks. The executor calls them from worker threads, never on
its event loop; ``wait`` may take minutes (``cache.wait``) and ends early when
``close`` is called, so a worker thread abandoned on Ctrl-C does not linger.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from imagebuild.planning.cache import Cache
from imagebuild.remote.errors import RemoteError, StorageError
from imagebuild.remote.fetch import Stored, Warn, fetch
from imagebuild.remote.lease import Heartbeat, Held, Leases, Recorded, TakenBy
from imagebuild.remote.push import PushQueue, upload
from imagebuild.remote.pushlog import PushLog
from imagebuild.remote.records import BadRecord, Record, decode
from imagebuild.remote.settings import Mode, RemoteSettings, resolve
from imagebuild.remote.store import RECORDS_FOLDER, Store, connect, record_key

T = TypeVar("T")
# From how many fingerprints on ``present`` lists every record instead of
# reading each: a listing costs a request per thousand records in the remote.
LIST_FROM = 256


def open_remote(
    block: Mapping[str, Any],
    cache: Cache,
    mode: Mode,
    *,
    environ: Mapping[str, str] = os.environ,
    warn: Warn | None = None,
) -> RemoteCache:
    """The remote cache of a manifest whose ``cache`` block is ``block``,
    used through the local ``cache``. Imports fsspec only when a remote is
    configured and enabled."""
    settings = resolve(block, environ) if mode.enabled else None
    return RemoteCache(settings, cache, mode, warn or _to_stderr)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class RemoteCache:
    def __init__(
        self,
        settings: RemoteSettings | None,
        cache: Cache,
        mode: Mode,
        warn: Warn,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.mode = mode
        self._warn = warn
        self._lock = threading.Lock()
        self._off = False
        self._error: RemoteError | None = None
        self._stopping = threading.Event()
        self._store: Store | None = None
        if settings is None:
            return
        try:
            self._store = store = connect(settings)
        except StorageError as error:
            self._failed(error)
            return
        holder = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
        self._leases = Leases(store, holder, settings.lease, clock)
        self._heartbeat = Heartbeat(self._leases, self._failed_in_background, warn)
        self._queue = PushQueue(
            store,
            cache,
            PushLog(cache.directory, settings.url),
            batch=settings.concurrency,
            warn=warn,
            usable=lambda: not self._off,
            failed=self._failed_in_background,
            pushed=self._release_all,
        )

    @property
    def url(self) -> str | None:
        return self.settings.url if self.settings is not None else None

    @property
    def enabled(self) -> bool:
        """Configured, opened and not switched off by a failure."""
        return self._store is not None and not self._off

    def records(self, fingerprints: Iterable[str]) -> dict[str, Record]:
        """The remote's records of these fingerprints, read at once; missing
        ones are absent, and so are damaged ones (with a warning each)."""
        wanted = list(dict.fromkeys(fingerprints))
        return self._attempt(lambda store: self._read_records(store, wanted), {})

    def present(self, fingerprints: Iterable[str]) -> set[str]:
        """Which of these fingerprints have a record, without reading them: a
        listing of every record when there are many (a fresh clone restoring
        a campaign), a read of each when there are few."""
        wanted = list(dict.fromkeys(fingerprints))
        if len(wanted) < LIST_FROM:
            return set(self.records(wanted))

        def listed(store: Store) -> set[str]:
            names = store.every_name(RECORDS_FOLDER)
            return {fp for fp in wanted if f"{fp}.json" in names}

        return self._attempt(listed, set())

    def fetch(
        self,
        records: Mapping[str, Record],
        stored: Stored | None = None,
        stopped: Callable[[], bool] | None = None,
    ) -> set[str]:
        """Bring the objects of ``records`` into the local cache, verified, and
        file the records in its index; the fingerprints that are complete
        there now. A damaged object is a miss and a warning naming it. Each
        object is handed to ``stored`` as it lands (see
        :func:`imagebuild.remote.fetch.fetch`, and ``stopped`` there)."""
        return self._attempt(
            lambda store: fetch(store, records, self.cache, self._warn, stored, stopped), set()
        )

    def lease(self, fingerprint: str) -> Held | TakenBy | Recorded:
        """Claim the right to generate ``fingerprint``: Held (go ahead; the
        lease is renewed until the record is pushed or ``release``), TakenBy
        (another build is generating it: ``wait``), or Recorded (its record
        arrived meanwhile: restore it)."""
        if not self._writes():
            return Held(fingerprint)

        def claim(store: Store) -> Held | TakenBy | Recorded:
            claimed = self._leases.claim(fingerprint)
            if isinstance(claimed, TakenBy):
                return claimed
            record = self._read_records(store, [fingerprint]).get(fingerprint)
            if record is not None:
                self._leases.release([claimed])
                return Recorded(record)
            self._heartbeat.hold(claimed)
            return claimed

        unclaimed: Held | TakenBy | Recorded = Held(fingerprint)
        return self._attempt(claim, unclaimed)

    def wait(self, fingerprint: str) -> Held | Recorded:
        """After TakenBy: the record once it arrives, or the lease once its
        holder let it expire. Raises LeaseWaitError after ``cache.wait``
        seconds of a live lease, or when the remote is closed."""
        if not self._writes() or self.settings is None:
            return Held(fingerprint)
        limit = self.settings.wait

        def waiting(store: Store) -> Held | Recorded:
            outcome = self._leases.wait(
                fingerprint,
                lambda fp: self._read_records(store, [fp]).get(fp),
                limit,
                self._stopping,
            )
            if isinstance(outcome, Held):
                self._heartbeat.hold(outcome)
            return outcome

        unclaimed: Held | Recorded = Held(fingerprint)
        return self._attempt(waiting, unclaimed)

    def release(self, fingerprint: str) -> None:
        """Let a lease go without a record (the generation failed), so that a
        waiting build takes over at once instead of at its expiry."""
        if self._store is not None and not self.mode.read_only:
            self._attempt(lambda store: self._release_all([fingerprint]), None)

    def forget(self, fingerprint: str) -> None:
        """Delete the record of ``fingerprint``, whose objects failed
        verification, so that the result generated again takes its place:
        records are never overwritten, and a damaged one would make every
        clone pay again. Only a record proven damaged is ever removed."""
        if self._writes():
            self._attempt(lambda store: store.delete([record_key(fingerprint)]), None)

    def push(self, fingerprint: str, record: Record) -> None:
        """Queue a result recorded in the local cache; returns at once. Logged
        first, so a push this run cannot make is made by the next."""
        if self._store is not None and not self.mode.read_only:
            self._queue.put(fingerprint, record)

    def resume_pushes(self) -> int:
        """Queue what earlier builds logged but did not push; how many."""
        if self._store is None or self.mode.read_only:
            return 0
        return self._queue.resume()

    def upload(self, records: Mapping[str, Record]) -> dict[str, str]:
        """Push now and wait: ``pushed``, ``present`` or ``unavailable`` per
        fingerprint (see :func:`imagebuild.remote.push.upload`)."""
        if self.mode.read_only:
            return {}
        return self._attempt(lambda store: upload(store, self.cache, records, self._warn), {})

    def flush(self, stalled: float | None = None) -> int:
        """Wait for the queued pushes while they make progress; give up after
        ``stalled`` seconds (default ``cache.timeout``) without any. The number
        left, which the next build pushes."""
        if self._store is None or self.mode.read_only or self.settings is None:
            return 0
        limit = self.settings.timeout if stalled is None else stalled
        left = self._queue.flush(limit)
        while left and not self._off:
            still = self._queue.flush(limit)
            if still == left:
                break
            left = still
        self._usable()
        if left and not self._off:
            self._warn(f"warning: remote cache {self.url}: {left} pushes left for the next build")
        return left

    def close(self) -> None:
        """End waits and heartbeats, let the leases still held go, stop the
        push thread (what it has not pushed stays logged)."""
        self._stopping.set()
        if self._store is None:
            return
        if not self.mode.read_only:
            self._heartbeat.stop()
            self._queue.close()
            if not self._off:
                self._attempt(lambda store: self._release_all(list(self._heartbeat.held)), None)
        self._store.close()

    def _writes(self) -> bool:
        return self._usable() is not None and not self.mode.read_only

    def _release_all(self, fingerprints: list[str]) -> None:
        self._leases.release(self._heartbeat.drop(fingerprints))

    def _read_records(self, store: Store, fingerprints: list[str]) -> dict[str, Record]:
        data = store.read(record_key(fp) for fp in fingerprints)
        found = {}
        for fingerprint in fingerprints:
            key = record_key(fingerprint)
            if key not in data:
                continue
            try:
                found[fingerprint] = decode(fingerprint, data[key])
            except BadRecord as problem:
                self._warn(f"warning: remote cache {store.url}: record {key} {problem}; not used")
        return found

    def _attempt(self, action: Callable[[Store], T], fallback: T) -> T:
        store = self._usable()
        if store is None:
            return fallback
        try:
            return action(store)
        except StorageError as error:
            self._failed(error)
            return fallback

    def _usable(self) -> Store | None:
        """The store while the remote is on; raises a required remote's failure."""
        if self._error is not None and self.mode.required:
            raise self._error
        return None if self._off else self._store

    def _failed(self, error: StorageError) -> None:
        self._failed_in_background(error)
        if self.mode.required:
            raise error

    def _failed_in_background(self, error: StorageError) -> None:
        """Off from now on; one warning, unless required (then the next call raises)."""
        with self._lock:
            first = self._error is None
            self._off = True
            self._error = self._error or error
        if first and not self.mode.required:
            self._warn(f"warning: {error}; going on without the remote cache")
