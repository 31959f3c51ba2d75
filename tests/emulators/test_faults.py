"""Fault injection: the policy itself, and every kind as an httpx client sees it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imagebuild.emulators import Faults, RunComfyEmulator, RunwareEmulator, serve
from imagebuild.emulators.faults import API_FAULTS, DOWNLOAD_FAULTS, FAULT_KINDS

RUNCOMFY_MODEL = "imagineart/imagineart-1.5-preview/text-to-image"


def inference(**fields: Any) -> dict[str, Any]:
    task = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "runware:101@1",
        "positivePrompt": "a red fox in the snow",
        "width": 128,
        "height": 128,
        "seed": 42,
    }
    return {**task, **fields}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def always(kind: str, **options: Any) -> Faults:
    return Faults(fail_rate=1.0, kinds=(kind,), **options)


def test_a_seeded_policy_draws_the_same_faults() -> None:
    policies = [Faults(fail_rate=0.5, seed=7), Faults(fail_rate=0.5, seed=7)]
    draws = [[faults.draw(API_FAULTS) for _ in range(50)] for faults in policies]
    assert draws[0] == draws[1]
    assert None in draws[0] and {kind for kind in draws[0] if kind} == set(API_FAULTS)


def test_only_applicable_kinds_are_drawn() -> None:
    faults = Faults(fail_rate=1.0, kinds=("truncate", "500"), seed=1)
    assert {faults.draw(API_FAULTS) for _ in range(20)} == {"500"}
    assert {faults.draw(DOWNLOAD_FAULTS) for _ in range(20)} == {"truncate"}
    assert Faults(fail_rate=1.0, kinds=("truncate",)).draw(API_FAULTS) is None
    assert Faults(fail_rate=0.0).draw(API_FAULTS) is None


@pytest.mark.parametrize(
    "options",
    [{"kinds": ("404",)}, {"fail_rate": 1.5}, {"fail_rate": -0.1}, {"latency": -1.0}],
)
def test_invalid_policies_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(**options)


def test_every_kind_is_known() -> None:
    assert set(FAULT_KINDS) == API_FAULTS | DOWNLOAD_FAULTS


def test_429_carries_retry_after_and_bills_nothing(client: httpx.Client) -> None:
    emulator = RunwareEmulator(faults=always("429", retry_after=0.25))
    with serve(emulator) as url:
        response = client.post(f"{url}/v1", json=[inference()])
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.25"
    [error] = response.json()["errors"]
    assert error["code"] == "rateLimitExceeded"
    assert (emulator.stats.billed, emulator.stats.tasks) == (0, 0)
    assert emulator.stats.faults == {"429": 1}


@pytest.mark.parametrize(
    ("kind", "code"), [("500", "internalServerError"), ("503", "serviceUnavailable")]
)
def test_server_errors_bill_nothing(client: httpx.Client, kind: str, code: str) -> None:
    emulator = RunwareEmulator(faults=always(kind))
    with serve(emulator) as url:
        response = client.post(f"{url}/v1", json=[inference()])
    assert response.status_code == int(kind)
    assert response.json()["errors"][0]["code"] == code
    assert emulator.stats.billed == 0


def test_a_dropped_answer_was_billed_and_is_collected_by_task_uuid(client: httpx.Client) -> None:
    emulator = RunwareEmulator(faults=always("drop", latency=0.1))
    task = inference(deliveryMethod="async")
    with serve(emulator) as url:
        with pytest.raises(httpx.TransportError):
            client.post(f"{url}/v1", json=[task])
        assert emulator.stats.billed == 1
        emulator.faults = Faults()
        retried = client.post(f"{url}/v1", json=[task]).json()
        assert retried["errors"][0]["code"] == "conflictTaskUUID"
        time.sleep(0.15)
        poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
        [item] = client.post(f"{url}/v1", json=poll).json()["data"]
        assert item["status"] == "success"
        assert client.get(item["imageURL"]).status_code == 200
    assert emulator.stats.billed == 1
    assert emulator.stats.faults == {"drop": 1}


def test_a_dropped_sync_answer_is_collected_too(client: httpx.Client) -> None:
    emulator = RunwareEmulator(faults=always("drop"))
    task = inference()
    with serve(emulator) as url:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(f"{url}/v1", json=[task])
        emulator.faults = Faults()
        poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
        assert client.post(f"{url}/v1", json=poll).json()["data"][0]["status"] == "success"


def test_a_malformed_answer_is_not_json_but_the_task_ran(client: httpx.Client) -> None:
    emulator = RunwareEmulator(faults=always("malformed"))
    with serve(emulator) as url:
        response = client.post(f"{url}/v1", json=[inference()])
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert emulator.stats.billed == 1


def test_a_truncated_download_is_detected(client: httpx.Client) -> None:
    emulator = RunwareEmulator(faults=always("truncate"))
    with serve(emulator) as url:
        [item] = client.post(f"{url}/v1", json=[inference()]).json()["data"]
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(item["imageURL"])
        emulator.faults = Faults()
        assert client.get(item["imageURL"]).status_code == 200
    assert emulator.stats.faults == {"truncate": 1}


def test_stats_and_downloads_are_not_api_requests(client: httpx.Client) -> None:
    emulator = RunwareEmulator(faults=always("500"))
    with serve(emulator) as url:
        assert client.get(f"{url}/_emulator/stats").status_code == 200
    assert emulator.stats.requests == 0 and emulator.stats.faults == {}


def test_runcomfy_faults_use_its_error_shape(client: httpx.Client) -> None:
    emulator = RunComfyEmulator(faults=always("429", retry_after=2))
    with serve(emulator) as url:
        response = client.post(f"{url}/v1/models/{RUNCOMFY_MODEL}", json={"prompt": "a cat"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == {
        "error": {"code": 429001, "message": "too many requests; retry after 2 s"}
    }


def test_a_dropped_runcomfy_submission_is_still_queued_and_billed(client: httpx.Client) -> None:
    emulator = RunComfyEmulator(faults=always("drop"), queue_seconds=0.0)
    with serve(emulator) as url:
        with pytest.raises(httpx.TransportError):
            client.post(f"{url}/v1/models/{RUNCOMFY_MODEL}", json={"prompt": "a cat"})
        time.sleep(0.05)
    assert (emulator.stats.tasks, emulator.stats.billed) == (1, 1)
