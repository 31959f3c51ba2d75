"""The remote cache as the executor uses it: a claim before paying, a wait for
another machine's result, fetches into the local cache, pushes after.

Two machines building the same new target compute the same fingerprint (the
seed is derived from the request), so a create-only lease on it decides who
pays: the other waits for the record and restores it. Every remote call
blocks, so each runs in a worker thread, and a wait happens outside the ``-j``
slots: a target waiting on another machine holds no slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio.to_thread

from imagebuild.planning.plan import Step

if TYPE_CHECKING:
    from imagebuild.remote.client import RemoteCache
    from imagebuild.remote.fetch import Stored

ANOTHER_BUILD = "in the remote cache: another build generated it meanwhile"


class Waiting(Protocol):
    def waiting(self, step: Step, holder: str) -> None: ...


class Sharing:
    def __init__(self, remote: RemoteCache, progress: Waiting) -> None:
        self.remote = remote
        self.progress = progress
        self._held: set[str] = set()

    async def claim(self, step: Step) -> str | None:
        """Take the lease of a step about to generate, or wait for the build
        holding it; ``step`` becomes a restore when that build's record comes
        instead. The holder waited for, if any."""
        from imagebuild.remote.lease import Held, Recorded, TakenBy

        fingerprint = step.fingerprint
        claim = await anyio.to_thread.run_sync(self.remote.lease, fingerprint)
        waited = None
        if isinstance(claim, TakenBy):
            waited = claim.holder
            self.progress.waiting(step, claim.holder)
            claim = await anyio.to_thread.run_sync(
                self.remote.wait, fingerprint, abandon_on_cancel=True
            )
        if isinstance(claim, Recorded):
            step.restore(claim.record, ANOTHER_BUILD)
        elif isinstance(claim, Held):
            self._held.add(fingerprint)
        return waited

    async def release(self, step: Step) -> None:
        """A generation that failed lets its lease go, so a waiting build takes over."""
        if step.fingerprint in self._held:
            self._held.discard(step.fingerprint)
            await anyio.to_thread.run_sync(self.remote.release, step.fingerprint)

    def prefetch(self, steps: list[Step], stored: Stored, stopped: Callable[[], bool]) -> None:
        """The objects of many restores into the local cache, in one go, each
        handed to ``stored`` as it lands; ``stopped`` ends the stream early."""
        records = {step.fingerprint: step.cached for step in steps if step.cached is not None}
        self.remote.fetch(records, stored, stopped)

    def fetch(self, step: Step) -> bool:
        """Bring a remote record's objects into the local cache, verified. A
        restore planned from the lock's entry reads the remote's own record
        when the entry's objects are not there: another build may have won
        the record with other outputs."""
        assert step.cached is not None
        fingerprint = step.fingerprint
        if fingerprint in self.remote.fetch({fingerprint: step.cached}):
            return True
        record = self.remote.records([fingerprint]).get(fingerprint)
        if record is None or record["outputs"] == step.cached["outputs"]:
            return False
        if fingerprint not in self.remote.fetch({fingerprint: record}):
            return False
        step.cached = record
        return True

    async def forget(self, step: Step) -> None:
        """The remote's record of ``step`` points at damaged objects: drop it."""
        await anyio.to_thread.run_sync(self.remote.forget, step.fingerprint)

    def push(self, fingerprint: str, record: dict[str, Any]) -> None:
        """Queue a paid result for the remote; the push releases its lease."""
        self._held.discard(fingerprint)
        self.remote.push(fingerprint, record)
