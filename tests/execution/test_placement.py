"""Remote restores written as their objects land: each object into every
output that holds it, each step let go once all of its objects came."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagebuild.execution.placement import Placement
from imagebuild.pipeline import open_session
from imagebuild.planning.plan import Action, Step
from tests.conftest import Project

MANIFEST = """\
version: 1
defaults: {model: local, width: 16, height: 16}
targets:
  - {name: hero, prompt: hero, output: out/hero.png}
  - {name: twin, prompt: twin, output: out/twin.png}
  - {name: logo, prompt: logo, output: blocked/logo.png}
  - {name: pair, prompt: pair, numberResults: 2}
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def restores(project: Project, objects: dict[str, list[bytes]]) -> list[Step]:
    """The targets named in ``objects`` as restores of those bytes, one per output."""
    project.write(MANIFEST)
    steps = []
    for target in open_session("imagebuild.yaml").targets:
        if target.name in objects:
            step = Step(target, Action.RESTORE, [], sha(target.name.encode()), {}, {}, 0.0)
            outputs = [{"sha256": sha(data), "size": len(data)} for data in objects[target.name]]
            step.cached = {"outputs": outputs}
            steps.append(step)
    return steps


def test_each_object_goes_into_every_output_that_holds_it(project: Project) -> None:
    same, other = b"the same bytes", b"other bytes"
    steps = restores(project, {"hero": [same], "twin": [same], "logo": [other]})
    landed: list[str] = []
    placement = Placement(steps, lambda path: project.root / path, lambda s: landed.append(s.name))
    placement.stored(sha(same), same)
    assert (project.root / "out/hero.png").read_bytes() == same
    assert (project.root / "out/twin.png").read_bytes() == same
    assert sorted(landed) == ["hero", "twin"]
    assert [placement.wrote(step) for step in steps] == [True, True, False]
    assert placement.written["out/hero.png"][1].st_size == len(same)


def test_an_output_that_cannot_be_written_is_left_to_its_step(project: Project) -> None:
    steps = restores(project, {"hero": [b"h"], "twin": [b"t"], "logo": [b"l"]})
    (project.root / "blocked").write_bytes(b"a file where the folder goes")
    landed: list[str] = []

    def destination(path: str) -> Path:
        return project.root / path

    placement = Placement(steps, destination, lambda s: landed.append(s.name))
    placement.stored(sha(b"l"), b"l")
    assert landed == ["logo"], "its step goes on, and meets the problem itself"
    assert not placement.wrote(steps[2])
    assert "blocked/logo.png" not in placement.written


def test_a_step_waits_for_all_of_its_objects(project: Project) -> None:
    (pair,) = restores(project, {"pair": [b"first", b"second"]})
    landed: list[str] = []
    placement = Placement([pair], lambda path: project.root / path, lambda s: landed.append(s.name))
    placement.stored(sha(b"second"), b"second")
    assert landed == []
    assert not placement.wrote(pair)
    placement.stored(sha(b"first"), b"first")
    assert landed == ["pair"]
    assert placement.wrote(pair)
    assert (project.root / "out/pair-1.png").read_bytes() == b"first"
    assert (project.root / "out/pair-2.png").read_bytes() == b"second"
