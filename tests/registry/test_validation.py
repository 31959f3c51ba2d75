"""Request validation: a compiled screen first, jsonschema for what it rejects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from imagebuild.registry.models import builtin_registry
from imagebuild.registry.validation import find_problems, screen

RUNWARE = builtin_registry().find("runware", "runware:101@1")


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "runware:101@1", "positivePrompt": "a red fox", **fields}


def paths(fields: dict[str, Any]) -> list[tuple[str | int, ...]]:
    return [problem.path for problem in find_problems(RUNWARE, fields)]


def test_each_field_is_checked_against_its_own_schema() -> None:
    assert paths(request(width=1024, height=1024)) == []
    assert paths(request(width=1024, height=1024, numberResults=1024)) == [("numberResults",)]


def test_a_boolean_is_not_a_number_even_where_one_equal_to_it_is_valid() -> None:
    assert paths(request(numberResults=1)) == []
    assert paths(request(numberResults=True)) == [("numberResults",)]


def test_an_invalid_value_is_reported_every_time_it_is_validated() -> None:
    for _ in range(3):
        assert paths(request(width=1000, height=1024)) == [("width",)]


def test_enumerations_and_ranges_are_enforced() -> None:
    assert paths(request(outputFormat="PNG")) == []
    assert paths(request(outputFormat="TIFF")) == [("outputFormat",)]
    assert paths(request(outputFormat="PNG", outputQuality=101)) == [("outputQuality",)]


def test_where_the_screen_is_stricter_jsonschema_has_the_last_word() -> None:
    # "$" in a Python pattern matches before a final newline; the compiled
    # screen refuses the value, and jsonschema, which accepts it, decides.
    fields = request(providerSettings={"ideogram": {"styleCode": "0A1B2C3D\n"}})
    assert not screen(RUNWARE).is_valid({"taskType": "imageInference", **fields, "taskUUID": "1"})
    assert paths(fields) == []


def test_a_valid_request_never_imports_pythons_jsonschema(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from imagebuild.registry.models import builtin_registry\n"
        "from imagebuild.registry.validation import find_problems\n"
        "info = builtin_registry().find('runware', 'runware:101@1')\n"
        "valid = {'model': 'runware:101@1', 'positivePrompt': 'a fox', 'width': 512, 'height': 512}\n"
        "assert find_problems(info, valid) == []\n"
        "assert 'jsonschema' not in sys.modules\n"
        "problems = find_problems(info, {**valid, 'width': 500})\n"
        "assert [problem.path for problem in problems] == [('width',)]\n"
        "assert 'jsonschema' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
