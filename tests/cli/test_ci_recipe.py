"""docs/ci.md: its GitHub Actions workflow is well-formed, has the jobs it promises,
and every imagebuild command in it parses with imagebuild's own parser, so the
recipe cannot drift from the command line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagebuild.cli import parser
from imagebuild.planning.shard import Shard

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
_FENCED_YAML = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_SEPARATORS = {"&&", "||", ";", "|", "do", "then", "if", "for", "in"}


def workflow() -> dict[str, Any]:
    (block,) = _FENCED_YAML.findall(RECIPE.read_text(encoding="utf-8"))
    document: dict[str, Any] = yaml.safe_load(block)
    return document


def steps() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, step) for name, job in workflow()["jobs"].items() for step in job.get("steps", [])
    ]


def commands() -> list[tuple[str, list[str]]]:
    """(job, argv) of every imagebuild command in a ``run``, as the shell would
    run it in the first shard."""
    document = workflow()
    found = []
    for job, step in steps():
        env = {**document["env"], **document["jobs"][job].get("env", {}), **step.get("env", {})}
        for line in filled(step.get("run", ""), env).splitlines():
            words = shlex.split(line, comments=True)
            for index, word in enumerate(words):
                if word == "imagebuild" and (index == 0 or words[index - 1] in _SEPARATORS):
                    argv = []
                    for argument in words[index + 1 :]:
                        if argument in _SEPARATORS:
                            break
                        argv.append(argument)
                    found.append((job, argv))
    return found


def filled(script: str, env: dict[str, Any]) -> str:
    """``script`` with its expressions (``${{ matrix.shard }}`` is 1) and the
    workflow's variables filled in, continued lines joined."""
    script = _EXPRESSION.sub(lambda m: "1" if m[1] == "matrix.shard" else "X", script)
    script = _VARIABLE.sub(lambda m: str(env.get(m[1] or m[2], m[0])), script)
    return script.replace("\\\n", " ")


def parse(argv: list[str]) -> Any:
    return parser().parse_args(argv)


def test_the_recipe_holds_one_workflow_with_its_triggers() -> None:
    document = workflow()
    triggers = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"] == {"branches": ["main"]}
    assert set(document["jobs"]) == {"plan", "frozen", "shard", "merge"}


def test_every_imagebuild_command_parses() -> None:
    found = commands()
    assert len(found) == 5
    for _, argv in found:
        parse(argv)


def test_pull_requests_get_a_plan_comment_and_a_frozen_check() -> None:
    jobs = workflow()["jobs"]
    for name in ("plan", "frozen"):
        assert "pull_request" in jobs[name]["if"]
    by_job: dict[str, list[Any]] = {}
    for job, argv in commands():
        by_job.setdefault(job, []).append(parse(argv))
    (plan,) = by_job["plan"]
    assert (plan.command, plan.format, str(plan.output_dir)) == ("plan", "markdown", "plan")
    comment = next(
        s["run"] for j, s in steps() if j == "plan" and "gh pr comment" in s.get("run", "")
    )
    assert '--body-file "plan/plan-$part.md"' in comment
    frozen = by_job["frozen"]
    assert [arguments.command for arguments in frozen] == ["build", "build"]
    assert frozen[0].max_cost == 0 and not frozen[0].frozen
    assert frozen[1].frozen


def test_main_builds_a_matrix_of_shards_and_merges_their_locks() -> None:
    jobs = workflow()["jobs"]
    matrix = jobs["shard"]["strategy"]["matrix"]["shard"]
    assert matrix == list(range(1, len(matrix) + 1))
    assert workflow()["env"]["SHARDS"] == str(len(matrix))
    (build,) = [parse(argv) for job, argv in commands() if job == "shard"]
    assert build.command == "build"
    assert build.shard == Shard(1, len(matrix))
    assert build.manifests == [workflow()["env"]["MANIFEST"]]
    shard_run = next(s["run"] for j, s in steps() if j == "shard" and "--shard" in s.get("run", ""))
    assert "--shard ${{ matrix.shard }}/$SHARDS" in shard_run
    upload = next(s for j, s in steps() if j == "shard" and "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    assert upload["with"]["path"].endswith(
        ".shard-${{ matrix.shard }}-of-${{ env.SHARDS }}.lock.json"
    )
    assert jobs["merge"]["needs"] == "shard"
    assert "!cancelled()" in jobs["merge"]["if"]
    (merge,) = [parse(argv) for job, argv in commands() if job == "merge"]
    assert (merge.command, merge.action, merge.fragments) == (
        "lock",
        "merge",
        ["fragments/*.lock.json"],
    )


def test_the_merge_job_names_a_driver_that_parses() -> None:
    script = next(s["run"] for j, s in steps() if j == "merge" and "git push" in s.get("run", ""))
    (line,) = [line for line in script.splitlines() if "merge.imagebuild.driver" in line]
    driver = shlex.split(shlex.split(line)[-1])
    assert driver[0] == "imagebuild"
    arguments = parse([word.replace("%", "") for word in driver[1:]])
    assert (arguments.command, arguments.action) == ("lock", "merge-driver")
    assert [str(arguments.base), str(arguments.ours), str(arguments.theirs)] == ["O", "A", "B"]


@pytest.mark.parametrize("job", ["plan", "frozen", "shard"])
def test_imagebuild_state_is_cached_between_runs(job: str) -> None:
    caches = [s for j, s in steps() if j == job and s.get("uses", "").startswith("actions/cache")]
    assert caches
    for cache in caches:
        assert cache["with"]["path"].endswith(".imagebuild")
        assert cache["with"]["key"]
    assert any(cache["with"].get("restore-keys") for cache in caches)


def test_shards_save_their_state_even_when_the_build_failed() -> None:
    saved = [
        s
        for j, s in steps()
        if j == "shard" and s.get("uses", "").startswith("actions/cache/save@")
    ]
    (save,) = saved
    assert save["if"] == "always()"
    (restore,) = [
        s
        for j, s in steps()
        if j == "shard" and s.get("uses", "").startswith("actions/cache/restore@")
    ]
    assert save["with"]["key"] == restore["with"]["key"]
    assert "github.run_attempt" in save["with"]["key"]  # cache entries cannot be overwritten


def test_provider_keys_reach_only_the_shard_jobs() -> None:
    document = workflow()
    assert "RUNWARE_API_KEY" not in document["env"]
    for name, job in document["jobs"].items():
        assert ("RUNWARE_API_KEY" in job.get("env", {})) == (name == "shard")
