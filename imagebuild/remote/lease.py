"""Leases: before paying for a fingerprint, a build says so in the remote.

A lease is a create-only file ``leases/<fp>/<n>.json`` holding its holder
and expiry. The newest generation ``n`` is the lease in force. Taking over an
expired one, and renewing one's own, are the same act: creating ``n + 1``.
Creation is exclusive, so of two machines racing for a dead holder's
fingerprint only one wins, and a holder too late to renew learns that its
lease was taken over instead of overwriting it. Nothing is ever rewritten.

Expiries are wall-clock times of the holder's machine: clocks that disagree
by more than a lease's life can make a waiter take over a live lease, which
costs a second generation, never a wrong output.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from imagebuild.providers.settings import PollSchedule
from imagebuild.remote.errors import LeaseWaitError, StorageError
from imagebuild.remote.records import Record
from imagebuild.remote.store import Store, lease_folder, lease_key

_GENERATION = re.compile(r"(\d+)\.json\Z")
# How a waiter looks for the record: soon at first, then every few seconds.
WAITING = PollSchedule(first=0.2, interval=0.3, growth=1.5, longest=5.0)


@dataclass(frozen=True, slots=True)
class Held:
    """Go ahead and generate. ``generation`` is the lease file this build
    holds, or None where it wrote none (read-only, no remote, remote off)."""

    fingerprint: str
    generation: int | None = None


@dataclass(frozen=True, slots=True)
class TakenBy:
    """Another build holds a live lease; ``expires`` is seconds since the epoch."""

    holder: str
    expires: float


@dataclass(frozen=True, slots=True)
class Recorded:
    """The record arrived (from another machine): restore it, pay nothing."""

    record: Record


class Leases:
    def __init__(
        self,
        store: Store,
        holder: str,
        duration: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.holder = holder
        self.duration = duration
        self.clock = clock

    def claim(self, fingerprint: str) -> Held | TakenBy:
        """Take the lease unless a live one stands; an expired one is taken over."""
        for _ in range(3):
            latest = self._latest(fingerprint)
            generation = 0
            if latest is not None:
                generation, holder, expires = latest
                if expires > self.clock():
                    return TakenBy(holder, expires)
                generation += 1
            if self._create(fingerprint, generation):
                return Held(fingerprint, generation)
        # Three creations lost in a row: someone is renewing as we look.
        return TakenBy("another build", self.clock() + self.duration)

    def renew(self, leases: list[Held]) -> dict[str, Held | None]:
        """The next generation of each lease, or None for one that another
        build took over first."""
        following = [Held(held.fingerprint, _generation(held) + 1) for held in leases]
        created = self.store.create({_key(held): self._lease() for held in following})
        renewed = {new.fingerprint: new if created[_key(new)] else None for new in following}
        self.release([old for old in leases if renewed[old.fingerprint] is not None])
        return renewed

    def release(self, leases: list[Held]) -> None:
        self.store.delete(_key(held) for held in leases if held.generation is not None)

    def wait(
        self,
        fingerprint: str,
        recorded: Callable[[str], Record | None],
        limit: float,
        stopping: threading.Event,
        schedule: PollSchedule = WAITING,
    ) -> Held | Recorded:
        """Poll for the record while another build's lease is live; take the
        lease over when it expires without one. At most ``limit`` seconds."""
        deadline = time.monotonic() + limit
        delays = schedule.delays()
        while True:
            record = recorded(fingerprint)
            if record is not None:
                return Recorded(record)
            claim = self.claim(fingerprint)
            if isinstance(claim, Held):
                # The holder may have finished, and let its lease go, just now.
                record = recorded(fingerprint)
                if record is None:
                    return claim
                self.release([claim])
                return Recorded(record)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LeaseWaitError(
                    f"remote cache {self.store.url}: {claim.holder} still holds the lease on "
                    f"{fingerprint[:12]} after {limit:g} s of waiting (cache.wait)"
                )
            until_expiry = max(0.0, claim.expires - self.clock()) + 0.05
            if stopping.wait(min(next(delays), remaining, until_expiry)):
                raise LeaseWaitError(f"stopped waiting for {claim.holder}'s lease")

    def _latest(self, fingerprint: str) -> tuple[int, str, float] | None:
        """The newest lease file: its generation, holder and expiry. One that
        cannot be read counts as expired."""
        generations = [
            int(match.group(1))
            for name in self.store.names(lease_folder(fingerprint))
            if (match := _GENERATION.match(name))
        ]
        if not generations:
            return None
        newest = max(generations)
        key = lease_key(fingerprint, newest)
        try:
            lease = orjson.loads(self.store.read([key])[key])
            return newest, str(lease["holder"]), float(lease["expires"])
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            return newest, "unknown", 0.0

    def _create(self, fingerprint: str, generation: int) -> bool:
        key = lease_key(fingerprint, generation)
        return self.store.create({key: self._lease()})[key]

    def _lease(self) -> bytes:
        return orjson.dumps({"holder": self.holder, "expires": self.clock() + self.duration})


def _generation(held: Held) -> int:
    assert held.generation is not None, "a lease this build wrote"
    return held.generation


def _key(held: Held) -> str:
    return lease_key(held.fingerprint, _generation(held))


class Heartbeat:
    """Renews every lease this build holds, each third of a lease's life, in
    one thread. A lease found taken over is dropped, with one line said."""

    def __init__(
        self,
        leases: Leases,
        failed: Callable[[StorageError], None],
        warn: Callable[[str], None],
    ) -> None:
        self.leases = leases
        self.failed = failed
        self.warn = warn
        self.held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, held: Held) -> None:
        with self._lock:
            self.held[held.fingerprint] = held
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="imagebuild-lease-heartbeat", daemon=True
                )
                self._thread.start()

    def drop(self, fingerprints: list[str]) -> list[Held]:
        """Stop renewing; the leases dropped, for their holder to release."""
        with self._lock:
            return [held for fp in fingerprints if (held := self.held.pop(fp, None)) is not None]

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        while not self._stop.wait(self.leases.duration / 3):
            with self._lock:
                current = list(self.held.values())
            if not current:
                continue
            try:
                renewed = self.leases.renew(current)
                self.leases.release(self._update(renewed))
            except StorageError as error:
                self.failed(error)
                return

    def _update(self, renewed: dict[str, Held | None]) -> list[Held]:
        """Keep the renewed leases; the ones dropped while they were being
        renewed, whose new generation must go too."""
        dropped = []
        with self._lock:
            for fingerprint, lease in renewed.items():
                if lease is None:
                    if self.held.pop(fingerprint, None) is not None:
                        self.warn(
                            f"warning: the lease on {fingerprint[:12]} was taken over by "
                            "another build; this one's result is pushed all the same"
                        )
                elif fingerprint in self.held:
                    self.held[fingerprint] = lease
                else:
                    dropped.append(lease)
        return dropped
