"""Run a plan's steps concurrently: restore from the cache, or generate.

Each finished target is recorded at once (outputs written atomically, cache,
journal), inside a shielded scope so that an interrupt never leaves a paid
result half-recorded. Without --keep-going a failure stops new steps from
starting while the running ones finish, as make does: they are already paid.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread

from imagebuild.errors import (
    ImageBuildError,
    InvalidRequestError,
    LostSubmissionError,
    TaskNotFoundError,
)
from imagebuild.execution.journal import Journal
from imagebuild.planning.cache import Cache
from imagebuild.planning.files import atomic_write, hash_file
from imagebuild.planning.fingerprint import digest_bytes
from imagebuild.planning.lock import Entry, LockFile
from imagebuild.planning.plan import Action, Planner, Step
from imagebuild.planning.statcache import StatCache
from imagebuild.providers.base import GeneratedImage, Generation, GenerationTask, Provider
from imagebuild.targets import Reference, Target


@dataclass(slots=True)
class Outcome:
    step: Step
    status: str
    cost: float | None = None
    error: str | None = None
    seconds: float = 0.0
    parameter: str | None = None
    # The provider may run and bill a submission whose answer was lost.
    lost: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.step.name,
            "action": str(self.step.action),
            "status": self.status,
            "cost": self.cost,
            "error": self.error,
        }


class Progress(Protocol):
    def start(self, steps: list[Step]) -> None: ...

    def began(self, step: Step) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class Store:
    """Where results go: the manifest's folder, the cache, the journal, the lock."""

    root: Path
    lock: LockFile
    stats: StatCache
    cache: Cache
    journal: Journal
    staging: Path


# Recording is a few small file writes per image. Run in anyio's default pool
# (40 threads) the writers fight the event loop for the GIL; two threads keep
# up with hundreds of images a second (1,000 images at -j 256 against the
# Runware emulator: 5.0 s instead of 5.4 s).
RECORDING_THREADS = 2
# Event loops take signal handlers only on Unix; elsewhere Ctrl-C is polled.
POSIX_SIGNALS = sys.platform != "win32"
CONSOLE_INTERRUPT_TICK = 0.1


class Executor:
    """Runs steps as soon as their upstream targets are done, independent
    branches in parallel, at most ``jobs`` at a time."""

    def __init__(
        self,
        store: Store,
        providers: dict[str, Provider],
        progress: Progress,
        planner: Planner,
        *,
        jobs: int,
        keep_going: bool,
        resumable: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.resumable = resumable or {}
        self.providers = providers
        self.progress = progress
        self.planner = planner
        self.jobs = jobs
        self.keep_going = keep_going
        self.stopping = False
        self.interrupted = False
        self.outcomes: dict[str, Outcome] = {}
        self.targets: dict[str, Target] = {}
        self.known: dict[str, list[str] | None] = {}
        self.done: dict[str, anyio.Event] = {}
        self._recorders = anyio.CapacityLimiter(RECORDING_THREADS)

    async def run(self, steps: list[Step]) -> list[Outcome]:
        work = [step for step in steps if step.action is not Action.KEEP]
        self.targets = {step.name: step.target for step in steps}
        self.known = {
            step.name: step.output_digests(self.store.lock.get(step.name)) for step in steps
        }
        self.done = {step.name: anyio.Event() for step in work}
        self.progress.start(work)
        limiter = anyio.CapacityLimiter(max(1, self.jobs))
        try:
            async with anyio.create_task_group() as watcher:
                watcher.start_soon(self._watch_interrupts, watcher.cancel_scope)
                async with anyio.create_task_group() as runner:
                    self._runner = runner.cancel_scope
                    for step in work:
                        runner.start_soon(self._run, step, limiter)
                watcher.cancel_scope.cancel()
        finally:
            self.progress.close()
        for step in work:
            if step.name not in self.outcomes:
                self.outcomes[step.name] = Outcome(step, "skipped", error="interrupted")
        return [self.outcomes[step.name] for step in work]

    async def _watch_interrupts(self, scope: anyio.CancelScope) -> None:
        if POSIX_SIGNALS:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    self._interrupt()
        else:
            await self._watch_console_interrupts()

    async def _watch_console_interrupts(self) -> None:
        """Windows has no signal handlers in event loops: a plain handler notes
        Ctrl-C (it runs between bytecodes, and this loop wakes every tick to
        give it the chance) and the loop here acts on it."""
        received: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
        try:
            while True:
                await anyio.sleep(CONSOLE_INTERRUPT_TICK)
                if received:
                    received.clear()
                    self._interrupt()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _interrupt(self) -> None:
        self.interrupted = True
        self.stopping = True
        self._runner.cancel()

    async def _run(self, step: Step, limiter: anyio.CapacityLimiter) -> None:
        try:
            for upstream in step.target.upstreams:
                if upstream in self.done:
                    await self.done[upstream].wait()
            outcome = await self._attempt(step, limiter)
            self.outcomes[step.name] = outcome
            if outcome.status == "ok":
                entry = self.store.lock.get(step.name)
                self.known[step.name] = [o["sha256"] for o in entry["outputs"]] if entry else None
            self.progress.finished(outcome)
        finally:
            self.done[step.name].set()

    async def _attempt(self, step: Step, limiter: anyio.CapacityLimiter) -> Outcome:
        failed = [
            name
            for name in step.target.upstreams
            if name in self.outcomes and self.outcomes[name].status != "ok"
        ]
        if failed:
            status = self.outcomes[failed[0]].status
            return Outcome(step, "skipped", error=f"upstream {failed[0]} {status}")
        started = time.monotonic()
        try:
            async with limiter:
                if self.stopping:
                    return Outcome(step, "skipped", error="build stopped after a failure")
                started = time.monotonic()
                if step.deferred:
                    # The upstream's bytes exist now: decide again. Identical
                    # bytes give the old fingerprint, and the target is kept.
                    step = self.planner.step(step.target, self.known)
                self.progress.began(step)
                made = await self._make(step)
            # Recorded after the slot is given back: the next step's request
            # need not wait for this one's files. Leaving the limiter does not
            # yield, so no cancellation lands before the recording's shield.
            outcome = Outcome(step, "ok", cost=await self._record_made(step, made))
        except (ImageBuildError, OSError) as error:
            outcome = Outcome(step, "failed", error=str(error) or type(error).__name__)
            if isinstance(error, InvalidRequestError):
                outcome.parameter = error.parameter
            outcome.lost = isinstance(error, LostSubmissionError)
            if not self.keep_going:
                self.stopping = True
        outcome.seconds = time.monotonic() - started
        return outcome

    async def _make(self, step: Step) -> Generation | None:
        """The step's work that needs a slot: new images, or a restore."""
        if step.action is Action.KEEP:
            return None
        if step.action is Action.RESTORE:
            await self._restore(step)
            return None
        if step.action is Action.DERIVE:
            return await self._derive(step)
        return await self._generate(step)

    async def _record_made(self, step: Step, made: Generation | None) -> float | None:
        """Record new images (shielded: they may be paid for); the step's cost."""
        if made is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    self._record_generation, step, made, limiter=self._recorders
                )
        if step.action is Action.GENERATE:
            return made.cost if made is not None else None
        return None if step.action is Action.KEEP else 0.0

    def _upstream_file(self, reference: Reference) -> Path:
        upstream = self.targets[reference.target]
        return self.store.root / upstream.outputs[reference.index - 1]

    async def _derive(self, step: Step) -> Generation:
        from imagebuild.derive import TransformError, apply_transforms

        target = step.target
        layers = {
            (int(path[1]), "image"): (self.store.root / relative).read_bytes()
            for path, relative in target.inputs.items()
            if path[-1] == "image"
        }
        for path, reference in target.references.items():
            if path[0] == "transform":
                layers[(int(path[1]), "image")] = self._upstream_file(reference).read_bytes()
        source = self._upstream_file(target.references[("from",)]).read_bytes()

        def transform() -> bytes:
            return apply_transforms(
                source,
                step.request["transform"],
                default_format=target.output_format,
                layers=layers,
                fonts_dir=self.store.root,
            )

        try:
            data = await anyio.to_thread.run_sync(transform)
        except TransformError as error:
            # Located at the target's transform list; the message names the step.
            where = f"transform step {error.step + 1}: " if error.step is not None else ""
            raise InvalidRequestError(f"{where}{error}", "transform") from None
        return Generation([GeneratedImage(data=data)])

    async def _generate(self, step: Step) -> Generation:
        target = step.target
        provider = self.providers[target.provider]
        task = GenerationTask(
            target=target.name,
            fingerprint=step.fingerprint,
            request=step.request,
            inputs={
                **{path: self.store.root / relative for path, relative in target.inputs.items()},
                **{path: self._upstream_file(ref) for path, ref in target.references.items()},
            },
            output_format=target.output_format,
            count=len(target.outputs),
            staging_dir=self.store.staging,
        )
        generation = await self._submit_or_resume(provider, task)
        if len(generation.images) != len(target.outputs):
            raise ImageBuildError(
                f"target {target.name}: expected {len(target.outputs)} images, "
                f"got {len(generation.images)}"
            )
        return generation

    async def _submit_or_resume(self, provider: Provider, task: GenerationTask) -> Generation:
        """A task an interrupted build already paid for is collected, not bought again."""
        task_id = self.resumable.pop(task.fingerprint, None)
        if task_id is not None:
            try:
                return await provider.resume(task, task_id)
            except TaskNotFoundError:
                pass
        return await provider.generate(task, _SeedJournal(self.store.journal, task.request))

    def _record_generation(self, step: Step, generation: Generation) -> None:
        outputs = []
        for path, image in zip(step.target.outputs, generation.images, strict=True):
            destination = self.store.root / path
            if image.data is not None:
                digest = digest_bytes(image.data)
                self.store.cache.store(digest, image.data)
                stat = atomic_write(destination, image.data)
            else:
                assert image.staged is not None
                digest = hash_file(image.staged)
                self.store.cache.store_file(digest, image.staged)
                destination.parent.mkdir(parents=True, exist_ok=True)
                image.staged.replace(destination)
                stat = destination.stat()
            self.store.stats.remember(path, digest, stat)
            output: dict[str, Any] = {"sha256": digest, "size": stat.st_size}
            if image.image_uuid:
                output["imageUUID"] = image.image_uuid
            outputs.append(output)
        record: dict[str, Any] = {"outputs": outputs, "builtAt": _now()}
        seed = step.request.get("seed", generation.images[0].seed)
        for key, value in (
            ("seed", seed),
            ("taskUUID", generation.task_id),
            ("cost", generation.cost),
        ):
            if value is not None:
                record[key] = value
        self.store.cache.record(step.fingerprint, record)
        self._record(step, record)

    async def _restore(self, step: Step) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._restore_files, step)

    def _restore_files(self, step: Step) -> None:
        assert step.cached is not None
        for path, output in zip(step.target.outputs, step.cached["outputs"], strict=True):
            self.store.cache.restore(output["sha256"], self.store.root / path)
            self.store.stats.remember(path, output["sha256"])
        self._record(step, step.cached)

    def _record(self, step: Step, record: dict[str, Any]) -> None:
        entry = lock_entry(step, record)
        self.store.journal.built(step.name, entry)
        self.store.lock.put(step.name, entry)


class _SeedJournal:
    """Journals a submission with the seed it carries: a rebuild after a crash
    must plan the same seed to recognise the paid task as its own."""

    def __init__(self, journal: Journal, request: dict[str, Any]) -> None:
        self.journal = journal
        self.seed = request.get("seed") if isinstance(request.get("seed"), int) else None

    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None:
        self.journal.submitted(target, fingerprint, provider, task_id, self.seed)


def lock_entry(step: Step, record: dict[str, Any]) -> Entry:
    """A lock entry: the cache record plus what ties it to this target."""
    entry: Entry = {key: value for key, value in record.items() if key != "outputs"}
    entry["outputs"] = [
        {"path": path, **output}
        for path, output in zip(step.target.outputs, record["outputs"], strict=True)
    ]
    entry.update(
        fingerprint=step.fingerprint,
        provider=step.target.provider,
        request=step.request,
        schema=step.target.model.digest,
    )
    if step.input_digests:
        entry["inputs"] = step.input_digests
    return entry


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
