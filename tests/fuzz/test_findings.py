"""Each fuzzer finding, run by the real command line: one located line and exit code 1."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fuzz.runner import Batch, run_batches
from tests.fuzz.snippets import FINDINGS

COMMANDS = [["validate"], ["plan"], ["build", "--provider", "local"]]


@pytest.fixture(scope="module")
def records() -> dict[tuple[str, str], dict[str, Any]]:
    cases = [
        {"name": name, "text": text, "commands": [["build"]] if env else COMMANDS, "env": env}
        for name, (text, _, env) in FINDINGS.items()
    ]
    batches: list[Batch] = run_batches(cases, processes=2, timeout=120)
    assert [batch.unfinished for batch in batches] == [None, None]
    return {(r["case"], " ".join(r["command"])): r for batch in batches for r in batch.records}


@pytest.mark.parametrize("finding", sorted(FINDINGS))
def test_a_finding_is_one_located_line_and_exit_code_1(
    records: dict[tuple[str, str], dict[str, Any]], finding: str
) -> None:
    _, expected, env = FINDINGS[finding]
    runs = {command: record for (case, command), record in records.items() if case == finding}
    assert sorted(runs) == sorted(["build"] if env else [" ".join(c) for c in COMMANDS])
    for command, record in runs.items():
        assert (command, record["code"]) == (command, 1), record["err"]
        assert record["err"].startswith(expected), (command, record["err"])
        assert record["err"].count("\n") == 1, (command, record["err"])
        assert record["seconds"] < 10, command
    for value in env.values():
        if "secret" in value or "é" in value:
            assert all(value not in r["err"] for r in runs.values())
