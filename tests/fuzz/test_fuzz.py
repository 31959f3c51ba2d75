"""Mutated manifests through validate, plan and build --provider local: whatever the
input, an exit code of 0, 1 or 2, no traceback, no hang, bounded memory, and every
error line located.

The mutator is seeded, so a failure names a case that reproduces on any machine:
``mutants(SEED, CASES)`` in :mod:`tests.fuzz.mutate` rebuilds its manifest.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fuzz.mutate import mutants
from tests.fuzz.runner import run_batches

SEED = 20261202
CASES = 300
COMMANDS = [["validate"], ["plan"], ["build", "--provider", "local"]]
SECONDS_PER_COMMAND = 10
MEMORY_MB = 700
LOCATED = re.compile(r"imagebuild\.yaml:\d+:\d+: ")
# What build prints besides errors: one line per finished target, and the summary.
PROGRESS = re.compile(
    r"(?:generated|restored|derived|failed|skipped) \S|(?:\d+ \w+|nothing to do).*; cost \$\d"
)


def problems_of(record: dict[str, Any]) -> list[str]:
    command = " ".join(record["command"])
    where = f"{record['case']} ({command})"
    found = []
    if record["code"] not in (0, 1, 2):
        found.append(f"{where}: exit code {record['code']}")
    if "Traceback" in record["err"] or "Traceback" in record["out"]:
        found.append(f"{where}: traceback: {record['err'][-300:]}")
    if record["seconds"] > SECONDS_PER_COMMAND:
        found.append(f"{where}: took {record['seconds']:.1f}s")
    for line in record["err"].splitlines():
        if not LOCATED.match(line) and not PROGRESS.match(line):
            found.append(f"{where}: unlocated line: {line[:200]}")
    return found


def test_mutated_manifests_never_crash_hang_or_go_unlocated() -> None:
    cases = [
        {"name": name, "text": text, "commands": COMMANDS} for name, text in mutants(SEED, CASES)
    ]
    batches = run_batches(cases, processes=2, timeout=300)
    problems = []
    for batch in batches:
        if batch.unfinished is not None:
            problems.append(f"{batch.unfinished}: did not finish in time")
        if batch.peak_rss_mb > MEMORY_MB:
            problems.append(f"a child peaked at {batch.peak_rss_mb:.0f} MB")
        for record in batch.records:
            problems += problems_of(record)
    assert not problems, "\n".join(problems[:30])
    assert sum(len(batch.records) for batch in batches) == CASES * len(COMMANDS)
