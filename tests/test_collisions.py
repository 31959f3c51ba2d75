"""Files two writers would fight over are refused before anything is built,
each problem one located line naming both targets."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.conftest import Project

HEAD = "version: 1\ndefaults: {model: local, width: 64, height: 64}\ntargets:\n"


def refused(project: Project, body: str) -> list[str]:
    project.write(HEAD + body)
    result = project.run("validate")
    assert result.code == 1
    assert "Traceback" not in result.err
    return result.err.strip().splitlines()


def test_two_targets_writing_one_file(project: Project) -> None:
    lines = refused(
        project,
        "  - {name: a, prompt: one, output: out/x.png}\n"
        "  - {name: b, prompt: two, output: out/x.png}\n",
    )
    assert lines == [
        "imagebuild.yaml:5:36: target b: output out/x.png is also written by target a (line 4)"
    ]


@pytest.mark.parametrize("spelling", ["./out//x.png", "out/./x.png", "out/sub/../x.png"])
def test_spellings_of_one_path_are_one_file(project: Project, spelling: str) -> None:
    (line,) = refused(
        project,
        "  - {name: a, prompt: one, output: out/x.png}\n"
        f"  - {{name: b, prompt: two, output: '{spelling}'}}\n",
    )
    assert "target b: output out/x.png is also written by target a" in line


def test_paths_differing_only_in_case_collide(project: Project) -> None:
    (line,) = refused(
        project,
        "  - {name: a, prompt: one, output: out/Hero.png}\n"
        "  - {name: b, prompt: two, output: out/hero.png}\n",
    )
    assert line.endswith(
        "target b: output out/hero.png is also written by target a (line 4):"
        " out/Hero.png and out/hero.png differ only in letter case, one file on macOS and Windows"
    )


def test_one_path_listed_twice(project: Project) -> None:
    (line,) = refused(
        project, "  - {name: a, prompt: one, numberResults: 2, output: [x.png, x.png]}\n"
    )
    assert line == "imagebuild.yaml:4:54: target a: output x.png is listed twice"


def test_numbered_outputs_colliding_with_another_target(project: Project) -> None:
    (line,) = refused(
        project,
        "  - {name: a, prompt: one, numberResults: 2, output: out/a.png}\n"
        "  - {name: b, prompt: two, output: out/a-2.png}\n",
    )
    assert "target b: output out/a-2.png is also written by target a" in line


def test_an_output_may_not_overwrite_an_input(project: Project) -> None:
    project.root.joinpath("photos").mkdir()
    Image.new("RGB", (8, 8)).save(project.root / "photos/a.png")
    lines = refused(
        project,
        "  - {name: edit, prompt: one, seedImage: photos/a.png}\n"
        "  - {name: b, prompt: two, output: photos/a.png}\n",
    )
    assert lines == [
        "imagebuild.yaml:5:36: target b: output photos/a.png would overwrite an input of"
        " target edit (line 4)"
    ]
    assert Image.open(project.root / "photos/a.png").size == (8, 8)


def test_an_output_may_not_sit_in_the_state_folder(project: Project) -> None:
    (line,) = refused(project, "  - {name: a, prompt: one, output: .imagebuild/cache/a.png}\n")
    assert "output .imagebuild/cache/a.png is inside imagebuild's state folder" in line


def test_every_collision_is_reported_and_nothing_is_built(project: Project) -> None:
    lines = refused(
        project,
        "  - {name: a, prompt: one, output: x.png}\n"
        "  - {name: b, prompt: two, output: x.png}\n"
        "  - {name: c, prompt: three, output: y.png}\n"
        "  - {name: d, prompt: four, output: Y.png}\n",
    )
    assert len(lines) == 2
    assert project.run("build").code == 1
    assert not (project.root / "x.png").exists()
    assert not project.lock.exists()
