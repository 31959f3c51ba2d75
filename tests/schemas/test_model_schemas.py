"""The model registry schemas against the API documents they were written from.

Every example request in the seed documents must validate against its model's
schema, and the documented limits must reject what they forbid.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator

from imagebuild.registry.models import SCHEMAS_DIR

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = SCHEMAS_DIR
SEEDS_DIR = Path(__file__).resolve().parents[3] / "shared" / "seeds"

GENERIC = "runware-image-inference.json"
IA15 = "imagineart-1.5.json"
IA15PRO = "imagineart-1.5-pro.json"
IA20 = "imagineart-2.0.json"
RUNCOMFY = "runcomfy-imagineart-1.5-preview.json"
LOCAL = "local.json"
INT64_MAX = 2**63 - 1

# What PROVIDERS.md and the seeds say about each model (the metadata must agree).
EXPECTED_META: dict[str, dict[str, Any]] = {
    GENERIC: {
        "provider": "runware",
        "model": None,
        "price": None,
        "seed": True,
        "promptField": "positivePrompt",
        "sizes": 0,
    },
    IA15: {
        "provider": "runware",
        "model": "imagineart:1@5",
        "price": 0.03,
        "seed": False,
        "promptField": "positivePrompt",
        "sizes": 9,
    },
    IA15PRO: {
        "provider": "runware",
        "model": "imagineart:1.5-pro@0",
        "price": 0.045,
        "seed": False,
        "promptField": "positivePrompt",
        "sizes": 10,
    },
    IA20: {
        "provider": "runware",
        "model": "imagineart:2.0@0",
        "price": 0.05,
        "seed": True,
        "promptField": "positivePrompt",
        "sizes": 11,
    },
    RUNCOMFY: {
        "provider": "runcomfy",
        "model": "imagineart/imagineart-1.5-preview/text-to-image",
        "price": None,
        "seed": True,
        "promptField": "prompt",
        "sizes": 0,
    },
    LOCAL: {
        "provider": "local",
        "model": "local",
        "price": 0,
        "seed": True,
        "promptField": "positivePrompt",
        "sizes": 0,
    },
}
META_KEYS = {"provider", "model", "price", "seed", "promptField", "imageInputs", "sizes"}
OPTIONAL_META_KEYS = {"aspectRatios"}


def load_schemas() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(MODELS_DIR.glob("*.json"))}


SCHEMAS = load_schemas()


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name], format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, instance: Any) -> list[Any]:
    """jsonschema's errors; every request it rejects, the screen imagebuild
    validates with first (jsonschema-rs) must reject too."""
    found = list(validator(name).iter_errors(instance))
    if found:
        screen = jsonschema_rs.validator_for(SCHEMAS[name], validate_formats=True)
        assert not screen.is_valid(instance), [e.message for e in found]
    return found


def walk(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema with a JSON-pointer-ish path."""
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            if key in {"properties", "$defs", "dependentSchemas", "patternProperties"}:
                for sub, subschema in value.items():
                    yield from walk(subschema, f"{path}/{key}/{sub}")
            elif key in {"allOf", "anyOf", "oneOf", "prefixItems"}:
                for i, subschema in enumerate(value):
                    yield from walk(subschema, f"{path}/{key}/{i}")
            elif key in {"items", "not", "if", "then", "else", "additionalProperties", "contains"}:
                yield from walk(value, f"{path}/{key}")


def field_schema(schema: dict[str, Any], field_path: str) -> dict[str, Any]:
    """The property schema at an imageInputs path such as ``controlNet[].guideImage``."""
    node = schema
    for part in field_path.split("."):
        is_array = part.endswith("[]")
        node = node["properties"][part.removesuffix("[]")]
        if is_array:
            assert node["type"] == "array", field_path
            node = node["items"]
    return node


def request(model_file: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid request for a model, with fields added or replaced."""
    base: dict[str, Any]
    if model_file == RUNCOMFY:
        base = {"prompt": "a red fox in the snow"}
    else:
        base = {
            "taskType": "imageInference",
            "taskUUID": "0b8e6a4c-1f5e-4c0e-9a4f-3d2b1c0a9e8f",
            "model": SCHEMAS[model_file]["x-imagebuild"]["model"] or "runware:101@1",
            "positivePrompt": "a red fox in the snow",
        }
        if model_file == IA20:
            base |= {"width": 2048, "height": 2048}
    base.update(fields)
    return base


# ------------------------------------------------------------------ the schemas themselves


def test_expected_schema_files() -> None:
    assert set(SCHEMAS) == set(EXPECTED_META)


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = SCHEMAS[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://imagebuild.dev/schemas/models/{name}"
    assert schema["title"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_file_is_two_space_formatted(name: str) -> None:
    text = (MODELS_DIR / name).read_text()
    assert text == json.dumps(SCHEMAS[name], indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_metadata_block(name: str) -> None:
    schema = SCHEMAS[name]
    meta = schema["x-imagebuild"]
    assert META_KEYS <= set(meta) <= META_KEYS | OPTIONAL_META_KEYS
    expected = EXPECTED_META[name]
    for key in ("provider", "model", "price", "seed", "promptField"):
        assert meta[key] == expected[key], key
    assert meta["price"] is None or (isinstance(meta["price"], int | float) and meta["price"] >= 0)
    props = schema["properties"]
    # The prompt field exists and is required.
    assert meta["promptField"] in props
    assert meta["promptField"] in schema["required"]
    # "seed": true exactly when the request accepts a seed.
    assert ("seed" in props) is meta["seed"]
    # The model id is the one the schema pins (the generic schema pins none).
    if name not in (GENERIC, RUNCOMFY):
        assert props["model"]["const"] == meta["model"]
    # Every image input path names a string field.
    assert isinstance(meta["imageInputs"], list)
    assert len(set(meta["imageInputs"])) == len(meta["imageInputs"])
    for path in meta["imageInputs"]:
        assert field_schema(schema, path)["type"] == "string", path
    # Sizes: null, or the exact allowed pairs.
    if expected["sizes"] == 0:
        assert meta["sizes"] is None
    else:
        sizes = meta["sizes"]
        assert len(sizes) == expected["sizes"] == len({tuple(s) for s in sizes})
        for w, h in sizes:
            assert isinstance(w, int) and isinstance(h, int)
            assert errors(name, request(name, width=w, height=h)) == [], (w, h)


def test_generic_schema_lists_every_image_field() -> None:
    meta = SCHEMAS[GENERIC]["x-imagebuild"]
    assert set(meta["imageInputs"]) == {
        "seedImage",
        "maskImage",
        "referenceImages[]",
        "controlNet[].guideImage",
        "ipAdapters[].guideImage",
        "puLID.inputImages[]",
        "acePlusPlus.inputImages[]",
        "acePlusPlus.inputMasks[]",
        "providerSettings.ideogram.styleReferenceImages[]",
    }
    assert SCHEMAS[LOCAL]["x-imagebuild"]["imageInputs"] == [
        "seedImage",
        "maskImage",
        "referenceImages[]",
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_objects_are_closed_and_properties_described(name: str) -> None:
    for path, sub in walk(SCHEMAS[name]):
        if (
            "properties" in sub
            and "/if" not in path
            and "/then" not in path
            and "/anyOf" not in path
        ):
            assert sub.get("additionalProperties") is False, path or "/"
            for prop, prop_schema in sub["properties"].items():
                assert prop_schema.get("description"), f"{path}/properties/{prop}"


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_defaults_satisfy_their_own_schema(name: str) -> None:
    for path, sub in walk(SCHEMAS[name]):
        if "default" in sub:
            check = {k: v for k, v in sub.items() if k != "default"}
            assert Draft202012Validator(check).is_valid(sub["default"]), path


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_error_messages_only_name_top_level_fields(name: str) -> None:
    schema = SCHEMAS[name]
    found = 0
    for path, sub in walk(schema):
        if "x-errorMessage" not in sub:
            continue
        found += 1
        for _, field, spec, conv in string.Formatter().parse(sub["x-errorMessage"]):
            if field is not None:
                assert field in schema["properties"], (path, field)
                assert not spec and not conv, path
    if name != RUNCOMFY:
        assert found, "paired sizes or other rules should carry an x-errorMessage"


# ------------------------------------------------------------------ examples from the seeds

_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def _json_objects(text: str) -> list[Any]:
    """Every top-level JSON value starting with '{' that decodes, in order."""
    found: list[Any] = []
    i = 0
    while (start := text.find("{", i)) >= 0:
        try:
            obj, end = _DECODER.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        found.append(obj)
        i = end
    return found


def _seed_text(prefix: str) -> str:
    (path,) = SEEDS_DIR.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def _is_request(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("taskType") == "imageInference" and "model" in obj


def model_page_examples(prefix: str) -> list[dict[str, Any]]:
    """Seeds 000, 001, 003: request objects (responses carry no model)."""
    return [o for o in _json_objects(_seed_text(prefix)) if _is_request(o)]


def _request_section(text: str) -> str:
    return text[text.index("## [Request]") : text.index("## [Response]")]


def inference_reference_blocks() -> dict[str, list[Any]]:
    """Seed 004: fenced code blocks of the Request section, by kind.

    requests: complete request objects; fragments: ``"key": value`` snippets;
    templates: placeholder skeletons (``"height": int``) that are not JSON.
    """
    kinds: dict[str, list[Any]] = {"requests": [], "fragments": [], "templates": []}
    for block in _FENCE.findall(_request_section(_seed_text("004"))):
        body = block.strip()
        if body.startswith("{"):
            try:
                obj = json.loads(body)
            except ValueError:
                kinds["templates"].append(body)
                continue
            assert _is_request(obj), body[:80]
            kinds["requests"].append(obj)
        elif body.startswith('"'):
            kinds["fragments"].append(json.loads("{" + body + "}"))
    return kinds


def runcomfy_examples() -> list[dict[str, Any]]:
    """Seed 002: the JSON bodies of the curl ``--data`` options."""
    bodies = re.findall(r"--data '(\{.*?\})'", _seed_text("002"), re.S)
    return [json.loads(b) for b in bodies]


def schema_for_model(model: str) -> str:
    for name, schema in SCHEMAS.items():
        meta = schema["x-imagebuild"]
        if meta["provider"] == "runware" and meta["model"] == model:
            return name
    return GENERIC


def collect_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """(seed, schema file, request) for every example request in the seeds."""
    if not SEEDS_DIR.is_dir():
        return []
    out = [
        (prefix, schema_for_model(obj["model"]), obj)
        for prefix in ("000", "001", "003")
        for obj in model_page_examples(prefix)
    ]
    out += [
        ("004", schema_for_model(o["model"]), o) for o in inference_reference_blocks()["requests"]
    ]
    out += [("002", RUNCOMFY, o) for o in runcomfy_examples()]
    return out


EXAMPLES = collect_examples()
needs_seeds = pytest.mark.skipif(
    not SEEDS_DIR.is_dir(), reason=f"seed documents absent: {SEEDS_DIR}"
)


@needs_seeds
def test_examples_found_per_seed() -> None:
    counts: dict[str, int] = {}
    for seed, _, _ in EXAMPLES:
        counts[seed] = counts.get(seed, 0) + 1
    assert counts.get("000", 0) >= 4
    assert counts.get("001", 0) >= 4
    assert counts.get("002", 0) >= 2
    assert counts.get("004", 0) >= 21
    # The ImagineArt 2.0 page is cut off before its examples: it holds no JSON at all.
    assert _json_objects(_seed_text("003")) == []
    blocks = inference_reference_blocks()
    assert len(blocks["fragments"]) >= 8
    # Only the four placeholder skeletons (embeddings, controlNet, lora, ipAdapters)
    # fail to parse; anything else failing would be an example lost by the extraction.
    assert len(blocks["templates"]) == 4
    assert all(re.search(r":\s*(int|float)\b|\"string\"", t) for t in blocks["templates"])


@needs_seeds
def test_examples_map_to_their_model_schemas() -> None:
    used = {(seed, name) for seed, name, _ in EXAMPLES}
    assert ("000", IA15) in used
    assert ("001", IA15PRO) in used
    assert ("002", RUNCOMFY) in used
    assert ("004", GENERIC) in used
    assert {name for seed, name, _ in EXAMPLES if seed == "004"} == {GENERIC}


@pytest.mark.parametrize(
    ("seed", "name", "example"),
    EXAMPLES,
    ids=[f"{seed}-{i}-{ex.get('model', 'runcomfy')}" for i, (seed, _, ex) in enumerate(EXAMPLES)],
)
def test_seed_example_validates(seed: str, name: str, example: dict[str, Any]) -> None:
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in errors(name, example)]
    assert problems == []


def _find_property(schema: dict[str, Any], prop: str) -> dict[str, Any]:
    """The first (shallowest) property schema named ``prop``."""
    queue = [schema]
    while queue:
        node = queue.pop(0)
        if prop in node.get("properties", {}):
            return node["properties"][prop]
        queue += list(node.get("properties", {}).values())
        if isinstance(node.get("items"), dict):
            queue.append(node["items"])
    raise KeyError(prop)


@needs_seeds
def test_seed_004_fragments_validate_against_their_fields() -> None:
    schema = SCHEMAS[GENERIC]
    checked = 0
    for fragment in inference_reference_blocks()["fragments"]:
        for key, value in fragment.items():
            sub = Draft202012Validator(
                _find_property(schema, key), format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            assert [e.message for e in sub.iter_errors(value)] == [], (key, value)
            checked += 1
    assert checked >= 9


PROVIDERS_MD = SEEDS_DIR.parent / "PROVIDERS.md"


def _pairs(text: str) -> list[list[int]]:
    return [[int(w), int(h)] for w, h in re.findall(r"(\d{3,4})x(\d{3,4})", text)]


@needs_seeds
@pytest.mark.skipif(not PROVIDERS_MD.is_file(), reason=f"{PROVIDERS_MD} absent")
def test_sizes_match_the_documented_tables() -> None:
    rows = {
        line.split("|")[1].strip(): line.split("|")[2]
        for line in PROVIDERS_MD.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `imagineart:")
    }
    for name in (IA15, IA15PRO, IA20):
        model = SCHEMAS[name]["x-imagebuild"]["model"]
        documented = _pairs(rows[f"`{model}` ({model_label(name)})"])
        assert SCHEMAS[name]["x-imagebuild"]["sizes"] == documented, name
        # The schema's own anyOf holds exactly the same pairs.
        rule = next(r for r in SCHEMAS[name]["allOf"] if "then" in r)["then"]["anyOf"]
        consts = [
            [r["properties"]["width"]["const"], r["properties"]["height"]["const"]] for r in rule
        ]
        assert consts == documented, name
    # Seed 001 carries its own table of the ten 4K sizes.
    table = [line for line in _seed_text("001").splitlines() if line.startswith("| `4K")]
    assert SCHEMAS[IA15PRO]["x-imagebuild"]["sizes"] == _pairs("\n".join(table))


def model_label(name: str) -> str:
    return {IA15: "1.5", IA15PRO: "1.5 Pro", IA20: "2.0"}[name]


def _schema_fields(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted, lowercased property paths of a schema (array items are transparent)."""
    out = set()
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}".lower()
        out.add(path)
        node = sub["items"] if sub.get("type") == "array" and "items" in sub else sub
        out |= _schema_fields(node, path + ".")
    return out


def _anchored_fields(text: str) -> set[str]:
    """Fields of pages whose headings link to ``#request-<path>`` anchors (seeds 001, 004)."""
    return {a.replace("-", ".") for a in re.findall(r"#request-([a-z0-9-]+)\)", text)}


def _listed_fields(text: str) -> set[str]:
    """Fields of pages without anchors (seeds 000, 003): a name line, then a type line.

    Nested fields appear as ``parent » child`` (seed 003, followed by a bare ``child``
    line) or ``parent»childchild`` (seed 000).
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() not in ("", "-")]
    parents = {child: parent for parent, child in re.findall(r"^(\w+) » (\w+)$", text, re.M)}
    out: set[str] = set()
    for name_line, type_line in itertools.pairwise(lines):
        if not re.match(r"(string|integer|boolean|object|float)\b", type_line):
            continue
        if m := re.fullmatch(r"(\w+)»(\w+?)\2", name_line):
            out |= {m[1].lower(), f"{m[1]}.{m[2]}".lower()}
        elif re.fullmatch(r"[A-Za-z]+", name_line):
            parent = parents.get(name_line)
            out |= (
                {f"{parent}.{name_line}".lower(), parent.lower()} if parent else {name_line.lower()}
            )
    return out


# Schema fields a page does not list as a heading, and why.
UNLISTED = {
    # seed 004 documents colorPalette's members as prose bullets, not as headings
    GENERIC: {
        "providersettings.ideogram.colorpalette.name",
        "providersettings.ideogram.colorpalette.members",
        "providersettings.ideogram.colorpalette.members.colorhex",
        "providersettings.ideogram.colorpalette.members.colorweight",
    },
    IA15: set(),
    IA15PRO: set(),
    IA20: {"resolution"},  # PROVIDERS.md; the seed page is cut off
}


@needs_seeds
@pytest.mark.parametrize(
    ("prefix", "name", "parse"),
    [
        ("004", GENERIC, _anchored_fields),
        ("001", IA15PRO, _anchored_fields),
        ("000", IA15, _listed_fields),
        ("003", IA20, _listed_fields),
    ],
)
def test_schema_fields_are_exactly_the_documented_ones(prefix: str, name: str, parse: Any) -> None:
    text = _seed_text(prefix)
    if prefix == "004":
        text = _request_section(text)
    documented = parse(text)
    assert len(documented) >= 16
    fields = _schema_fields(SCHEMAS[name])
    assert documented - fields == set(), "documented but missing from the schema"
    assert fields - documented == UNLISTED[name], "in the schema but not documented"


# ------------------------------------------------------------------ positive cases beyond the seeds

POSITIVE = [
    (IA15, {}),
    (IA15, {"width": 2472, "height": 824, "outputFormat": "PNG", "numberResults": 20}),
    (IA15, {"safety": {"checkContent": True, "mode": "fast"}, "deliveryMethod": "async"}),
    (IA15PRO, {"width": 5760, "height": 2472, "includeCost": True, "ttl": 60}),
    (IA20, {"seed": 0}),
    (IA20, {"seed": INT64_MAX, "resolution": "1.5K", "settings": {"thinkingLevel": "high"}}),
    (IA20, {"width": 1856, "height": 2320, "outputQuality": 20}),
    # seed 003 lists two thinkingLevel values but names only high: the other is not refused
    (IA20, {"settings": {"thinkingLevel": "low"}}),
    (GENERIC, {"width": 128, "height": 2048, "steps": 100, "CFGScale": 50, "seed": 1}),
    (
        GENERIC,
        {
            "seedImage": "data:image/png;base64,iVBORw0KGgo=",
            "maskImage": "https://x.test/m.png",
            "maskMargin": 32,
            "strength": 0,
        },
    ),
    (
        GENERIC,
        {
            "acceleratorOptions": {
                "teaCache": True,
                "cacheStartStepPercentage": 10,
                "cacheEndStepPercentage": 90,
            }
        },
    ),
    (
        GENERIC,
        {
            "model": "runware:102@1",
            "referenceImages": ["a"],
            "acePlusPlus": {"type": "local_editing", "inputMasks": ["m"]},
        },
    ),
    (GENERIC, {"advancedFeatures": {"layerDiffuse": True}, "outputFormat": "png"}),
    (GENERIC, {"advancedFeatures": {"layerDiffuse": True}, "outputFormat": "WEBP"}),
    (GENERIC, {"advancedFeatures": {"layerDiffuse": False}, "outputFormat": "JPG"}),
    (RUNCOMFY, {"aspect_ratio": "16:9", "seed": 7}),
    (RUNCOMFY, {"seed": -5}),
    (LOCAL, {}),
    (
        LOCAL,
        {
            "taskType": "imageInference",
            "model": "local",
            "width": 16,
            "height": 6592,
            "seed": INT64_MAX,
            "outputFormat": "webp",
            "outputQuality": 99,
            "numberResults": 20,
            "seedImage": "in.png",
            "maskImage": "mask.png",
            "referenceImages": ["a", "b", "c", "d"],
            "strength": 1,
            "outpaint": {"top": 0, "right": 2048, "bottom": 64, "left": 1},
        },
    ),
]


@pytest.mark.parametrize(("name", "fields"), POSITIVE)
def test_valid_request(name: str, fields: dict[str, Any]) -> None:
    assert [e.message for e in errors(name, request(name, **fields))] == []


# ------------------------------------------------------------------ negative cases

# (id, schema, fields replaced in a minimal valid request (None: left out), the JSON Schema
# keyword that must report it, so that each case fails for its own reason).
NEGATIVE: list[tuple[str, str, dict[str, Any], str]] = [
    # sizes
    ("pro-1024-square", IA15PRO, {"width": 1024, "height": 1024}, "anyOf"),
    ("pro-1.5-size", IA15PRO, {"width": 2048, "height": 2048}, "anyOf"),
    ("1.5-pro-size", IA15, {"width": 4096, "height": 4096}, "anyOf"),
    ("1.5-width-alone", IA15, {"width": 2048}, "dependentRequired"),
    ("1.5-height-alone", IA15, {"height": 2048}, "dependentRequired"),
    ("pro-width-alone", IA15PRO, {"width": 4096}, "dependentRequired"),
    ("2.0-1.5-only-size", IA20, {"width": 2560, "height": 1440}, "anyOf"),
    ("local-width-alone", LOCAL, {"width": 512}, "dependentRequired"),
    ("local-height-alone", LOCAL, {"height": 512}, "dependentRequired"),
    ("local-width-6593", LOCAL, {"width": 6593, "height": 512}, "maximum"),
    ("local-width-15", LOCAL, {"width": 15, "height": 512}, "minimum"),
    ("generic-width-64", GENERIC, {"width": 64, "height": 1024}, "minimum"),
    ("generic-width-2112", GENERIC, {"width": 2112, "height": 1024}, "maximum"),
    ("generic-width-not-x64", GENERIC, {"width": 1000, "height": 1024}, "multipleOf"),
    ("generic-width-alone", GENERIC, {"width": 1024}, "dependentRequired"),
    # typos
    *[(f"typo-{n}", n, {"widht": 1024}, "additionalProperties") for n in sorted(EXPECTED_META)],
    (
        "generic-nested-typo",
        GENERIC,
        {"outpaint": {"topp": 64}, "seedImage": "s", "width": 1024, "height": 1024},
        "additionalProperties",
    ),
    ("2.0-settings-typo", IA20, {"settings": {"thinkinglevel": "high"}}, "additionalProperties"),
    # ranges and enums
    *[
        (f"quality-100-{n}", n, {"outputQuality": 100}, "maximum")
        for n in (GENERIC, IA15, IA15PRO, IA20, LOCAL)
    ],
    *[
        (f"results-21-{n}", n, {"numberResults": 21}, "maximum")
        for n in (GENERIC, IA15, IA15PRO, IA20, LOCAL)
    ],
    ("generic-steps-0", GENERIC, {"steps": 0}, "minimum"),
    ("generic-steps-101", GENERIC, {"steps": 101}, "maximum"),
    ("generic-cfg-51", GENERIC, {"CFGScale": 51}, "maximum"),
    ("generic-seed-0", GENERIC, {"seed": 0}, "minimum"),
    ("generic-strength-1.5", GENERIC, {"strength": 1.5}, "maximum"),
    ("generic-outputformat-gif", GENERIC, {"outputFormat": "GIF"}, "enum"),
    ("generic-ttl-59", GENERIC, {"ttl": 59}, "minimum"),
    ("generic-prompt-too-short", GENERIC, {"positivePrompt": "a"}, "minLength"),
    ("generic-clipskip-3", GENERIC, {"clipSkip": 3}, "maximum"),
    (
        "generic-lora-weight-5",
        GENERIC,
        {"lora": [{"model": "civitai:1@1", "weight": 5}]},
        "maximum",
    ),
    (
        "generic-controlnet-no-guide",
        GENERIC,
        {"controlNet": [{"model": "runware:25@1"}]},
        "required",
    ),
    (
        "generic-outpaint-not-x64",
        GENERIC,
        {"seedImage": "s", "width": 1024, "height": 1024, "outpaint": {"top": 100}},
        "multipleOf",
    ),
    (
        "generic-outpaint-no-seed-image",
        GENERIC,
        {"width": 1024, "height": 1024, "outpaint": {"top": 64}},
        "dependentRequired",
    ),
    ("generic-mask-without-seed-image", GENERIC, {"maskImage": "m"}, "dependentRequired"),
    (
        "generic-ace-wrong-model",
        GENERIC,
        {"referenceImages": ["r"], "acePlusPlus": {"type": "portrait"}},
        "const",
    ),
    (
        "generic-ace-no-references",
        GENERIC,
        {"model": "runware:102@1", "acePlusPlus": {"type": "portrait"}},
        "required",
    ),
    ("generic-pulid-two-images", GENERIC, {"puLID": {"inputImages": ["a", "b"]}}, "maxItems"),
    (
        "generic-refiner-both-starts",
        GENERIC,
        {"refiner": {"model": "m", "startStep": 10, "startStepPercentage": 50}},
        "not",
    ),
    (
        "generic-ideogram-stylecode-and-type",
        GENERIC,
        {"providerSettings": {"ideogram": {"styleCode": "0123abcd", "styleType": "AUTO"}}},
        "not",
    ),
    (
        "generic-ideogram-stylecode-and-references",
        GENERIC,
        {"referenceImages": ["r"], "providerSettings": {"ideogram": {"styleCode": "0123abcd"}}},
        "not",
    ),
    ("generic-missing-model", GENERIC, {"model": None}, "required"),
    (
        "generic-layerdiffuse-jpg",
        GENERIC,
        {"advancedFeatures": {"layerDiffuse": True}, "outputFormat": "jpg"},
        "enum",
    ),
    (
        "generic-layerdiffuse-default-jpg",
        GENERIC,
        {"advancedFeatures": {"layerDiffuse": True}},
        "required",
    ),
    # model-specific
    ("1.5-seed-not-listed", IA15, {"seed": 42}, "additionalProperties"),
    ("pro-seed-not-listed", IA15PRO, {"seed": 42}, "additionalProperties"),
    ("1.5-wrong-model", IA15, {"model": "imagineart:1.5-pro@0"}, "const"),
    ("1.5-not-uuid-v4", IA15, {"taskUUID": "12345678-9abc-def0-1234-56789abcdef0"}, "pattern"),
    ("1.5-safety-full", IA15, {"safety": {"mode": "full"}}, "enum"),
    ("2.0-thinking-empty", IA20, {"settings": {"thinkingLevel": ""}}, "minLength"),
    ("2.0-seed-negative", IA20, {"seed": -1}, "minimum"),
    ("2.0-seed-2**63", IA20, {"seed": 2**63}, "maximum"),
    ("2.0-resolution-4K", IA20, {"resolution": "4K"}, "enum"),
    ("2.0-width-required", IA20, {"width": None, "height": None}, "required"),
    ("runcomfy-5:4", RUNCOMFY, {"aspect_ratio": "5:4"}, "enum"),
    ("runcomfy-seed-string", RUNCOMFY, {"seed": "7"}, "type"),
    ("runcomfy-no-prompt", RUNCOMFY, {"prompt": None}, "required"),
    ("runcomfy-runware-field", RUNCOMFY, {"positivePrompt": "x"}, "additionalProperties"),
    ("local-not-uuid", LOCAL, {"taskUUID": "not-a-uuid"}, "format"),
    ("local-wrong-model", LOCAL, {"model": "imagineart:1@5"}, "const"),
    ("local-references-5", LOCAL, {"referenceImages": ["a", "b", "c", "d", "e"]}, "maxItems"),
    ("local-references-0", LOCAL, {"referenceImages": []}, "minItems"),
    ("local-outpaint-2049", LOCAL, {"outpaint": {"left": 2049}}, "maximum"),
    ("local-outpaint-typo", LOCAL, {"outpaint": {"lft": 64}}, "additionalProperties"),
    ("local-prompt-empty", LOCAL, {"positivePrompt": ""}, "minLength"),
    ("local-format-tiff", LOCAL, {"outputFormat": "TIFF"}, "enum"),
]


@pytest.mark.parametrize(
    ("case", "name", "fields", "keyword"), NEGATIVE, ids=[c[0] for c in NEGATIVE]
)
def test_invalid_request(case: str, name: str, fields: dict[str, Any], keyword: str) -> None:
    instance = request(name, **fields)
    for key in [k for k, v in instance.items() if v is None]:
        del instance[key]  # None means "leave the field out"
    found = errors(name, instance)
    assert found, f"{case} should be rejected"
    assert keyword in {e.validator for e in found}, [e.message for e in found]


# ------------------------------------------------------------------ error messages for the loader


def _custom_messages(name: str, instance: dict[str, Any]) -> list[str]:
    messages = []
    for err in errors(name, instance):
        for e in [err, *err.context]:
            if "x-errorMessage" in e.schema:
                messages.append(e.schema["x-errorMessage"].format_map(instance))
    return messages


def test_size_error_message_names_the_size_and_the_allowed_ones() -> None:
    messages = _custom_messages(IA15PRO, request(IA15PRO, width=1024, height=1024))
    assert len(messages) == 1
    assert messages[0].startswith(
        "size 1024x1024 is not allowed for imagineart:1.5-pro@0; allowed: "
    )
    for w, h in SCHEMAS[IA15PRO]["x-imagebuild"]["sizes"]:
        assert f"{w}x{h}" in messages[0]


def test_pairing_error_message() -> None:
    for name in (IA15, LOCAL, GENERIC):
        messages = _custom_messages(name, request(name, width=2048))
        assert any("width and height go together" in m for m in messages), name


def test_ace_model_error_message() -> None:
    instance = request(GENERIC, referenceImages=["r"], acePlusPlus={"type": "portrait"})
    assert _custom_messages(GENERIC, instance) == [
        "acePlusPlus needs model runware:102@1 (FLUX Fill), not runware:101@1"
    ]


def test_layer_diffuse_error_message_names_the_format() -> None:
    instance = request(GENERIC, advancedFeatures={"layerDiffuse": True}, outputFormat="JPG")
    assert _custom_messages(GENERIC, instance) == [
        "advancedFeatures.layerDiffuse makes images with transparency, which JPG cannot hold:"
        " ask for PNG or WEBP"
    ]


def test_schemas_are_not_mutated_by_validation() -> None:
    before = copy.deepcopy(SCHEMAS)
    for name in SCHEMAS:
        errors(name, request(name))
    assert before == SCHEMAS
