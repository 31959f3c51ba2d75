"""The provider interface: the executor hands over a task and gets images back.

A provider owns its transport, batching, polling, retries and pacing; the
executor never knows which provider it drives.

Money rules every provider keeps:
- ``journal.submitted`` is called with the task id *before* the request
  leaves, so a crash between paying and receiving is recovered by
  ``resume`` (collect by task id) instead of paid twice;
- a retried submission reuses its task id;
- a generation that fails raises a ``ProviderError`` subclass naming the
  cause in one line, and never affects sibling tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

RequestPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class GenerationTask:
    target: str
    fingerprint: str
    request: dict[str, Any]
    inputs: dict[RequestPath, Path]
    output_format: str
    count: int
    staging_dir: Path


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One result: in memory (``data``) or streamed to a file under the
    task's staging folder (``staged``), which the executor moves into place."""

    data: bytes | None = None
    staged: Path | None = None
    image_uuid: str | None = None
    seed: int | None = None
    cost: float | None = None
    # The provider's content check flagged it (Runware's NSFWContent).
    nsfw: bool = False

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.staged is not None
        return self.staged.read_bytes()


@dataclass(frozen=True, slots=True)
class Generation:
    images: list[GeneratedImage]
    task_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> float | None:
        costs = [image.cost for image in self.images if image.cost is not None]
        return round(sum(costs), 6) if costs else None


class TaskJournal(Protocol):
    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None: ...


class Provider(Protocol):
    name: str

    async def generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        """Submit and collect. Cancellation (an interrupted build) cancels what
        the provider can still cancel without losing a paid result."""
        ...

    async def resume(self, task: GenerationTask, task_id: str) -> Generation:
        """Collect a task an earlier, interrupted build already submitted."""
        ...

    async def aclose(self) -> None: ...
