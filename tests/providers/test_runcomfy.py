"""The RunComfy client: error mapping on its own, then the queue protocol
against the emulator over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from imagebuild.emulators import Faults, RunComfyEmulator, serve
from imagebuild.emulators.faults import API_FAULTS
from imagebuild.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    ProviderError,
    TaskNotFoundError,
    TransientError,
)
from imagebuild.providers.base import Generation, GenerationTask
from imagebuild.providers.http import Reply
from imagebuild.providers.runcomfy import RunComfyProvider, check_reply, output_urls
from tests.providers.conftest import FAST_POLL, FAST_RETRY

TOKEN = "rc-test-token-5d2e8b0a41"
MODEL = "imagineart/imagineart-1.5-preview/text-to-image"


class Journal:
    def __init__(self) -> None:
        self.submitted_ids: list[str] = []

    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None:
        assert provider == "runcomfy"
        self.submitted_ids.append(task_id)


def make_task(staging: Path, count: int = 1, **fields: Any) -> GenerationTask:
    request = {"model": MODEL, "prompt": "a paper boat on a pond", "aspect_ratio": "1:1", "seed": 3}
    return GenerationTask(
        target="boat",
        fingerprint="0" * 64,
        request={**request, **fields},
        inputs={},
        output_format="PNG",
        count=count,
        staging_dir=staging,
    )


def provider_for(url: str, token: str = TOKEN, **changes: Any) -> RunComfyProvider:
    provider = RunComfyProvider.from_settings(
        {}, {"RUNCOMFY_API_TOKEN": token, "RUNCOMFY_API_URL": url}
    )
    changes = {"poll": FAST_POLL, "retry": FAST_RETRY, **changes}
    return RunComfyProvider(token, dataclasses.replace(provider.settings, **changes))


@contextmanager
def emulated(**options: Any) -> Iterator[tuple[RunComfyEmulator, str]]:
    emulator = RunComfyEmulator(token=TOKEN, **options)
    with serve(emulator) as url:
        yield emulator, url


def seed_faulting_first(kind: str) -> int:
    return next(
        seed
        for seed in range(1000)
        if Faults(fail_rate=0.5, kinds=(kind,), seed=seed).draw(API_FAULTS) is not None
    )


async def outcome_of(
    provider: RunComfyProvider, task: GenerationTask, journal: Journal
) -> Generation | ProviderError:
    try:
        return await provider.generate(task, journal)
    except ProviderError as error:
        return error


# -- pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (403001, 403, AuthenticationError),
        (400002, 400, InsufficientCreditsError),
        (400001, 400, InvalidRequestError),
        (400004, 400, ProviderError),
        ("404001", 404, TaskNotFoundError),
    ],
)
def test_error_codes(code: object, status: int, kind: type[ProviderError]) -> None:
    reply = Reply(status, {"error": {"code": code, "message": f"no; {TOKEN}"}})
    with pytest.raises(kind) as caught:
        check_reply(reply, "req-1")
    assert type(caught.value) is kind


def test_an_unknown_model_names_the_parameter() -> None:
    reply = Reply(404, {"error": {"code": 404001, "message": "model x not found"}})
    with pytest.raises(InvalidRequestError) as caught:
        check_reply(reply)
    assert caught.value.parameter == "model"


def test_output_urls() -> None:
    assert output_urls({"image": "http://x/a.png"}, 1, "r") == ["http://x/a.png"]
    assert output_urls({"images": ["http://x/a", "http://x/b"]}, 2, "r") == [
        "http://x/a",
        "http://x/b",
    ]
    with pytest.raises(ProviderError, match="returned 1 images, expected 2"):
        output_urls({"image": "http://x/a.png"}, 2, "r")


def test_from_settings() -> None:
    with pytest.raises(AuthenticationError, match="RUNCOMFY_API_TOKEN is not set"):
        RunComfyProvider.from_settings({}, {})
    provider = RunComfyProvider.from_settings({}, {"RUNCOMFY_API_TOKEN": TOKEN})
    assert provider.settings.url == "https://model-api.runcomfy.net"
    assert TOKEN not in repr(provider)


# -- against the emulator -----------------------------------------------------------------


@pytest.mark.anyio
async def test_submit_poll_and_download(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.2)) as (emulator, url):
        provider = provider_for(url)
        journal = Journal()
        generation = await provider.generate(make_task(tmp_path), journal)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert journal.submitted_ids == [generation.task_id]
    (image,) = generation.images
    assert image.staged is not None
    with Image.open(io.BytesIO(image.read())) as decoded:
        assert decoded.format == "PNG"
    assert stats["billed"] == 1
    assert provider.http_requests == stats["requests"]


@pytest.mark.anyio
async def test_an_interrupted_build_cancels_its_queued_request(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.1), queue_seconds=5.0) as (emulator, url):
        provider = provider_for(url)
        journal = Journal()
        with anyio.move_on_after(0.3) as scope:
            await provider.generate(make_task(tmp_path), journal)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert scope.cancelled_caught
    assert len(journal.submitted_ids) == 1
    assert stats["cancelled"] == 1
    assert stats["billed"] == 0


class SlowSubmits:
    """The emulator, answering submits only after ``delay`` seconds."""

    def __init__(self, app: RunComfyEmulator, delay: float) -> None:
        self.app = app
        self.delay = delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/models/"):
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


@pytest.mark.anyio
async def test_an_interrupt_during_the_submit_still_journals_and_cancels(tmp_path: Path) -> None:
    emulator = RunComfyEmulator(token=TOKEN, queue_seconds=5.0)
    with serve(SlowSubmits(emulator, delay=0.3)) as url:
        provider = provider_for(url)
        journal = Journal()
        with anyio.move_on_after(0.1) as scope:
            await provider.generate(make_task(tmp_path), journal)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert scope.cancelled_caught
    assert len(journal.submitted_ids) == 1, "the answer was awaited and journaled"
    assert stats["cancelled"] == 1
    assert stats["billed"] == 0
    assert provider.lost_submissions == 0


@pytest.mark.anyio
async def test_a_running_request_is_left_to_finish_and_resumed(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.6), queue_seconds=0.0) as (emulator, url):
        first = provider_for(url)
        journal = Journal()
        with anyio.move_on_after(0.3):
            await first.generate(make_task(tmp_path), journal)
        await first.aclose()
        second = provider_for(url)
        (request_id,) = journal.submitted_ids
        generation = await second.resume(make_task(tmp_path), request_id)
        await second.aclose()
        stats = emulator.stats.snapshot()
    assert generation.task_id == request_id
    assert stats["cancelled"] == 0
    assert stats["billed"] == 1


@pytest.mark.anyio
async def test_a_lost_submit_answer_is_not_repeated(tmp_path: Path) -> None:
    faults = Faults(fail_rate=0.5, kinds=("drop",), seed=seed_faulting_first("drop"))
    with emulated(faults=faults) as (emulator, url):
        provider = provider_for(url)
        journal = Journal()
        outcome = await outcome_of(provider, make_task(tmp_path), journal)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert isinstance(outcome, TransientError)
    assert "may still run and bill" in str(outcome)
    assert provider.lost_submissions == 1
    assert stats["tasks"] == 1, "the submit was sent once"
    assert journal.submitted_ids == []


@pytest.mark.anyio
async def test_refused_submits_are_retried(tmp_path: Path) -> None:
    faults = Faults(fail_rate=0.5, kinds=("429", "503"), retry_after=0.05, seed=3)
    with emulated(faults=faults) as (emulator, url):
        provider = provider_for(url)
        generations = [await provider.generate(make_task(tmp_path), Journal()) for _ in range(3)]
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert len(generations) == 3
    assert sum(stats["faults"].values()) >= 1
    assert stats["billed"] == 3
    assert provider.lost_submissions == 0


@pytest.mark.anyio
async def test_a_server_error_on_submit_is_not_repeated(tmp_path: Path) -> None:
    with emulated(faults=Faults(fail_rate=1.0, kinds=("500",))) as (emulator, url):
        provider = provider_for(url)
        outcome = await outcome_of(provider, make_task(tmp_path), Journal())
        await provider.aclose()
        requests = emulator.stats.requests
    assert isinstance(outcome, TransientError)
    assert "HTTP 500" in str(outcome)
    assert requests == 1


@pytest.mark.anyio
async def test_polls_survive_lost_answers(tmp_path: Path) -> None:
    faults = Faults(latency=0.1, fail_rate=0.3, kinds=("drop", "malformed", "503"), seed=11)
    with emulated(faults=faults) as (emulator, url):
        provider = provider_for(url)
        finished = 0
        for _ in range(4):
            outcome = await outcome_of(provider, make_task(tmp_path), Journal())
            finished += isinstance(outcome, Generation)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert sum(stats["faults"].values()) >= 1
    assert finished + provider.lost_submissions == 4
    assert finished >= 1


@pytest.mark.anyio
async def test_refused_token_and_invalid_input(tmp_path: Path) -> None:
    with emulated() as (_, url):
        refused = provider_for(url, token="wrong-token-42")
        denied = await outcome_of(refused, make_task(tmp_path), Journal())
        await refused.aclose()
        provider = provider_for(url)
        invalid = await outcome_of(provider, make_task(tmp_path, aspect_ratio="5:4"), Journal())
        unknown = await outcome_of(provider, make_task(tmp_path, model="no/such/model"), Journal())
        await provider.aclose()
    assert isinstance(denied, AuthenticationError)
    assert str(denied) == "RunComfy refused the API token (RUNCOMFY_API_TOKEN)"
    assert isinstance(invalid, InvalidRequestError)
    assert "aspect_ratio" in str(invalid)
    assert isinstance(unknown, InvalidRequestError)
    assert unknown.parameter == "model"
    assert all(TOKEN not in str(error) for error in (denied, invalid, unknown))


@pytest.mark.anyio
async def test_an_unknown_request_cannot_be_resumed(tmp_path: Path) -> None:
    with emulated() as (_, url):
        provider = provider_for(url)
        with pytest.raises(ProviderError, match="not found or expired"):
            await provider.resume(make_task(tmp_path), "00000000-0000-4000-8000-000000000000")
        await provider.aclose()


@pytest.mark.anyio
async def test_too_few_images(tmp_path: Path) -> None:
    with emulated() as (_, url):
        provider = provider_for(url)
        outcome = await outcome_of(provider, make_task(tmp_path, count=2), Journal())
        await provider.aclose()
    assert isinstance(outcome, ProviderError)
    assert "returned 1 images, expected 2" in str(outcome)
