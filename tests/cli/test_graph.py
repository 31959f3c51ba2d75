"""Targets built from other targets: ordering, propagation, restat, errors."""

from __future__ import annotations

import anyio
from PIL import Image

from imagebuild.execution.executor import Executor, Outcome, Store
from imagebuild.pipeline import open_session, plan_session, read_recorded
from imagebuild.planning.plan import Step
from imagebuild.providers.factory import create_providers
from imagebuild.registry.models import builtin_registry
from tests.conftest import Project

GRAPH = """\
version: 1
defaults:
  model: local
targets:
  - name: "cut-{{ size.name }}"
    from: edit
    matrix:
      size: [{name: square, w: 40, h: 40}, {name: wide, w: 64, h: 36}, {name: tall, w: 36, h: 64}]
    transform:
      - resize: {width: "{{ size.w }}", height: "{{ size.h }}", fit: cover}
    output: "out/{{ name }}.png"
  - name: edit
    prompt: the master at night
    seedImage: {target: master}
    width: 96
    height: 96
    output: out/edit.png
  - name: master
    prompt: a glass teapot, studio light
    width: 96
    height: 96
    output: out/master.png
  - name: unrelated
    prompt: a cup
    width: 32
    height: 32
"""


def non_keep(project: Project) -> dict[str, tuple[str, list[str]]]:
    return {
        t["name"]: (t["action"], t["reasons"])
        for t in project.plan()["targets"]
        if t["action"] != "keep"
    }


def test_plan_lists_steps_in_dependency_order(project: Project) -> None:
    project.write(GRAPH)
    names = [t["name"] for t in project.plan()["targets"]]
    assert names.index("master") < names.index("edit") < names.index("cut-square")
    assert names == ["master", "edit", "cut-square", "cut-wide", "cut-tall", "unrelated"]


def test_build_makes_the_whole_graph(project: Project) -> None:
    project.write(GRAPH)
    report = project.build()
    assert (report["summary"]["generated"], report["summary"]["derived"]) == (3, 3)
    with Image.open(project.root / "out/cut-wide.png") as image:
        assert image.size == (64, 36)
    assert set(project.actions().values()) == {"keep"}


def test_master_change_replans_master_edit_and_cuts_only(project: Project) -> None:
    project.write(GRAPH)
    project.build()
    project.write(GRAPH.replace("studio light", "candle light"))
    assert non_keep(project) == {
        "master": ("generate", ["prompt changed"]),
        "edit": ("generate", ["upstream master changed"]),
        "cut-square": ("derive", ["upstream edit changed"]),
        "cut-wide": ("derive", ["upstream edit changed"]),
        "cut-tall": ("derive", ["upstream edit changed"]),
    }
    report = project.build()
    assert (report["summary"]["generated"], report["summary"]["derived"]) == (2, 3)
    assert report["summary"]["kept"] == 1


def test_one_variant_size_change_replans_only_that_variant(project: Project) -> None:
    project.write(GRAPH)
    project.build()
    project.write(GRAPH.replace("w: 64, h: 36", "w: 80, h: 45"))
    assert non_keep(project) == {"cut-wide": ("derive", ["transform changed"])}


def test_identical_upstream_bytes_keep_dependents(project: Project) -> None:
    project.write(GRAPH)
    project.build()
    # PNG ignores outputQuality: the fingerprint changes, the bytes do not.
    project.write(
        GRAPH.replace(
            "    output: out/master.png", "    outputQuality: 50\n    output: out/master.png"
        )
    )
    assert non_keep(project)["edit"] == ("generate", ["upstream master changed"])
    report = project.build()
    assert report["summary"]["generated"] == 1
    kept_after_restat = {t["name"] for t in report["targets"] if t["action"] == "keep"}
    assert {"edit", "cut-square", "cut-wide", "cut-tall"} <= kept_after_restat


def test_reverting_the_master_restores_the_whole_graph(project: Project) -> None:
    project.write(GRAPH)
    project.build()
    before = (project.root / "out/cut-tall.png").read_bytes()
    project.write(GRAPH.replace("studio light", "candle light"))
    project.build()
    project.write(GRAPH)
    assert {action for action, _ in non_keep(project).values()} == {"restore"}
    report = project.build()
    assert report["summary"]["restored"] == 5
    assert (project.root / "out/cut-tall.png").read_bytes() == before


def test_selecting_a_dependent_builds_its_upstreams(project: Project) -> None:
    project.write(GRAPH)
    report = project.build("-t", "cut-square")
    assert sorted(t["name"] for t in report["targets"]) == ["cut-square", "edit", "master"]


def test_failure_skips_dependents_and_keep_going_builds_the_rest(project: Project) -> None:
    broken = GRAPH.replace(
        "    output: out/master.png",
        "    output: out/master.png\n  - name: crop-bad\n    from: master\n    transform:\n"
        "      - crop: {width: 500, height: 500}\n  - name: after-bad\n    from: crop-bad\n",
    )
    project.write(broken)
    result = project.run("build", "--keep-going", "--json")
    assert result.code == 1
    status = {t["name"]: (t["status"], t["error"]) for t in result.json()["targets"]}
    assert status["crop-bad"][0] == "failed"
    assert status["after-bad"] == ("skipped", "upstream crop-bad failed")
    assert status["cut-tall"][0] == "ok"
    assert "target crop-bad: transform step 1" in result.err


def test_cycle_is_reported_once_with_every_member(project: Project) -> None:
    project.write(
        "version: 1\ntargets:\n  - name: a\n    from: c\n  - name: b\n    from: a\n"
        "  - name: c\n    from: b\n  - name: d\n    from: a\n"
    )
    result = project.run("plan")
    assert result.code == 1
    assert result.err.strip() == (
        "imagebuild.yaml:3:11: target a: dependency cycle: a (imagebuild.yaml:3:11) -> "
        "c (imagebuild.yaml:7:11) -> b (imagebuild.yaml:5:11) -> a (imagebuild.yaml:3:11)"
    )


def test_missing_reference_names_the_closest_target(project: Project) -> None:
    project.write(GRAPH.replace("seedImage: {target: master}", "seedImage: {target: mastr}"))
    result = project.run("validate")
    assert result.code == 1
    assert result.err.strip() == (
        "imagebuild.yaml:14:16: target edit: reference to unknown target 'mastr' (did you mean 'master'?)"
    )


def test_reference_index_beyond_the_outputs(project: Project) -> None:
    project.write(
        GRAPH.replace("seedImage: {target: master}", "seedImage: {target: master, index: 2}")
    )
    result = project.run("validate")
    assert result.code == 1
    assert "target edit: master has 1 output(s), not 2" in result.err


def test_dot_and_mermaid(project: Project) -> None:
    project.write(
        GRAPH.replace(
            "matrix:\n      size: [{name: square, w: 40, h: 40}, ", "matrix:\n      size: ["
        )
    )
    dot = project.run("graph", "--format", "dot")
    assert dot.code == 0
    assert '"master" -> "edit" [label="seedImage"];' in dot.out
    assert '"edit" -> "cut-wide" [label="from"];' in dot.out
    assert dot.out.startswith("digraph imagebuild {") and dot.out.rstrip().endswith("}")
    mermaid = project.run("graph", "--format", "mermaid").out.splitlines()
    assert mermaid[0] == "flowchart LR"
    assert '  t0["master<br/>local local"]' in mermaid
    assert '  t2("cut-wide<br/>derived")' in mermaid
    assert "  t0 -->|seedImage| t1" in mermaid
    assert "  t1 -->|from| t2" in mermaid


def test_independent_branches_run_in_parallel(project: Project) -> None:
    project.write(
        "version: 1\ndefaults: {model: local, width: 2048, height: 2048}\ntargets:\n"
        "  - {name: left, prompt: left branch}\n  - {name: right, prompt: right branch}\n"
    )
    session = open_session("imagebuild.yaml")
    workspace = session.workspace
    recorded = read_recorded(session)
    stats = workspace.stat_cache()
    cache = workspace.cache()
    planner, plan = plan_session(session, recorded, stats, cache)
    spans: dict[str, list[float]] = {}

    class Recorder:
        def start(self, steps: list[Step]) -> None: ...
        def began(self, step: Step) -> None:
            spans[step.name] = [anyio.current_time()]

        def released(self, step: Step) -> None: ...

        def finished(self, outcome: Outcome) -> None:
            spans[outcome.step.name].append(anyio.current_time())

        def close(self) -> None: ...

    store = Store(
        project.root,
        recorded.lock,
        stats,
        cache,
        recorded.journal,
        workspace.state_dir / "staging",
    )
    providers = create_providers({"local"}, {}, builtin_registry())
    executor = Executor(store, providers, Recorder(), planner, jobs=2, keep_going=False)
    outcomes = anyio.run(executor.run, plan.steps)
    assert [o.status for o in outcomes] == ["ok", "ok"]
    (a_start, a_end), (b_start, b_end) = spans["left"], spans["right"]
    assert a_start < b_end and b_start < a_end, spans


def test_one_job_still_builds_a_graph(project: Project) -> None:
    project.write(GRAPH)
    report = project.build("-j", "1")
    assert report["summary"]["failed"] == 0


def test_request_defaults_do_not_apply_to_derived_targets(project: Project) -> None:
    project.write(
        GRAPH.replace(
            "defaults:\n  model: local\n", "defaults:\n  model: local\n  outputQuality: 90\n"
        )
    )
    assert project.run("validate").code == 0
    project.write(GRAPH.replace("    from: edit\n", "    from: edit\n    outputQuality: 90\n"))
    result = project.run("validate")
    assert result.code == 1
    assert "unknown field 'outputQuality'" in result.err
