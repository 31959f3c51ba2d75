"""``imagebuild gc`` prunes cache objects that no lock names."""

from __future__ import annotations

from tests.conftest import Project

MANIFEST = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - {name: a, prompt: PROMPT}
"""


def objects(project: Project) -> set[str]:
    folder = project.root / ".imagebuild/cache/objects"
    return {path.name for path in folder.glob("??/*")}


def test_gc_prunes_what_no_lock_references(project: Project) -> None:
    project.write(MANIFEST.replace("PROMPT", "first"))
    project.build()
    first = objects(project)
    project.write(MANIFEST.replace("PROMPT", "second"))
    project.build()
    assert len(objects(project)) == 2
    current = {output["sha256"] for output in project.locked()["a"]["outputs"]}

    dry = project.run("gc", "--dry-run", "--json").json()
    assert [item["sha256"] for item in dry["removed"]] == sorted(first)
    assert dry["summary"]["bytes"] > 0
    assert len(objects(project)) == 2

    result = project.run("gc")
    assert result.code == 0
    assert "gc: removed 1 objects" in result.out
    assert objects(project) == current
    # The old prompt is no longer free to come back, and nothing is broken.
    project.write(MANIFEST.replace("PROMPT", "first"))
    assert project.actions() == {"a": "generate"}
    project.write(MANIFEST.replace("PROMPT", "second"))
    assert project.actions() == {"a": "keep"}


def test_gc_keeps_everything_a_lock_names(project: Project) -> None:
    project.write(MANIFEST.replace("PROMPT", "only"))
    project.build()
    before = objects(project)
    assert project.run("gc").code == 0
    assert objects(project) == before
    (project.root / "out/a.png").unlink()
    assert project.actions() == {"a": "restore"}
