"""The RunComfy emulator over real sockets: the queue, billing at start, cancel, errors."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from PIL import Image

from imagebuild.emulators import Faults, RunComfyEmulator, serve

TOKEN = "rc-secret-token-0123456789"
MODEL = "imagineart/imagineart-1.5-preview/text-to-image"
Start = Callable[..., tuple[RunComfyEmulator, str]]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[RunComfyEmulator, str]]:
    emulator = RunComfyEmulator(token=TOKEN)
    with serve(emulator) as url:
        yield emulator, url


@pytest.fixture
def start(shared: tuple[RunComfyEmulator, str]) -> Iterator[Start]:
    """An emulator for one test: the module's, reset, when the defaults do; else a new one,
    stopped when the test ends (stopping a server takes a fifth of a second)."""
    with ExitStack() as stack:

        def _start(**options: Any) -> tuple[RunComfyEmulator, str]:
            if not options:
                httpx.post(f"{shared[1]}/_emulator/reset").raise_for_status()
                return shared
            emulator = RunComfyEmulator(token=TOKEN, **options)
            return emulator, stack.enter_context(serve(emulator))

        yield _start


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        yield client


def submit(client: httpx.Client, url: str, **inputs: Any) -> dict[str, Any]:
    response = client.post(f"{url}/v1/models/{MODEL}", json={"prompt": "a cat", **inputs})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(client: httpx.Client, status_url: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(status_url).json()
        if status["status"] == wanted:
            return status
        time.sleep(0.01)
    raise AssertionError(f"never {wanted}")


def image_at(client: httpx.Client, url: str) -> Image.Image:
    download = client.get(url)
    assert download.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(download.content))
    image.load()
    return image


def test_submit_status_result_flow(start: Start, client: httpx.Client) -> None:
    emulator, url = start(faults=Faults(latency=0.3), queue_seconds=0.1)
    submitted = submit(client, url, aspect_ratio="16:9", seed=5)
    request_id = submitted["request_id"]
    root = f"{url}/v1/requests/{request_id}"
    assert submitted == {
        "request_id": request_id,
        "status_url": f"{root}/status",
        "result_url": f"{root}/result",
        "cancel_url": f"{root}/cancel",
    }
    queued = client.get(submitted["status_url"]).json()
    assert queued["status"] == "in_queue" and queued["queue_position"] == 0
    assert queued["result_url"] == submitted["result_url"]
    pending = client.get(submitted["result_url"]).json()
    assert pending["status"] == "in_queue" and pending["finished_at"] is None
    assert "output" not in pending
    assert emulator.stats.billed == 0
    running = wait_for(client, submitted["status_url"], "in_progress")
    assert "queue_position" not in running
    assert emulator.stats.billed == 1  # charged when it starts
    wait_for(client, submitted["status_url"], "completed")
    result = client.get(submitted["result_url"]).json()
    assert result["status"] == "succeeded"
    assert result["created_at"] < result["finished_at"]
    image = image_at(client, result["output"]["image"])
    assert (image.format, image.size) == ("PNG", (1344, 768))
    stats = emulator.stats.snapshot()
    assert (stats["tasks"], stats["billed"], stats["billed_cost"]) == (1, 1, 0.03)


def test_cancelling_a_queued_request_is_not_billed(start: Start, client: httpx.Client) -> None:
    emulator, url = start(faults=Faults(latency=0.1), queue_seconds=0.5)
    submitted = submit(client, url)
    response = client.post(submitted["cancel_url"])
    assert response.status_code == 202
    assert response.json() == {
        "request_id": submitted["request_id"],
        "status": "cancelled",
        "outcome": "cancelled",
    }
    time.sleep(0.6)
    assert client.get(submitted["status_url"]).json()["status"] == "cancelled"
    result = client.get(submitted["result_url"]).json()
    assert result["status"] == "cancelled" and result["finished_at"] is not None
    assert (emulator.stats.billed, emulator.stats.cancelled) == (0, 1)


def test_a_running_request_is_not_cancellable(start: Start, client: httpx.Client) -> None:
    emulator, url = start(faults=Faults(latency=0.5), queue_seconds=0.0)
    submitted = submit(client, url)
    wait_for(client, submitted["status_url"], "in_progress")
    response = client.post(submitted["cancel_url"])
    assert response.status_code == 202
    assert response.json()["outcome"] == "not_cancellable"
    assert response.json()["status"] == "in_progress"
    assert (emulator.stats.billed, emulator.stats.cancelled) == (1, 0)


def test_queue_positions_follow_submission_order(start: Start, client: httpx.Client) -> None:
    _, url = start(queue_seconds=1.0)
    submitted = [submit(client, url) for _ in range(3)]
    client.post(submitted[0]["cancel_url"])
    positions = [client.get(item["status_url"]).json()["queue_position"] for item in submitted[1:]]
    assert positions == [0, 1]


def test_seed_and_its_schema_default_decide_the_image(start: Start, client: httpx.Client) -> None:
    _, url = start()
    results = []
    for inputs in ({}, {"seed": 0}, {"seed": 1}):
        submitted = submit(client, url, **inputs)
        wait_for(client, submitted["status_url"], "completed")
        output = client.get(submitted["result_url"]).json()["output"]
        results.append(client.get(output["image"]).content)
    assert results[0] == results[1] != results[2]
    assert Image.open(io.BytesIO(results[0])).size == (1024, 1024)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/models/nobody/no-model", {"prompt": "x"}, 404, 404001),
        ("POST", f"/v1/models/{MODEL}", {"prompt": "x", "aspect_ratio": "5:4"}, 400, 400001),
        ("POST", f"/v1/models/{MODEL}", {"aspect_ratio": "1:1"}, 400, 400001),
        ("POST", f"/v1/models/{MODEL}", {"prompt": "x", "steps": 4}, 400, 400001),
        ("GET", "/v1/requests/0a0b1bd1-867f-49d2-a6c2-0008ba5931cc/status", None, 404, 404001),
        ("GET", "/v1/requests/0a0b1bd1-867f-49d2-a6c2-0008ba5931cc/result", None, 404, 404001),
        ("POST", "/v1/requests/0a0b1bd1-867f-49d2-a6c2-0008ba5931cc/cancel", None, 404, 404001),
        ("GET", f"/v1/models/{MODEL}", None, 405, 405001),
    ],
)
def test_errors(
    start: Start,
    client: httpx.Client,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: int,
) -> None:
    emulator, url = start()
    response = client.request(method, f"{url}{path}", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert emulator.stats.billed == 0


def test_invalid_input_names_the_field(start: Start, client: httpx.Client) -> None:
    _, url = start()
    response = client.post(f"{url}/v1/models/{MODEL}", json={"prompt": "x", "aspect_ratio": "5:4"})
    assert "aspect_ratio" in response.json()["error"]["message"]
    missing = client.post(f"{url}/v1/models/{MODEL}", json={"seed": 3})
    assert "prompt" in missing.json()["error"]["message"]


def test_a_bad_token_is_refused_and_never_echoed(start: Start) -> None:
    emulator, url = start()
    wrong = "rc-wrong-token-9876543210"
    for headers in ({"Authorization": f"Bearer {wrong}"}, {}):
        response = httpx.post(f"{url}/v1/models/{MODEL}", json={"prompt": "x"}, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == 403001
        assert wrong not in response.text and TOKEN not in response.text
    assert emulator.stats.tasks == 0


def test_the_token_never_appears_in_any_answer(start: Start, client: httpx.Client) -> None:
    _, url = start()
    submitted = submit(client, url)
    wait_for(client, submitted["status_url"], "completed")
    answers = [
        client.get(submitted["status_url"]).text,
        client.get(submitted["result_url"]).text,
        client.post(submitted["cancel_url"]).text,
        client.get(f"{url}/_emulator/stats").text,
    ]
    assert all(TOKEN not in answer for answer in answers)


def test_reset_forgets_requests(start: Start, client: httpx.Client) -> None:
    emulator, url = start(queue_seconds=1.0)
    submitted = submit(client, url)
    client.post(f"{url}/_emulator/reset")
    assert client.get(submitted["status_url"]).status_code == 404
    time.sleep(0.05)
    assert emulator.stats.snapshot()["requests"] == 1
    assert emulator.stats.billed == 0
