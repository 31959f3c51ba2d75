"""A manifest reads and writes only inside its folder, real paths resolved:
a symlinked input or output folder is refused before anything is spent, and
again when the output is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from imagebuild.confinement import INPUT_ROOTS_ENV
from imagebuild.providers.base import Generation, GenerationTask, TaskJournal
from tests.conftest import Project
from tests.execution.test_progress import SlowProvider, Watching, run_build

HEAD = "version: 1\ndefaults: {model: local, width: 32, height: 32}\ntargets:\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path.parent / f"{tmp_path.name}-outside"
    folder.mkdir()
    Image.new("RGB", (8, 8), "#ff0000").save(folder / "secret.png")
    return folder


def errors(project: Project, body: str) -> list[str]:
    project.write(HEAD + body)
    result = project.run("validate")
    assert result.code == 1
    return result.err.strip().splitlines()


def test_an_input_outside_the_folder_is_refused(project: Project, outside: Path) -> None:
    relative = os.path.relpath(outside / "secret.png", project.root)
    (line,) = errors(project, f"  - {{name: a, prompt: x, seedImage: '{relative}'}}\n")
    assert f"target a: input {relative} is outside the manifest's folder" in line


def test_a_symlinked_input_is_resolved(project: Project, outside: Path) -> None:
    (project.root / "link.png").symlink_to(outside / "secret.png")
    (project.root / "shared").symlink_to(outside, target_is_directory=True)
    lines = errors(
        project,
        "  - {name: a, prompt: x, seedImage: link.png}\n"
        "  - {name: b, prompt: y, seedImage: shared/secret.png}\n",
    )
    assert len(lines) == 2
    assert all("is outside the manifest's folder" in line for line in lines)


def test_an_allowed_input_root_may_be_read(
    project: Project, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INPUT_ROOTS_ENV, str(outside))
    (project.root / "link.png").symlink_to(outside / "secret.png")
    project.write(HEAD + "  - {name: a, prompt: x, seedImage: link.png}\n")
    assert project.build()["summary"]["generated"] == 1


def test_a_symlinked_output_folder_is_refused(project: Project, outside: Path) -> None:
    (project.root / "out").symlink_to(outside, target_is_directory=True)
    (line,) = errors(project, "  - {name: a, prompt: x}\n")
    assert "target a: output 'out/a.png' escapes the manifest folder through a symlinked" in line
    assert project.run("build").code == 1
    assert sorted(path.name for path in outside.iterdir()) == ["secret.png"]


def test_a_folder_made_a_symlink_during_the_build_is_not_written_through(
    project: Project, outside: Path
) -> None:
    class Swapping(SlowProvider):
        async def generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
            (project.root / "out").rmdir()
            (project.root / "out").symlink_to(outside, target_is_directory=True)
            return await super().generate(task, journal)

    (project.root / "out").mkdir()
    outcomes = run_build(project, Watching(jobs=1), Swapping(0.0), jobs=1)
    assert outcomes[0].status == "failed"
    assert "now leads outside the manifest folder" in str(outcomes[0].error)
    assert sorted(path.name for path in outside.iterdir()) == ["secret.png"]


def test_an_include_through_a_symlink_is_refused_before_it_is_read(
    project: Project, outside: Path
) -> None:
    (outside / "SECRET.txt").write_text("the launch date is 1 April")
    (project.root / "prompts").mkdir()
    (project.root / "prompts/link.j2").symlink_to(outside / "SECRET.txt")
    (project.root / "shared").symlink_to(outside, target_is_directory=True)
    for include in ("prompts/link.j2", "shared/SECRET.txt"):
        project.write(HEAD + f"  - {{name: a, prompt: \"x {{% include '{include}' %}}\"}}\n")
        result = project.run("plan")
        assert result.code == 1
        assert f"{include} leads outside the manifest's folder" in result.err
        assert "launch date" not in result.err
    assert not project.lock.exists()
