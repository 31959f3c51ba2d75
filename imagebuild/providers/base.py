"""The provider interface: the executor hands over a task and gets images back.

A provider owns its transport, batching, polling, retries and pacing; the
executor never knows which provider it drives. ``journal.submitted`` must be
called with the task id *before* the request leaves, so that a crash between
paying and receiving can be recovered instead of paid twice.
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


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    image_uuid: str | None = None
    seed: int | None = None
    cost: float | None = None


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

    async def generate(self, task: GenerationTask, journal: TaskJournal) -> Generation: ...

    async def aclose(self) -> None: ...
