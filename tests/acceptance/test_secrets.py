"""A server that echoes the API key in every field it can is never repeated:
not on stderr, not in --json, not in the lock, the journal or the cache."""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import pytest
from PIL import Image

from imagebuild.emulators import serve
from tests.acceptance.test_remote_build import all_text
from tests.conftest import Project

KEY = "rw-echoed-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "#446688").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class EchoingRunware:
    """Answers like Runware, but puts the caller's key into errors (code,
    parameter, message) and into the ids of results."""

    def __init__(self) -> None:
        self.image = png()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        tasks = orjson.loads(body)
        data, errors = [], []
        for task in tasks:
            uuid = task["taskUUID"]
            if task["taskType"] == "imageInference" and "refuse" in task["positivePrompt"]:
                errors.append(
                    {"code": KEY, "parameter": KEY, "message": f"bad {KEY}", "taskUUID": uuid}
                )
            elif task["taskType"] == "imageInference":
                data.append(
                    {"taskType": "imageInference", "taskUUID": uuid, "status": "processing"}
                )
            else:
                data.append(
                    {
                        "taskType": "imageInference",
                        "taskUUID": uuid,
                        "imageUUID": f"{KEY}-image",
                        "imageBase64Data": self.image,
                        "seed": 5,
                        "cost": 0.001,
                        "NSFWContent": False,
                    }
                )
        answer = orjson.dumps({"data": data, **({"errors": errors} if errors else {})})
        await send(
            {
                "type": "http.response.start",
                "status": 400 if errors and not data else 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


MANIFEST = """\
version: 1
providers:
  runware: {pollFirst: 0.05, pollInterval: 0.05}
defaults: {model: "runware:101@1", width: 128, height: 128}
targets:
  - {name: refused, prompt: please refuse}
  - {name: made, prompt: a fox}
"""


def test_an_echoed_key_is_redacted_everywhere(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(MANIFEST)
    with serve(EchoingRunware()) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        result = project.run("build", "--keep-going", "--json")
    assert result.code == 1
    assert "[redacted]" in result.err
    statuses = {t["name"]: t["status"] for t in orjson.loads(result.out)["targets"]}
    assert statuses == {"refused": "failed", "made": "ok"}
    assert project.locked()["made"]["outputs"][0]["imageUUID"] == "[redacted]-image"
    assert KEY not in result.err + result.out
    assert KEY not in all_text(project.root)
