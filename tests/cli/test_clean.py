"""``imagebuild clean`` removes what the lock recorded for targets that left
the manifest, and nothing it does not know."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project

TWO = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - {name: keep-me, prompt: stays}
  - {name: old, prompt: goes, output: out/old/old.png}
"""
ONE = TWO.split("  - {name: old")[0]


def built_then_removed(project: Project) -> Path:
    project.write(TWO)
    project.build()
    project.write(ONE)
    return project.root / "out/old/old.png"


def test_clean_removes_the_recorded_files_and_entries(project: Project) -> None:
    old = built_then_removed(project)
    assert project.plan()["removed"] == ["old"]
    result = project.run("clean", "--json")
    assert result.code == 0, result.err
    document = result.json()
    assert document["targets"] == ["old"]
    assert [item["path"] for item in document["removed"]] == ["out/old/old.png"]
    assert document["summary"]["bytes"] > 0
    assert not old.exists()
    assert not old.parent.exists()  # the folder it left empty goes too
    assert (project.root / "out/keep-me.png").is_file()
    assert sorted(project.locked()) == ["keep-me"]
    assert project.run("build", "--frozen").code == 0


def test_dry_run_lists_and_touches_nothing(project: Project) -> None:
    old = built_then_removed(project)
    lock = project.lock.read_bytes()
    result = project.run("clean", "--dry-run")
    assert result.code == 0
    assert "would remove out/old/old.png (old," in result.out
    assert old.is_file()
    assert project.lock.read_bytes() == lock


def test_a_modified_file_is_the_users_and_stays(project: Project) -> None:
    old = built_then_removed(project)
    old.write_bytes(b"my own edit")
    result = project.run("clean")
    assert result.code == 0
    assert old.read_bytes() == b"my own edit"
    assert "kept out/old/old.png (old): modified since it was built" in result.err
    assert sorted(project.locked()) == ["keep-me"]


def test_a_file_a_current_target_writes_is_not_removed(project: Project) -> None:
    built_then_removed(project)
    project.write(ONE + "  - {name: new, prompt: goes, output: out/old/old.png}\n")
    project.build()
    assert project.run("clean").code == 0
    assert (project.root / "out/old/old.png").is_file()


def test_a_lock_path_outside_the_folder_is_never_removed(project: Project, tmp_path: Path) -> None:
    built_then_removed(project)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes((project.root / "out/old/old.png").read_bytes())
    try:
        text = project.lock.read_text().replace('"out/old/old.png"', f'"../{outside.name}"')
        project.lock.write_text(text)
        result = project.run("clean")
        assert result.code == 0
        assert outside.is_file()
        assert "outside the manifest's folder" in result.err
    finally:
        outside.unlink()
