"""Run a plan's steps concurrently: restore from the cache, or generate.

Each finished target is recorded at once (outputs written atomically, cache,
journal), inside a shielded scope so that an interrupt never leaves a paid
result half-recorded. Without --keep-going a failure stops new steps from
starting while the running ones finish, as make does: they are already paid.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread

from imagebuild.confinement import Confinement
from imagebuild.errors import (
    AuthenticationError,
    ImageBuildError,
    InsufficientCreditsError,
    InvalidRequestError,
    LostSubmissionError,
    ProviderError,
    TaskNotFoundError,
)
from imagebuild.execution.journal import Journal
from imagebuild.execution.placement import Placement
from imagebuild.imageformat import HEADER_BYTES, sniff_format
from imagebuild.planning.cache import Cache
from imagebuild.planning.files import atomic_write, hash_file
from imagebuild.planning.fingerprint import digest_bytes
from imagebuild.planning.lock import Entry, LockFile
from imagebuild.planning.plan import Action, Planner, Step, content_digests
from imagebuild.planning.shared import is_paid, is_shared
from imagebuild.planning.statcache import StatCache
from imagebuild.provenance.stamp import origin_of, stamp
from imagebuild.providers.base import GeneratedImage, Generation, GenerationTask, Provider
from imagebuild.targets import Reference, Target

if TYPE_CHECKING:
    from imagebuild.execution.sharing import Sharing


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
    # A failed step whose submission the provider accepted: it may be billed,
    # and stays journaled for the next build to collect.
    owed: bool = False
    # Images the provider's content check flagged.
    nsfw: int = 0
    # The build whose lease the step waited on, when another machine made it.
    waited_for: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.step.name,
            "action": str(self.step.action),
            "status": self.status,
            "cost": self.cost,
            "error": self.error,
            "owed": self.owed,
            "nsfw": self.nsfw,
            "waitedFor": self.waited_for,
        }


class Providers(Protocol):
    def __getitem__(self, name: str) -> Provider: ...


class Progress(Protocol):
    def start(self, steps: list[Step]) -> None: ...

    def waiting(self, step: Step, holder: str) -> None:
        """Another build holds the step's lease: it waits for that result."""

    def began(self, step: Step) -> None:
        """The step took one of the ``-j`` slots."""

    def released(self, step: Step) -> None:
        """The step gave its slot back; its results are being recorded."""

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
    # The manifest file, which every output's provenance names.
    manifest: Path | None = None


# Recording is a few small file writes per image. Run in anyio's default pool
# (40 threads) the writers fight the event loop for the GIL; two threads keep
# up with hundreds of images a second (1,000 images at -j 256 against the
# Runware emulator: 5.0 s instead of 5.4 s).
RECORDING_THREADS = 2
# Restores whose outputs together are smaller are copied on the event loop.
INLINE_RESTORE_BYTES = 2 * 1024 * 1024
# Answers that prove the provider did not run a submission, so it costs nothing
# and nothing is left to collect.
REFUSALS = (InvalidRequestError, AuthenticationError, InsufficientCreditsError)
# Event loops take signal handlers only on Unix; elsewhere Ctrl-C is polled.
POSIX_SIGNALS = sys.platform != "win32"
CONSOLE_INTERRUPT_TICK = 0.1


class Executor:
    """Runs steps as soon as their upstream targets are done, independent
    branches in parallel, at most ``jobs`` at a time."""

    def __init__(
        self,
        store: Store,
        providers: Providers,
        progress: Progress,
        planner: Planner,
        *,
        jobs: int,
        keep_going: bool,
        resumable: dict[str, str] | None = None,
        sharing: Sharing | None = None,
        budget: float | None = None,
    ) -> None:
        self.store = store
        self.sharing = sharing
        # What --max-cost leaves for generations the plan did not price: a
        # remote copy that fails verification is bought only within it.
        self.budget = budget
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
        # Per planned remote restore: set once its objects are in the local cache.
        self._arrived: dict[str, anyio.Event] = {}
        self._placement = Placement((), self._destination, lambda step: None)
        self._confinement = Confinement(store.root)

    async def run(self, steps: list[Step]) -> list[Outcome]:
        work = [step for step in steps if step.action is not Action.KEEP]
        self.targets = {step.name: step.target for step in steps}
        self.known = {
            step.name: step.output_digests(self.store.lock.get(step.name)) for step in steps
        }
        self.done = {step.name: anyio.Event() for step in work}
        self.progress.start(work)
        limiter = anyio.CapacityLimiter(max(1, self.jobs))
        fetching = [step for step in work if self._from_remote(step)]
        self._arrived = {step.name: anyio.Event() for step in fetching}
        try:
            async with anyio.create_task_group() as watcher:
                watcher.start_soon(self._watch_interrupts, watcher.cancel_scope)
                async with anyio.create_task_group() as runner:
                    self._runner = runner.cancel_scope
                    if fetching:
                        runner.start_soon(self._prefetch, fetching)
                    for step in work:
                        runner.start_soon(self._run, step, limiter)
                watcher.cancel_scope.cancel()
        finally:
            self.progress.close()
        for step in work:
            if step.name not in self.outcomes:
                owed = self.store.journal.owes(step.fingerprint)
                self.outcomes[step.name] = Outcome(step, "skipped", error="interrupted", owed=owed)
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
                self.known[step.name] = content_digests(entry["outputs"]) if entry else None
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
        waited = None
        try:
            if self._halted():
                return Outcome(step, "skipped", error="build stopped after a failure")
            if step.deferred:
                # The upstream's bytes exist now: decide again. Identical
                # bytes give the old fingerprint, and the target is kept.
                step = self.planner.step(step.target, self.known)
                if step.fingerprint in self.resumable:
                    step.collect(self.resumable[step.fingerprint])
            waited = await self._claim(step)
            if step.action is Action.RESTORE and step.name in self._arrived:
                await self._arrived[step.name].wait()
            async with limiter:
                # Asked again: a failure elsewhere may have come while this
                # step waited for a slot or another build.
                if self._halted():
                    return Outcome(step, "skipped", error="build stopped after a failure")
                started = time.monotonic()
                self.progress.began(step)
                try:
                    made = await self._make(step)
                finally:
                    self.progress.released(step)
            # Recorded after the slot is given back: the next step's request
            # need not wait for this one's files. Leaving the limiter does not
            # yield, so no cancellation lands before the recording's shield.
            outcome = Outcome(step, "ok", cost=await self._record_made(step, made))
            if made is not None:
                outcome.nsfw = sum(image.nsfw for image in made.images)
        except (ImageBuildError, OSError) as error:
            outcome = Outcome(step, "failed", error=str(error) or type(error).__name__)
            if isinstance(error, InvalidRequestError):
                outcome.parameter = error.parameter
            outcome.lost = isinstance(error, LostSubmissionError)
            outcome.owed = self.store.journal.owes(step.fingerprint)
            if self.sharing is not None:
                await self.sharing.release(step)
            if not self.keep_going:
                self.stopping = True
        outcome.waited_for = waited
        outcome.seconds = time.monotonic() - started
        return outcome

    def _halted(self) -> bool:
        return self.stopping

    def _from_remote(self, step: Step) -> bool:
        """A restore whose objects only the remote cache holds."""
        return (
            self.sharing is not None
            and step.action is Action.RESTORE
            and self.store.cache.lookup(step.fingerprint) is None
        )

    async def _prefetch(self, steps: list[Step]) -> None:
        """Every planned remote restore's objects in one stream, as many at once
        as the remote cache's concurrency allows, not ``-j``, each written to
        its outputs as it lands (see :mod:`imagebuild.execution.placement`);
        its steps then only record (1,000 restores from S3: about 10% faster
        than copying from the local cache in chunks). A step whose object
        did not come, or could not be written, restores on its own, which
        knows what to do instead. A build that stops stops the stream."""
        assert self.sharing is not None
        loop = asyncio.get_running_loop()

        def landed(step: Step) -> None:
            loop.call_soon_threadsafe(self._arrived[step.name].set)

        self._placement = Placement(steps, self._destination, landed)
        try:
            await anyio.to_thread.run_sync(
                self.sharing.prefetch, steps, self._placement.stored, self._halted
            )
        except OSError:
            # The local disk failed under the stream; each step's own restore
            # meets the error again and reports it in its outcome.
            pass
        finally:
            for step in steps:
                self._arrived[step.name].set()

    async def _claim(self, step: Step) -> str | None:
        """Before paying for a step, a lease on it in the remote cache (a paid
        task being collected needs none); the build waited for, if any."""
        if self.sharing is None or not is_paid(step) or step.fingerprint in self.resumable:
            return None
        return await self.sharing.claim(step)

    async def _make(self, step: Step) -> Generation | None:
        """The step's work that needs a slot: new images, or a restore."""
        if step.action is Action.KEEP:
            return None
        if step.action is Action.RESTORE:
            if await self._restore(step):
                return None
            self._generate_instead(step)
            if self.sharing is not None:
                await self.sharing.forget(step)
            await self._claim(step)
            if step.action is Action.RESTORE:  # another build made it meanwhile
                if not await self._restore(step):
                    raise ImageBuildError("the remote cache's copies failed verification twice")
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
            # What the provider reports wins; the registry's price otherwise.
            reported = made.cost if made is not None else None
            return reported if reported is not None else step.estimated_cost
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
                self.store.journal.refused(task_id)
        journal = _SeedJournal(self.store.journal, task.request)
        try:
            return await provider.generate(task, journal)
        except REFUSALS:
            # Refused outright: nothing ran, nothing is owed.
            for refused in journal.task_ids:
                self.store.journal.refused(refused)
            raise

    def _record_generation(self, step: Step, generation: Generation) -> None:
        """Stamped with their origin, into the cache first, record and all, then
        into place: a result that cannot be written where the manifest says (a
        full disk, a folder made a symlink) is still paid for and kept, and the
        next build restores it."""
        source = (
            self._upstream_file(step.target.references[("from",)]) if step.target.derived else None
        )
        stamped = [
            stamp(
                delivered,
                origin_of(
                    step,
                    index,
                    delivered,
                    task_id=generation.task_id,
                    manifest=self.store.manifest,
                    source=source,
                ),
            )
            for index, delivered in enumerate(
                (in_format(made, step.target.output_format) for made in generation.images),
                start=1,
            )
        ]
        images = [item.image for item in stamped]
        digests = [self._store_object(image) for image in images]
        request_seed = step.request.get("seed")
        outputs = []
        for item, digest in zip(stamped, digests, strict=True):
            image = item.image
            size = len(image.data) if image.data is not None else _staged(image).stat().st_size
            output: dict[str, Any] = {"sha256": digest, "size": size}
            for key, value in (
                ("content", item.content if item.content != digest else None),
                ("imageUUID", image.image_uuid),
                ("seed", image.seed if image.seed is not None else request_seed),
                ("nsfw", image.nsfw or None),
            ):
                if value is not None:
                    output[key] = value
            outputs.append(output)
        record: dict[str, Any] = {"outputs": outputs, "builtAt": _now()}
        seed = request_seed if request_seed is not None else generation.images[0].seed
        for key, value in (
            ("seed", seed),
            ("taskUUID", generation.task_id),
            ("cost", generation.cost),
        ):
            if value is not None:
                record[key] = value
        self.store.cache.record(step.fingerprint, record)
        if self.sharing is not None and is_shared(step):
            self.sharing.push(step.fingerprint, record)
        for path, image, digest in zip(step.target.outputs, images, digests, strict=True):
            destination = self._destination(path)
            if image.data is not None:
                stat = atomic_write(destination, image.data)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                _staged(image).replace(destination)
                stat = destination.stat()
            self.store.stats.remember(path, digest, stat)
        self._record(step, record)

    def _store_object(self, image: GeneratedImage) -> str:
        if image.data is not None:
            digest = digest_bytes(image.data)
            self.store.cache.store(digest, image.data)
        else:
            digest = hash_file(_staged(image))
            self.store.cache.store_file(digest, _staged(image))
        return digest

    async def _restore(self, step: Step) -> bool:
        """Restore the step's outputs; False when they come from the remote
        cache and its copy did not survive verification."""
        local = (
            self.sharing is None
            or self._placement.wrote(step)
            or self.store.cache.lookup(step.fingerprint) is not None
        )
        if local and self._small(step):
            # A few small local files copy faster than a worker thread takes
            # the job and hands it back, and the event loop waits at most a
            # few milliseconds (1,000 restores of 27 KB: 1.1 s instead of 1.5 s).
            return self._restore_files(step, local)
        with anyio.CancelScope(shield=True):
            restored: bool = await anyio.to_thread.run_sync(self._restore_files, step, local)
        return restored

    def _small(self, step: Step) -> bool:
        """Whether the step's outputs are known to be small together."""
        assert step.cached is not None
        size: int = sum(
            output.get("size", INLINE_RESTORE_BYTES) for output in step.cached["outputs"]
        )
        return size < INLINE_RESTORE_BYTES

    def _generate_instead(self, step: Step) -> None:
        """A remote copy that failed verification is bought again, if
        --max-cost leaves room for it; the plan did not count it."""
        cost = self.planner.estimate(step.target, Action.GENERATE)
        if self.budget is not None and (cost is None or cost > self.budget):
            raise ImageBuildError(
                "the remote cache's copy failed verification, and generating it again"
                " would exceed --max-cost"
            )
        if self.budget is not None and cost is not None:
            self.budget -= cost
        step.action, step.cached, step.estimated_cost = Action.GENERATE, None, cost
        step.reasons.append("the remote cache's copy failed verification")

    def _restore_files(self, step: Step, local: bool) -> bool:
        """Copy the step's outputs from the local cache into place; unless
        ``local`` (the local cache has them), the remote's copies come first."""
        assert step.cached is not None
        if not local:
            assert self.sharing is not None
            if not self.sharing.fetch(step):
                return False
        for path, output in zip(step.target.outputs, step.cached["outputs"], strict=True):
            stat = self._placement.stat_of(path, output["sha256"])
            if stat is None:
                self.store.cache.restore(output["sha256"], self._destination(path))
            self.store.stats.remember(path, output["sha256"], stat)
        self._record(step, step.cached)
        return True

    def _destination(self, path: str) -> Path:
        """Where an output goes, checked again as it is written: a folder made a
        symlink since planning must not lead a write outside the manifest's folder."""
        if not self._confinement.writable(path):
            raise ImageBuildError(f"output {path} now leads outside the manifest folder")
        return self.store.root / path

    def _record(self, step: Step, record: dict[str, Any]) -> None:
        entry = lock_entry(step, record)
        previous = self.store.lock.get(step.name)
        if previous is not None and _same_result(previous, entry):
            # The same bytes again (a --force of a deterministic model): the
            # entry stays as it was, and the lock's diff stays empty.
            entry = previous
        self.store.journal.built(step.name, entry)
        self.store.lock.put(step.name, entry)


class _SeedJournal:
    """Journals a submission with the seed it carries: a rebuild after a crash
    must plan the same seed to recognise the paid task as its own."""

    def __init__(self, journal: Journal, request: dict[str, Any]) -> None:
        self.journal = journal
        self.seed = request.get("seed") if isinstance(request.get("seed"), int) else None
        self.task_ids: list[str] = []

    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None:
        self.task_ids.append(task_id)
        self.journal.submitted(target, fingerprint, provider, task_id, self.seed)


def in_format(image: GeneratedImage, output_format: str) -> GeneratedImage:
    """The image in the format its output file names: an API that chooses no
    format (RunComfy) may answer in another, which is converted here."""
    if image.data is not None:
        head = image.data[:HEADER_BYTES]
    else:
        assert image.staged is not None
        with image.staged.open("rb") as handle:
            head = handle.read(HEADER_BYTES)
    if sniff_format(head) == output_format:
        return image
    from imagebuild.derive import TransformError, apply_transforms

    try:
        data = apply_transforms(image.read(), [], default_format=output_format)
    except TransformError:
        raise ProviderError("the provider's result is not an image imagebuild can read") from None
    if image.staged is not None:
        image.staged.unlink()
    return replace(image, data=data, staged=None)


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


def _staged(image: GeneratedImage) -> Path:
    assert image.staged is not None
    return image.staged


def _same_result(old: Entry, new: Entry) -> bool:
    return {k: v for k, v in old.items() if k != "builtAt"} == {
        k: v for k, v in new.items() if k != "builtAt"
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
