"""The Runware emulator over real sockets: protocol, validation, billing, determinism."""

from __future__ import annotations

import base64
import io
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from PIL import Image

from imagebuild.emulators import Faults, RunwareEmulator, serve

KEY = "rw-secret-key-0123456789"
MODEL = "runware:101@1"
Start = Callable[..., tuple[RunwareEmulator, str]]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[RunwareEmulator, str]]:
    emulator = RunwareEmulator()
    with serve(emulator) as url:
        yield emulator, f"{url}/v1"


@pytest.fixture
def start(shared: tuple[RunwareEmulator, str]) -> Iterator[Start]:
    """An emulator for one test: the module's, reset, when the defaults do; else a new one,
    stopped when the test ends (stopping a server takes a fifth of a second)."""
    with ExitStack() as stack:

        def _start(fresh: bool = False, **options: Any) -> tuple[RunwareEmulator, str]:
            if not (fresh or options):
                httpx.post(shared[1].replace("/v1", "/_emulator/reset")).raise_for_status()
                return shared
            emulator = RunwareEmulator(**options)
            return emulator, stack.enter_context(serve(emulator)) + "/v1"

        yield _start


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
        yield client


def inference(**fields: Any) -> dict[str, Any]:
    task = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": MODEL,
        "positivePrompt": "a red fox in the snow",
        "width": 128,
        "height": 128,
        "seed": 42,
    }
    return {**task, **fields}


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_data_uri(colour: str = "blue", size: int = 64) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_sync_inference_answers_after_the_latency_with_a_downloadable_image(
    start: Start, client: httpx.Client
) -> None:
    emulator, url = start(faults=Faults(latency=0.2))
    task = inference()
    began = time.monotonic()
    response = client.post(url, json=[task])
    elapsed = time.monotonic() - began
    assert response.status_code == 200
    [item] = response.json()["data"]
    assert 0.2 <= elapsed < 1.0
    assert item["taskType"] == "imageInference"
    assert item["taskUUID"] == task["taskUUID"]
    assert item["seed"] == 42
    assert "cost" not in item and "NSFWContent" not in item
    assert item["imageURL"].endswith(f"/images/{item['imageUUID']}.jpg")
    download = client.get(item["imageURL"])
    assert download.headers["content-type"] == "image/jpeg"
    image = decode(download.content)
    assert (image.format, image.size) == ("JPEG", (128, 128))
    stats = emulator.stats.snapshot()
    assert (stats["requests"], stats["tasks"], stats["billed"], stats["downloads"]) == (1, 1, 1, 1)


def test_async_inference_is_acknowledged_at_once_and_collected_with_get_response(
    start: Start, client: httpx.Client
) -> None:
    emulator, url = start(faults=Faults(latency=0.3))
    task = inference(deliveryMethod="async")
    began = time.monotonic()
    ack = client.post(url, json=[task]).json()
    assert time.monotonic() - began < 0.25
    assert ack == {"data": [{"taskType": "imageInference", "taskUUID": task["taskUUID"]}]}
    assert emulator.stats.billed == 1  # a real API bills the job it accepted
    poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    processing = client.post(url, json=poll).json()["data"]
    assert processing == [
        {"taskType": "imageInference", "taskUUID": task["taskUUID"], "status": "processing"}
    ]
    time.sleep(0.35)
    [done] = client.post(url, json=poll).json()["data"]
    assert done["status"] == "success"
    assert decode(client.get(done["imageURL"]).content).size == (128, 128)
    assert emulator.stats.billed == 1


def test_several_get_response_tasks_in_one_request(start: Start, client: httpx.Client) -> None:
    _, url = start()
    tasks = [inference(deliveryMethod="async") for _ in range(3)]
    client.post(url, json=tasks)
    polls = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]} for task in tasks]
    items = client.post(url, json=polls).json()["data"]
    assert [item["taskUUID"] for item in items] == [task["taskUUID"] for task in tasks]
    assert {item["status"] for item in items} == {"success"}


def test_number_results_gives_distinct_images_with_consecutive_seeds(
    start: Start, client: httpx.Client
) -> None:
    emulator, url = start()
    task = inference(numberResults=3, includeCost=True)
    items = client.post(url, json=[task]).json()["data"]
    assert len(items) == 3
    assert {item["taskUUID"] for item in items} == {task["taskUUID"]}
    assert len({item["imageUUID"] for item in items}) == 3
    assert [item["seed"] for item in items] == [42, 43, 44]
    assert [item["cost"] for item in items] == [0.0013] * 3
    images = {client.get(item["imageURL"]).content for item in items}
    assert len(images) == 3
    assert emulator.stats.billed == 3
    assert emulator.stats.snapshot()["billed_cost"] == pytest.approx(0.0039)


def test_result_i_is_the_image_its_own_seed_renders_alone(
    start: Start, client: httpx.Client
) -> None:
    _, url = start()
    second = client.post(url, json=[inference(numberResults=2)]).json()["data"][1]
    alone = client.post(url, json=[inference(seed=43)]).json()["data"][0]
    assert client.get(second["imageURL"]).content == client.get(alone["imageURL"]).content


def test_a_seed_is_drawn_when_the_request_has_none(start: Start, client: httpx.Client) -> None:
    _, url = start()
    task = inference()
    del task["seed"]
    [item] = client.post(url, json=[task]).json()["data"]
    assert isinstance(item["seed"], int) and item["seed"] >= 1


@pytest.mark.parametrize("output_type", ["base64Data", "dataURI"])
def test_inline_output_types(start: Start, client: httpx.Client, output_type: str) -> None:
    _, url = start()
    task = inference(outputType=output_type, outputFormat="PNG")
    [item] = client.post(url, json=[task]).json()["data"]
    assert "imageURL" not in item
    if output_type == "base64Data":
        data = base64.b64decode(item["imageBase64Data"])
    else:
        header, _, payload = item["imageDataURI"].partition(",")
        assert header == "data:image/png;base64"
        data = base64.b64decode(payload)
    image = decode(data)
    assert (image.format, image.size) == ("PNG", (128, 128))


def test_output_format_names_the_url_suffix_and_content_type(
    start: Start, client: httpx.Client
) -> None:
    _, url = start()
    [item] = client.post(url, json=[inference(outputFormat="webp")]).json()["data"]
    assert item["imageURL"].endswith(".webp")
    download = client.get(item["imageURL"])
    assert download.headers["content-type"] == "image/webp"
    assert decode(download.content).format == "WEBP"


def test_safety_check_reports_nsfw_content(start: Start, client: httpx.Client) -> None:
    _, url = start()
    [item] = client.post(url, json=[inference(safety={"checkContent": True})]).json()["data"]
    assert item["NSFWContent"] is False


def test_a_model_with_its_own_schema_uses_its_price_and_first_size(
    start: Start, client: httpx.Client
) -> None:
    emulator, url = start()
    task = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "imagineart:1@5",
        "positivePrompt": "a lighthouse at dusk",
        "includeCost": True,
        "outputType": "base64Data",
    }
    [item] = client.post(url, json=[task]).json()["data"]
    assert item["cost"] == 0.03
    assert decode(base64.b64decode(item["imageBase64Data"])).size == (2048, 2048)
    assert emulator.stats.snapshot()["billed_cost"] == pytest.approx(0.03)


def test_an_invalid_parameter_names_the_field_and_is_not_billed(
    start: Start, client: httpx.Client
) -> None:
    emulator, url = start()
    task = inference(width=100, height=128)
    response = client.post(url, json=[task])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "invalidParameter"
    assert error["parameter"] == "width"
    assert "width" in error["message"]
    assert error["taskUUID"] == task["taskUUID"]
    assert error["taskType"] == "imageInference"
    assert set(error) == {"code", "message", "parameter", "taskType", "taskUUID", "documentation"}
    assert emulator.stats.billed == 0


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"positivePrompt": None}, "positivePrompt"),
        ({"steps": 1000}, "steps"),
        ({"colour": "red"}, "colour"),
        ({"outputType": "file"}, "outputType"),
    ],
)
def test_invalid_parameters_are_named(
    start: Start, client: httpx.Client, change: dict[str, Any], parameter: str
) -> None:
    emulator, url = start()
    task = {key: value for key, value in {**inference(), **change}.items() if value is not None}
    [error] = client.post(url, json=[task]).json()["errors"]
    assert (error["code"], error["parameter"]) == ("invalidParameter", parameter)
    assert emulator.stats.billed == 0


def test_errors_concern_only_their_own_task(start: Start, client: httpx.Client) -> None:
    emulator, url = start()
    good, bad = inference(), inference(width=130, height=128)
    response = client.post(url, json=[good, bad])
    assert response.status_code == 200
    body = response.json()
    assert [item["taskUUID"] for item in body["data"]] == [good["taskUUID"]]
    assert [error["taskUUID"] for error in body["errors"]] == [bad["taskUUID"]]
    assert emulator.stats.billed == 1


def test_a_reused_task_uuid_conflicts_and_is_not_billed_again(
    start: Start, client: httpx.Client
) -> None:
    emulator, url = start()
    task = inference()
    client.post(url, json=[task])
    response = client.post(url, json=[task])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["taskUUID"]) == ("conflictTaskUUID", task["taskUUID"])
    assert emulator.stats.billed == 1
    poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    assert client.post(url, json=poll).json()["data"][0]["status"] == "success"


@pytest.mark.parametrize(
    ("task", "code", "parameter"),
    [
        (inference(taskUUID="task-1"), "invalidTaskUUID", "taskUUID"),
        (
            {"taskType": "imageBackgroundRemoval", "taskUUID": str(uuid.uuid4())},
            "unsupportedTaskType",
            "taskType",
        ),
        ({"taskType": "getResponse", "taskUUID": str(uuid.uuid4())}, "taskNotFound", "taskUUID"),
        (
            inference(model="imagineart/imagineart-1.5-preview/text-to-image"),
            "invalidModel",
            "model",
        ),
        (inference(seedImage=str(uuid.uuid4())), "invalidImage", "seedImage"),
        (
            inference(seedImage="data:image/png;base64,bm90IGFuIGltYWdl"),
            "invalidImage",
            "seedImage",
        ),
        (
            inference(referenceImages=["https://example.com/a.png"]),
            "invalidImage",
            "referenceImages",
        ),
    ],
)
def test_task_errors(
    start: Start, client: httpx.Client, task: dict[str, Any], code: str, parameter: str
) -> None:
    emulator, url = start()
    response = client.post(url, json=[task])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["parameter"]) == (code, parameter)
    assert emulator.stats.billed == 0


@pytest.mark.parametrize("body", [b"not json", b'{"taskType": "imageInference"}', b"[1, 2]"])
def test_a_body_that_is_not_an_array_of_tasks(
    start: Start, client: httpx.Client, body: bytes
) -> None:
    _, url = start()
    response = client.post(url, content=body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "invalidRequestBody"
    assert error["taskUUID"] is None


def test_a_bad_key_is_refused_for_every_task_and_never_echoed(start: Start) -> None:
    emulator, url = start(api_key=KEY)
    tasks = [inference(), inference()]
    wrong = "rw-wrong-key-9876543210"
    for headers in ({"Authorization": f"Bearer {wrong}"}, {}):
        response = httpx.post(url, json=tasks, headers=headers)
        assert response.status_code == 401
        errors = response.json()["errors"]
        assert [error["code"] for error in errors] == ["invalidApiKey"] * 2
        assert [error["taskUUID"] for error in errors] == [task["taskUUID"] for task in tasks]
        assert wrong not in response.text and KEY not in response.text
    assert emulator.stats.billed == 0


def test_the_key_never_appears_in_any_answer(start: Start, client: httpx.Client) -> None:
    _, url = start(api_key=KEY, faults=Faults(fail_rate=0.5, kinds=("429", "500", "malformed")))
    bodies = []
    for _ in range(12):
        task = inference(positivePrompt="x")  # invalid: too short
        bodies.append(client.post(url, json=[task, inference()]).text)
    bodies.append(client.get(url.removesuffix("/v1") + "/_emulator/stats").text)
    assert bodies and all(KEY not in body for body in bodies)


def test_insufficient_credits(start: Start, client: httpx.Client) -> None:
    emulator, url = start(credits=0.003)
    first = client.post(url, json=[inference(numberResults=2)])
    assert first.status_code == 200
    second = client.post(url, json=[inference()])
    assert second.status_code == 402
    [error] = second.json()["errors"]
    assert error["code"] == "insufficientCredits"
    assert emulator.stats.billed == 2
    assert emulator.balance == pytest.approx(0.0004)


def test_an_uploaded_image_is_usable_as_seed_image(start: Start, client: httpx.Client) -> None:
    emulator, url = start()
    upload = {"taskType": "imageUpload", "taskUUID": str(uuid.uuid4()), "image": png_data_uri()}
    [item] = client.post(url, json=[upload]).json()["data"]
    assert set(item) == {"taskType", "taskUUID", "imageUUID"}
    assert item["taskUUID"] == upload["taskUUID"]
    assert emulator.stats.uploads == 1
    plain = client.post(url, json=[inference(outputFormat="PNG")]).json()["data"][0]
    seeded = inference(outputFormat="PNG", seedImage=item["imageUUID"], strength=0.1)
    edited = client.post(url, json=[seeded]).json()["data"][0]
    plain_image = decode(client.get(plain["imageURL"]).content).convert("RGB")
    edited_image = decode(client.get(edited["imageURL"]).content).convert("RGB")
    red, green, blue = edited_image.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    assert plain_image.tobytes() != edited_image.tobytes()
    assert blue > red and blue > green  # mostly the blue seed image at strength 0.1


@pytest.mark.parametrize("form", ["raw base64", "emulator URL", "imageUUID"])
def test_image_inputs_in_every_form(start: Start, client: httpx.Client, form: str) -> None:
    _, url = start()
    [generated] = client.post(url, json=[inference(outputFormat="PNG")]).json()["data"]
    value = {
        "raw base64": png_data_uri().partition(",")[2],
        "emulator URL": generated["imageURL"],
        "imageUUID": generated["imageUUID"],  # a generated image nobody has downloaded yet
    }[form]
    task = inference(seedImage=value, maskImage=png_data_uri("white"), referenceImages=[value])
    response = client.post(url, json=[task])
    assert response.status_code == 200, response.text
    assert decode(client.get(response.json()["data"][0]["imageURL"]).content).size == (128, 128)


def test_same_request_and_seed_give_the_same_bytes_across_emulators(
    start: Start, client: httpx.Client
) -> None:
    images = []
    for _ in range(2):
        _, url = start(fresh=True)
        [item] = client.post(url, json=[inference(outputFormat="PNG")]).json()["data"]
        images.append(client.get(item["imageURL"]).content)
    assert images[0] == images[1]
    _, url = start()
    [other] = client.post(url, json=[inference(outputFormat="PNG", seed=7)]).json()["data"]
    assert client.get(other["imageURL"]).content != images[0]


def test_sync_tasks_wait_concurrently(start: Start, client: httpx.Client) -> None:
    _, url = start(faults=Faults(latency=0.3))
    began = time.monotonic()
    items = client.post(url, json=[inference() for _ in range(50)]).json()["data"]
    assert len(items) == 50
    assert time.monotonic() - began < 1.0


def test_stats_and_reset_endpoints(start: Start, client: httpx.Client) -> None:
    emulator, url = start(credits=1.0)
    root = url.removesuffix("/v1")
    task = inference()
    client.post(url, json=[task])
    stats = client.get(f"{root}/_emulator/stats").json()
    assert stats == {
        "requests": 1,
        "tasks": 1,
        "billed": 1,
        "billed_cost": 0.0013,
        "uploads": 0,
        "downloads": 0,
        "faults": {},
        "max_in_flight": 1,
        "cancelled": 0,
    }
    assert client.post(f"{root}/_emulator/reset").status_code == 200
    assert client.get(f"{root}/_emulator/stats").json()["billed"] == 0
    assert emulator.balance == 1.0
    poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    assert client.post(url, json=poll).json()["errors"][0]["code"] == "taskNotFound"


def test_the_root_path_is_the_api_too_and_other_routes_are_not(
    start: Start, client: httpx.Client
) -> None:
    _, url = start()
    root = url.removesuffix("/v1")
    assert client.post(f"{root}/", json=[inference()]).status_code == 200
    assert client.post(f"{root}/v2", json=[]).status_code == 404
    assert client.get(url).status_code == 405
    assert client.get(f"{root}/images/{uuid.uuid4()}.jpg").status_code == 404


# -- the rules of seed 004 that compare fields, and every image input decoded ----------------

NOT_AN_IMAGE = "data:image/png;base64,bm90IGFuIGltYWdl"


def controlnet(**fields: Any) -> dict[str, Any]:
    return {"model": "runware:25@1", "guideImage": png_data_uri(), **fields}


RULE_BREAKERS = {
    "controlNet-beyond-steps": (
        inference(steps=10, controlNet=[controlnet(endStep=11)]),
        "controlNet",
        "controlNet.0.endStep: 11 is more than steps (10)",
    ),
    "controlNet-ends-before-it-starts": (
        inference(controlNet=[controlnet(startStepPercentage=50, endStepPercentage=50)]),
        "controlNet",
        "controlNet.0.endStepPercentage: 50 must be above startStepPercentage 50",
    ),
    "refiner-beyond-default-steps": (
        inference(refiner={"model": "civitai:101055@128080", "startStep": 21}),
        "refiner",
        "refiner.startStep: 21 is more than steps (20, the default)",
    ),
    "cache-ends-before-it-starts": (
        inference(acceleratorOptions={"cacheStartStep": 5, "cacheEndStep": 3}),
        "acceleratorOptions",
        "acceleratorOptions.cacheEndStep: 3 must be above cacheStartStep 5",
    ),
    "ace-two-references": (
        inference(
            model="runware:102@1",
            referenceImages=[png_data_uri(), png_data_uri()],
            acePlusPlus={"type": "portrait"},
        ),
        "referenceImages",
        "referenceImages: 2 images, but ACE++ takes at most 1",
    ),
    "kontext-three-references": (
        inference(model="runware:106@1", referenceImages=[png_data_uri()] * 3),
        "referenceImages",
        "referenceImages: 3 images, but FLUX.1 Kontext takes at most 2",
    ),
    "bytedance-over-15": (
        inference(
            referenceImages=[png_data_uri()] * 5,
            providerSettings={"bytedance": {"maxSequentialImages": 11}},
        ),
        "providerSettings",
        "providerSettings.bytedance.maxSequentialImages: 11 plus 5 reference images is more than 15",
    ),
    "layer-diffuse-default-jpg": (
        inference(advancedFeatures={"layerDiffuse": True}),
        "advancedFeatures",
        "advancedFeatures.layerDiffuse makes images with transparency, which the default"
        " outputFormat JPG cannot hold: ask for PNG or WEBP",
    ),
    "outpaint-not-seed-plus-extension": (
        inference(seedImage=png_data_uri(size=128), outpaint={"right": 64}),
        "width",
        "width: 128 should be 192, the seed image's width 128 plus outpaint left 0 and right 64",
    ),
}


@pytest.mark.parametrize("case", sorted(RULE_BREAKERS))
def test_the_rules_that_compare_fields_are_refused_and_not_billed(
    start: Start, client: httpx.Client, case: str
) -> None:
    emulator, url = start()
    task, parameter, message = RULE_BREAKERS[case]
    response = client.post(url, json=[task])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["parameter"], error["message"]) == (
        "invalidParameter",
        parameter,
        message,
    )
    assert error["taskUUID"] == task["taskUUID"]
    assert emulator.stats.billed == 0


def test_an_outpaint_sized_from_its_seed_image_is_rendered(
    start: Start, client: httpx.Client
) -> None:
    _, url = start()
    task = inference(seedImage=png_data_uri(size=128), outpaint={"right": 64}, width=192)
    response = client.post(url, json=[task])
    assert response.status_code == 200, response.text
    assert decode(client.get(response.json()["data"][0]["imageURL"]).content).size == (192, 128)


def test_layer_diffuse_with_a_transparent_format_is_accepted(
    start: Start, client: httpx.Client
) -> None:
    _, url = start()
    task = inference(advancedFeatures={"layerDiffuse": True}, outputFormat="png")
    assert client.post(url, json=[task]).status_code == 200


def truncated_png_data_uri() -> str:
    uri = png_data_uri(size=96)
    header, _, payload = uri.partition(",")
    data = base64.b64decode(payload)
    return f"{header},{base64.b64encode(data[: len(data) // 2]).decode('ascii')}"


IMAGE_INPUTS = {
    "maskImage": (
        inference(seedImage=png_data_uri(), maskImage=NOT_AN_IMAGE),
        "maskImage",
        "maskImage",
    ),
    "controlNet[].guideImage": (
        inference(controlNet=[controlnet(), controlnet(guideImage=NOT_AN_IMAGE)]),
        "controlNet",
        "controlNet.1.guideImage",
    ),
    "ipAdapters[].guideImage": (
        inference(ipAdapters=[{"model": "runware:55@1", "guideImage": NOT_AN_IMAGE}]),
        "ipAdapters",
        "ipAdapters.0.guideImage",
    ),
    "puLID.inputImages[]": (
        inference(puLID={"inputImages": [NOT_AN_IMAGE]}),
        "puLID",
        "puLID.inputImages.0",
    ),
    "acePlusPlus.inputImages[]": (
        inference(
            model="runware:102@1",
            referenceImages=[png_data_uri()],
            acePlusPlus={"type": "portrait", "inputImages": [NOT_AN_IMAGE]},
        ),
        "acePlusPlus",
        "acePlusPlus.inputImages.0",
    ),
    "acePlusPlus.inputMasks[]": (
        inference(
            model="runware:102@1",
            referenceImages=[png_data_uri()],
            acePlusPlus={"type": "local_editing", "inputMasks": [NOT_AN_IMAGE]},
        ),
        "acePlusPlus",
        "acePlusPlus.inputMasks.0",
    ),
    "providerSettings.ideogram.styleReferenceImages[]": (
        inference(providerSettings={"ideogram": {"styleReferenceImages": [NOT_AN_IMAGE]}}),
        "providerSettings",
        "providerSettings.ideogram.styleReferenceImages.0",
    ),
    "a truncated seedImage": (
        inference(seedImage=truncated_png_data_uri()),
        "seedImage",
        "seedImage",
    ),
}


@pytest.mark.parametrize("field", sorted(IMAGE_INPUTS))
def test_every_image_input_is_decoded_and_a_non_image_refused(
    start: Start, client: httpx.Client, field: str
) -> None:
    emulator, url = start()
    task, parameter, named = IMAGE_INPUTS[field]
    response = client.post(url, json=[task])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["parameter"]) == ("invalidImage", parameter)
    assert error["message"].startswith(f"{named}: not a PNG, JPEG, WEBP image")
    assert emulator.stats.billed == 0


def test_every_image_input_that_is_an_image_is_accepted(start: Start, client: httpx.Client) -> None:
    _, url = start()
    image = png_data_uri()
    task = inference(
        controlNet=[controlnet()],
        ipAdapters=[{"model": "runware:55@1", "guideImage": image}],
        puLID={"inputImages": [image]},
        providerSettings={"ideogram": {"styleReferenceImages": [image]}},
    )
    response = client.post(url, json=[task])
    assert response.status_code == 200, response.text
