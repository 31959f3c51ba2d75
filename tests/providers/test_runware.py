"""The Runware client: request building and answer parsing on their own, then
the whole protocol against the emulator over real sockets."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from imagebuild.emulators import Faults, RunwareEmulator, serve
from imagebuild.emulators.faults import API_FAULTS, DOWNLOAD_FAULTS
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
from imagebuild.providers.runware import (
    INLINE_LIMIT,
    ResultSet,
    RunwareProvider,
    api_image,
    classify,
    data_uri,
    image_source,
    inference_task,
    split_replies,
)
from imagebuild.providers.settings import PollSchedule, RetryPolicy
from tests.providers.conftest import FAST_POLL, FAST_RETRY

KEY = "rw-test-key-7f3a9c1e5b"
MODEL = "runware:101@1"


class Journal:
    """Records submissions, and what the server had billed at that moment."""

    def __init__(self, emulator: RunwareEmulator | None = None) -> None:
        self.emulator = emulator
        self.submitted_ids: list[str] = []
        self.billed_when_journaled: list[int] = []

    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None:
        assert provider == "runware"
        self.submitted_ids.append(task_id)
        if self.emulator is not None:
            self.billed_when_journaled.append(self.emulator.stats.billed)


def make_task(staging: Path, index: int = 0, **fields: Any) -> GenerationTask:
    inputs = fields.pop("inputs", {})
    request = {
        "model": MODEL,
        "positivePrompt": f"a lighthouse in a storm, number {index}",
        "width": 128,
        "height": 128,
        "outputFormat": "PNG",
        **fields,
    }
    return GenerationTask(
        target=f"target-{index}",
        fingerprint=f"{index:064x}",
        request=request,
        inputs=inputs,
        output_format="PNG",
        count=int(request.get("numberResults", 1)),
        staging_dir=staging,
    )


def provider_for(url: str, key: str = KEY, **changes: Any) -> RunwareProvider:
    provider = RunwareProvider.from_settings({}, {"RUNWARE_API_KEY": key, "RUNWARE_API_URL": url})
    # URL delivery unless a test says otherwise: most tests here exercise downloads.
    changes = {"poll": FAST_POLL, "retry": FAST_RETRY, "output_type": "URL", **changes}
    return RunwareProvider(key, dataclasses.replace(provider.settings, **changes))


@contextmanager
def emulated(**options: Any) -> Iterator[tuple[RunwareEmulator, str]]:
    emulator = RunwareEmulator(api_key=KEY, **options)
    with serve(emulator) as base:
        yield emulator, f"{base}/v1"


def seed_faulting_first(kind: str, applicable: frozenset[str] = API_FAULTS) -> int:
    """A fault seed whose first draw is a fault: the first request surely suffers it."""
    return next(
        seed
        for seed in range(1000)
        if Faults(fail_rate=0.5, kinds=(kind,), seed=seed).draw(applicable) is not None
    )


async def generate_all(
    provider: RunwareProvider, tasks: list[GenerationTask], journal: Journal
) -> list[Generation | Exception]:
    """Run tasks concurrently, as the executor does; each outcome kept apart."""
    outcomes: list[Generation | Exception] = [Exception("not run")] * len(tasks)

    async def one(index: int) -> None:
        try:
            outcomes[index] = await provider.generate(tasks[index], journal)
        except ProviderError as error:
            outcomes[index] = error

    async with anyio.create_task_group() as group:
        for index in range(len(tasks)):
            group.start_soon(one, index)
    return outcomes


def pixels(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def noise_png(path: Path, side: int = 200) -> Path:
    """An incompressible PNG, so it is larger than the inline limit."""
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, "PNG")
    assert path.stat().st_size > INLINE_LIMIT
    return path


# -- pure parts ------------------------------------------------------------------------


def test_inference_task_puts_managed_fields_last() -> None:
    task = inference_task("u-1", {"model": MODEL, "outputType": "base64Data"}, "URL")
    assert task == {
        "taskType": "imageInference",
        "taskUUID": "u-1",
        "model": MODEL,
        "deliveryMethod": "async",
        "includeCost": True,
        "outputType": "URL",
    }


def test_replies_are_split_per_task() -> None:
    reply = Reply(
        400,
        {
            "data": [{"taskType": "imageInference", "taskUUID": "a"}],
            "errors": [
                {"code": "invalidParameter", "parameter": "width", "taskUUID": "b"},
                {"code": "rateLimitExceeded", "message": "slow down"},
            ],
        },
    )
    first, second, third = split_replies(reply, ["a", "b", "c"])
    assert first.items == [{"taskType": "imageInference", "taskUUID": "a"}]
    assert first.errors == []
    assert [error["code"] for error in second.errors] == ["invalidParameter"]
    assert [error["code"] for error in third.errors] == ["rateLimitExceeded"]


def test_older_answer_shapes_are_accepted() -> None:
    (singular,) = split_replies(Reply(402, {"error": {"code": "insufficientCredits"}}), ["a"])
    assert singular.errors == [{"code": "insufficientCredits"}]
    (bare,) = split_replies(Reply(200, [{"type": "imageInference", "taskUUID": "a"}]), ["a"])
    assert bare.items == [{"type": "imageInference", "taskUUID": "a"}]
    (html,) = split_replies(Reply(401, None), ["a"])
    assert isinstance(classify(html.errors[0], 401), AuthenticationError)


def test_error_codes_beat_the_shared_http_status() -> None:
    sibling = {"code": "invalidParameter", "parameter": "width", "message": "width: 100"}
    error = classify(sibling, 402)
    assert isinstance(error, InvalidRequestError)
    assert error.parameter == "width"
    assert str(error) == "invalid parameter width: width: 100"
    assert isinstance(classify({"code": "insufficientCredits"}, 400), InsufficientCreditsError)
    refused = classify({"code": "invalidApiKey", "message": f"bad key {KEY}"}, 401)
    assert str(refused) == "Runware rejected the API key (RUNWARE_API_KEY)"
    assert isinstance(
        classify({"code": "taskNotFound", "parameter": "taskUUID"}, 400), TaskNotFoundError
    )
    assert isinstance(classify({"code": "timeoutProvider"}, 200), TransientError)


def test_results_are_deduplicated_and_ordered() -> None:
    results = ResultSet(3)
    results.add(
        [
            {"resultIndex": 1, "imageUUID": "b", "imageURL": "u"},
            {"resultIndex": 0, "imageUUID": "a", "imageURL": "u"},
        ]
    )
    results.add([{"resultIndex": 1, "imageUUID": "b", "imageURL": "u"}, {"status": "processing"}])
    assert (results.complete, len(results.ordered())) == (False, 2)
    results.add([{"resultIndex": 2, "imageUUID": "c", "imageURL": "u"}])
    assert [item["imageUUID"] for item in results.ordered()] == ["a", "b", "c"]
    assert results.complete
    redelivered = ResultSet(2)
    redelivered.add([{"resultIndex": 0, "imageUUID": u, "imageURL": "u"} for u in ("p", "q")])
    assert (redelivered.complete, len(redelivered.ordered())) == (False, 1)
    by_uuid = ResultSet(2)
    by_uuid.add([{"imageUUID": x, "imageBase64Data": "aGk="} for x in ("x", "x", "y")])
    assert [item["imageUUID"] for item in by_uuid.ordered()] == ["x", "y"]


def test_image_sources() -> None:
    inline = image_source({"imageBase64Data": "aGk=", "imageUUID": "u", "seed": 5, "cost": 0.03})
    assert (inline.data, inline.url, inline.seed, inline.cost) == (b"hi", None, 5, 0.03)
    assert image_source({"imageDataURI": "data:image/png;base64,aGk="}).data == b"hi"
    remote = image_source({"imageURL": "http://x/i.png"})
    assert (remote.url, remote.data, remote.cost) == ("http://x/i.png", None, None)


def test_inputs_inline_as_data_uris() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
    assert data_uri(png, ("seedImage",)).startswith("data:image/png;base64,")
    with pytest.raises(InvalidRequestError, match=r"controlNet\.0\.guideImage") as caught:
        data_uri(b"not an image", ("controlNet", 0, "guideImage"))
    assert caught.value.parameter == "controlNet.0.guideImage"


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_bmp_inputs_become_png_with_the_same_pixels() -> None:
    original = Image.frombytes("RGB", (24, 16), os.urandom(24 * 16 * 3))
    converted = api_image(encoded(original, "BMP"), ("seedImage",))
    assert data_uri(converted, ("seedImage",)).startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(converted)) as image:
        assert (image.format, image.size) == ("PNG", (24, 16))
        assert image.convert("RGB").tobytes() == original.tobytes()


def test_gif_inputs_become_the_png_of_their_first_frame_transparency_kept() -> None:
    clear, green = Image.new("RGBA", (8, 8), (255, 0, 0, 0)), Image.new("RGBA", (8, 8), "green")
    gif = encoded(clear, "GIF", save_all=True, append_images=[green], transparency=0)
    with Image.open(io.BytesIO(api_image(gif, ("referenceImages", 0)))) as image:
        assert image.format == "PNG"
        assert getattr(image, "n_frames", 1) == 1
        assert image.convert("RGBA").getpixel((3, 3)) == (255, 0, 0, 0)


def test_formats_the_api_takes_are_sent_as_they_are() -> None:
    square = Image.new("RGB", (8, 8), "blue")
    for fmt in ("PNG", "JPEG", "WEBP"):
        data = encoded(square, fmt)
        assert api_image(data, ("seedImage",)) is data


def test_a_broken_bmp_names_its_field() -> None:
    with pytest.raises(InvalidRequestError, match=r"controlNet\.0\.guideImage") as caught:
        api_image(b"BM but not a bitmap", ("controlNet", 0, "guideImage"))
    assert caught.value.parameter == "controlNet.0.guideImage"


def test_from_settings() -> None:
    with pytest.raises(AuthenticationError, match="RUNWARE_API_KEY is not set"):
        RunwareProvider.from_settings({}, {})
    provider = RunwareProvider.from_settings(
        {"url": "http://manifest/v1", "batchSize": "8"}, {"RUNWARE_API_KEY": KEY}
    )
    assert provider.settings.url == "http://manifest/v1"
    assert provider.settings.batch_size == 8
    assert KEY not in repr(provider)
    default = RunwareProvider.from_settings({}, {"RUNWARE_API_KEY": KEY})
    assert default.settings.url == "https://api.runware.ai/v1"


# -- against the emulator -----------------------------------------------------------------


@pytest.mark.anyio
async def test_batched_async_generation(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.2)) as (emulator, url):
        provider = provider_for(url)
        journal = Journal(emulator)
        tasks = [make_task(tmp_path, index) for index in range(12)]
        outcomes = await generate_all(provider, tasks, journal)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    generations = [outcome for outcome in outcomes if isinstance(outcome, Generation)]
    assert len(generations) == 12
    assert sorted(journal.submitted_ids) == sorted(g.task_id for g in generations if g.task_id)
    assert journal.billed_when_journaled[0] == 0
    assert stats["billed"] == 12
    assert stats["requests"] == provider.http_requests
    assert provider.http_requests < provider.tasks_sent / 3
    for generation in generations:
        (image,) = generation.images
        assert image.staged is not None
        assert image.staged.parent == tmp_path
        assert pixels(image.read()) == (128, 128)
        assert image.cost is not None
        assert image.image_uuid
    assert provider.downloads == 12


@pytest.mark.anyio
async def test_tasks_sent_together_are_polled_together(tmp_path: Path) -> None:
    # Twelve tasks started at once: one request submits them, and their first
    # polls, due at the same moment, share one request that collects them all.
    with emulated(faults=Faults(latency=0.2)) as (emulator, url):
        provider = provider_for(url, poll=PollSchedule(first=0.4), output_type="base64Data")
        tasks = [make_task(tmp_path, index) for index in range(12)]
        outcomes = await generate_all(provider, tasks, Journal(emulator))
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert all(isinstance(outcome, Generation) for outcome in outcomes)
    assert (stats["requests"], provider.tasks_sent) == (2, 24)


@pytest.mark.anyio
async def test_auto_delivery_inlines_small_images_and_downloads_large_ones(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.05)) as (_, url):
        provider = provider_for(url, output_type="auto")
        small = make_task(tmp_path, 1)
        large = dataclasses.replace(small, request={**small.request, "width": 1152, "height": 1024})
        outcomes = await generate_all(provider, [small, large], Journal(None))
        await provider.aclose()
    first, second = outcomes
    assert isinstance(first, Generation) and isinstance(second, Generation)
    assert first.images[0].data is not None and first.images[0].staged is None
    assert second.images[0].staged is not None
    assert pixels(second.images[0].read()) == (1152, 1024)
    assert provider.downloads == 1


@pytest.mark.anyio
async def test_number_results_collects_every_result(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.1)) as (emulator, url):
        provider = provider_for(url)
        (generation,) = await generate_all(
            provider, [make_task(tmp_path, numberResults=3, seed=41)], Journal()
        )
        await provider.aclose()
        billed = emulator.stats.billed
    assert isinstance(generation, Generation)
    assert [image.seed for image in generation.images] == [41, 42, 43]
    assert len({image.image_uuid for image in generation.images}) == 3
    assert len({image.read() for image in generation.images}) == 3
    assert generation.cost is not None
    assert billed == 3


@pytest.mark.anyio
@pytest.mark.parametrize("output_type", ["base64Data", "dataURI"])
async def test_inline_outputs_need_no_download(tmp_path: Path, output_type: str) -> None:
    with emulated() as (emulator, url):
        provider = provider_for(url, output_type=output_type)
        (generation,) = await generate_all(provider, [make_task(tmp_path)], Journal())
        await provider.aclose()
        downloads = emulator.stats.downloads
    assert isinstance(generation, Generation)
    (image,) = generation.images
    assert image.data is not None
    assert image.staged is None
    assert pixels(image.data) == (128, 128)
    assert downloads == 0


@pytest.mark.anyio
async def test_one_upload_per_input_content(tmp_path: Path) -> None:
    large = noise_png(tmp_path / "large.png")
    copy = tmp_path / "copy.png"
    copy.write_bytes(large.read_bytes())
    small = tmp_path / "small.png"
    Image.new("RGB", (128, 128), "red").save(small, "PNG")
    tasks = [
        make_task(tmp_path, 0, seedImage="large.png", inputs={("seedImage",): large}),
        make_task(tmp_path, 1, seedImage="copy.png", inputs={("seedImage",): copy}),
        make_task(tmp_path, 2, seedImage="small.png", inputs={("seedImage",): small}),
    ]
    with emulated() as (emulator, url):
        provider = provider_for(url)
        outcomes = await generate_all(provider, tasks, Journal())
        await provider.aclose()
        uploads = emulator.stats.uploads
    assert all(isinstance(outcome, Generation) for outcome in outcomes), outcomes
    assert uploads == 1
    assert tasks[0].request["seedImage"] == "large.png"


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", ["BMP", "GIF"])
async def test_bmp_and_gif_inputs_reach_the_api_as_png(tmp_path: Path, fmt: str) -> None:
    # The API (and so its emulator) takes PNG, JPG and WEBP inline; planning hashes the file.
    path = tmp_path / f"seed.{fmt.lower()}"
    Image.new("RGB", (64, 64), "blue").save(path, fmt)
    task = make_task(tmp_path, 0, seedImage=path.name, inputs={("seedImage",): path})
    with emulated() as (emulator, url):
        provider = provider_for(url)
        (outcome,) = await generate_all(provider, [task], Journal())
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert isinstance(outcome, Generation), outcome
    assert (stats["billed"], stats["uploads"]) == (1, 0)
    assert task.request["seedImage"] == path.name


@pytest.mark.anyio
async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    faults = Faults(fail_rate=0.5, kinds=("429",), retry_after=0.2, seed=seed_faulting_first("429"))
    with emulated(faults=faults) as (emulator, url):
        provider = provider_for(url)
        started = anyio.current_time()
        (generation,) = await generate_all(provider, [make_task(tmp_path)], Journal())
        elapsed = anyio.current_time() - started
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert isinstance(generation, Generation)
    refused = stats["faults"]["429"]
    assert refused >= 1
    assert elapsed >= 0.2 * refused
    assert stats["billed"] == 1


@pytest.mark.anyio
async def test_server_errors_are_retried(tmp_path: Path) -> None:
    # Seed 3 spreads its faults out: no task can meet more of them than it has retries.
    with emulated(faults=Faults(fail_rate=0.3, kinds=("500", "503"), seed=3)) as (emulator, url):
        provider = provider_for(url)
        tasks = [make_task(tmp_path, index) for index in range(8)]
        outcomes = await generate_all(provider, tasks, Journal())
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert all(isinstance(outcome, Generation) for outcome in outcomes), outcomes
    assert sum(stats["faults"].values()) >= 1
    assert stats["billed"] == 8


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["drop", "malformed"])
async def test_a_lost_answer_is_collected_not_paid_twice(tmp_path: Path, kind: str) -> None:
    faults = Faults(fail_rate=0.5, kinds=(kind,), seed=seed_faulting_first(kind))
    with emulated(faults=faults) as (emulator, url):
        provider = provider_for(url)
        journal = Journal()
        (generation,) = await generate_all(provider, [make_task(tmp_path)], journal)
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert isinstance(generation, Generation), generation
    assert stats["faults"][kind] >= 1
    assert stats["billed"] == 1
    assert journal.submitted_ids == [generation.task_id]


@pytest.mark.anyio
async def test_truncated_downloads_are_retried(tmp_path: Path) -> None:
    seed = seed_faulting_first("truncate", DOWNLOAD_FAULTS)
    with emulated(faults=Faults(fail_rate=0.5, kinds=("truncate",), seed=seed)) as (emulator, url):
        provider = provider_for(url)
        tasks = [make_task(tmp_path, index) for index in range(4)]
        outcomes = await generate_all(provider, tasks, Journal())
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert stats["faults"]["truncate"] >= 1
    for outcome in outcomes:
        assert isinstance(outcome, Generation), outcome
        assert pixels(outcome.images[0].read()) == (128, 128)
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


@pytest.mark.anyio
async def test_an_invalid_task_does_not_fail_its_batch_sibling(tmp_path: Path) -> None:
    with emulated() as (emulator, url):
        provider = provider_for(url)
        tasks = [make_task(tmp_path, 0, width=100), make_task(tmp_path, 1)]
        invalid, valid = await generate_all(provider, tasks, Journal())
        await provider.aclose()
        stats = emulator.stats.snapshot()
    assert isinstance(invalid, InvalidRequestError)
    assert invalid.parameter == "width"
    assert str(invalid).startswith("invalid parameter width: ")
    assert isinstance(valid, Generation)
    assert stats["tasks"] == stats["requests"] + 1, "both tasks travelled in one request"


@pytest.mark.anyio
async def test_a_refused_key(tmp_path: Path) -> None:
    with emulated() as (_, url):
        provider = provider_for(url, key="wrong-key-0123456789")
        (outcome,) = await generate_all(provider, [make_task(tmp_path)], Journal())
        await provider.aclose()
    assert isinstance(outcome, AuthenticationError)
    assert str(outcome) == "Runware rejected the API key (RUNWARE_API_KEY)"


@pytest.mark.anyio
async def test_no_credits(tmp_path: Path) -> None:
    with emulated(credits=0.0) as (emulator, url):
        provider = provider_for(url)
        (outcome,) = await generate_all(provider, [make_task(tmp_path)], Journal())
        await provider.aclose()
        billed = emulator.stats.billed
    assert isinstance(outcome, InsufficientCreditsError)
    assert billed == 0


@pytest.mark.anyio
async def test_the_key_is_in_no_error_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    scenarios: list[dict[str, Any]] = [
        {"api_key": "another-key"},
        {"credits": 0.0},
        {"faults": Faults(fail_rate=1.0, kinds=("429",), retry_after=0.01)},
        {"faults": Faults(fail_rate=1.0, kinds=("500", "503"))},
        {"faults": Faults(fail_rate=1.0, kinds=("drop",))},
        {"faults": Faults(fail_rate=1.0, kinds=("malformed",))},
        {"faults": Faults(fail_rate=1.0, kinds=("truncate",))},
    ]
    retry = RetryPolicy(retries=2, base=0.01, cap=0.05)
    for options in scenarios:
        emulator = RunwareEmulator(**{"api_key": KEY, **options})
        with serve(emulator) as base:
            provider = provider_for(f"{base}/v1", retry=retry)
            tasks = [make_task(tmp_path, 0), make_task(tmp_path, 1, width=100)]
            texts += [
                describe(outcome) for outcome in await generate_all(provider, tasks, Journal())
            ]
            texts.append(repr(provider))
            await provider.aclose()
    closed = provider_for("http://127.0.0.1:9/v1", retry=retry)
    texts += [
        describe(outcome)
        for outcome in await generate_all(closed, [make_task(tmp_path)], Journal())
    ]
    await closed.aclose()
    assert all(KEY not in text for text in texts)
    assert KEY not in caplog.text


def describe(outcome: Any) -> str:
    """Everything a user or a log could see of an outcome, causes included."""
    parts = [str(outcome), repr(outcome)]
    cause = getattr(outcome, "__cause__", None) or getattr(outcome, "__context__", None)
    while cause is not None:
        parts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


@pytest.mark.anyio
async def test_resume_collects_what_an_interrupted_build_paid_for(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=0.5)) as (emulator, url):
        first = provider_for(url)
        journal = Journal()
        with anyio.move_on_after(0.2):
            await first.generate(make_task(tmp_path), journal)
        await first.aclose()
        (task_uuid,) = journal.submitted_ids
        second = provider_for(url)
        generation = await second.resume(make_task(tmp_path), task_uuid)
        await second.aclose()
        billed = emulator.stats.billed
    assert generation.task_id == task_uuid
    assert len(generation.images) == 1
    assert billed == 1


@pytest.mark.anyio
async def test_resume_sends_a_task_that_never_left(tmp_path: Path) -> None:
    task_uuid = "0f0e0d0c-0b0a-4908-8706-050403020100"
    with emulated() as (emulator, url):
        provider = provider_for(url)
        generation = await provider.resume(make_task(tmp_path), task_uuid)
        await provider.aclose()
        billed = emulator.stats.billed
    assert generation.task_id == task_uuid
    assert billed == 1


@pytest.mark.anyio
async def test_the_overall_deadline(tmp_path: Path) -> None:
    with emulated(faults=Faults(latency=5.0)) as (_, url):
        provider = provider_for(url, timeout=0.3)
        (outcome,) = await generate_all(provider, [make_task(tmp_path)], Journal())
        await provider.aclose()
    assert isinstance(outcome, TransientError)
    assert "no result within 0.3 s" in str(outcome)
