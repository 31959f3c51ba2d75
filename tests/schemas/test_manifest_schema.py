"""The manifest schema (schemas/manifest.schema.json), used by editors for completion."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from imagebuild.registry.models import SCHEMAS

SCHEMA_PATH = SCHEMAS / "manifest.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())

DEMO = """
version: 1
vars:
  brand: Acme
defaults:
  model: local
  outputFormat: PNG
providers:
  runware: {concurrency: 16, rate: 10}
targets:
  - name: "hero-{{ city }}-{{ size.name }}"
    matrix:
      city: [tokyo, paris]
      size: [{name: sq, w: 512, h: 512}, {name: wide, w: 768, h: 432}]
      exclude: [{city: paris, size: {name: wide, w: 768, h: 432}}]
    prompt: "{{ brand }} poster of {{ city }}"
    width: "{{ size.w }}"
    height: "{{ size.h }}"
    output: "out/{{ name }}.png"
"""


def messages(instance: Any) -> list[str]:
    v = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(instance)]


def demo() -> dict[str, Any]:
    data = yaml.safe_load(DEMO)
    assert isinstance(data, dict)
    return data


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == "https://imagebuild.dev/schemas/manifest.schema.json"
    assert SCHEMA_PATH.read_text() == json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"


def test_demo_manifest_validates() -> None:
    assert messages(demo()) == []


def test_richer_manifest_validates() -> None:
    data = demo()
    data["providers"] |= {
        "runcomfy": {"url": "http://127.0.0.1:8189", "timeout": 30.5, "batchSize": 1},
        "local": {"concurrency": "{{ jobs }}"},
        "my-proxy": {"url": "https://proxy.test", "prices": {"imagineart:1@5": 0.03, "local": 0}},
    }
    data["targets"] += [
        {
            "name": "hero-print",
            "provider": "runware",
            "model": "imagineart:1.5-pro@0",
            "prompt": "poster",
            "width": 4096,
            "height": 4096,
            "seed": 42,
            "tags": ["print", "hero"],
            "output": ["out/print.jpg", "out/print-copy.jpg"],
            "seedImage": {"target": "hero-tokyo-sq"},
            "referenceImages": ["brand/logo.png", {"target": "hero-paris-sq"}],
            "settings": {"thinkingLevel": "high"},
        },
        {
            "name": "thumb",
            "from": "hero-print",
            "transform": [{"resize": {"width": 256}}, {"format": "webp"}],
            "output": "out/thumb.webp",
        },
        {
            "name": "variant-{{ n }}",
            "matrix": {"n": [1, 2.5, True, None], "include": [{"n": 3, "extra": "x"}]},
            "prompt": "variant",
        },
    ]
    assert messages(data) == []


def _set(data: dict[str, Any], path: list[Any], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value


INVALID = [
    ("no-version", ["version"], KeyError),
    ("version-2", ["version"], 2),
    ("no-targets", ["targets"], KeyError),
    ("empty-targets", ["targets"], []),
    ("unknown-top-level-key", ["target"], []),
    ("target-without-name", ["targets", 0, "name"], KeyError),
    ("target-name-not-string", ["targets", 0, "name"], 7),
    ("provider-api-key", ["providers", "runware", "key"], "sk-live"),
    ("provider-token", ["providers", "runcomfy"], {"token": "t"}),
    ("concurrency-0", ["providers", "runware", "concurrency"], 0),
    ("concurrency-float", ["providers", "runware", "concurrency"], 1.5),
    ("rate-0", ["providers", "runware", "rate"], 0),
    ("timeout-negative", ["providers", "runware", "timeout"], -1),
    ("batch-size-0", ["providers", "runware", "batchSize"], 0),
    ("price-negative", ["providers", "runware", "prices"], {"imagineart:1@5": -0.03}),
    ("matrix-empty-list", ["targets", 0, "matrix", "city"], []),
    ("matrix-scalar", ["targets", 0, "matrix", "city"], "tokyo"),
    ("matrix-nested-list", ["targets", 0, "matrix", "city"], [["tokyo"]]),
    ("matrix-exclude-not-list", ["targets", 0, "matrix", "exclude"], {"city": "paris"}),
    ("transform-two-keys", ["targets", 0, "transform"], [{"resize": {}, "crop": {}}]),
    ("transform-empty-step", ["targets", 0, "transform"], [{}]),
    ("output-empty-list", ["targets", 0, "output"], []),
    ("tags-not-strings", ["targets", 0, "tags"], [1]),
    ("width-list", ["targets", 0, "width"], [512]),
    ("seed-image-bad-ref", ["targets", 0, "seedImage"], {"target": "x", "path": "y"}),
    ("vars-not-mapping", ["vars"], ["brand"]),
    ("defaults-not-mapping", ["defaults"], "local"),
]


@pytest.mark.parametrize(("case", "path", "value"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest(case: str, path: list[Any], value: Any) -> None:
    data = copy.deepcopy(demo())
    _set(data, path, value)
    assert messages(data), f"{case} should be rejected"


def test_example_manifests_validate_against_the_manifest_schema() -> None:
    root = Path(__file__).resolve().parents[2]
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = Draft202012Validator(schema)
    for manifest in sorted((root / "manifests").glob("*.yaml")):
        errors = [
            error.message for error in validator.iter_errors(yaml.safe_load(manifest.read_text()))
        ]
        assert errors == [], manifest.name
