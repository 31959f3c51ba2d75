"""``imagebuild report`` as a user runs it: where it writes, what it compares
with, and one line for every problem."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.report.conftest import cards_by_name, git, page_data

MANIFEST = """\
version: 1
defaults:
  model: local
targets:
  - name: master
    prompt: a glass teapot
    width: 24
    height: 24
    tags: [hero]
    output: out/master.png
  - name: "cut-{{ w }}"
    matrix:
      w: [8, 12]
    from: master
    transform:
      - resize: {width: "{{ w }}", height: 8, fit: cover}
    output: "out/cut-{{ w }}.png"
"""


def test_the_default_folder_is_beside_the_manifest(project: Project) -> None:
    project.write(MANIFEST, "campaign/imagebuild.yaml")
    assert project.run("build", "campaign/imagebuild.yaml").code == 0
    result = project.run("report", "campaign/imagebuild.yaml")
    index = project.root / "campaign" / "report" / "index.html"
    assert (result.code, result.out, result.err) == (0, f"{index}\n", "")
    assert sorted(cards_by_name(index)) == ["cut-12", "cut-8", "master"]
    assert page_data(index)["baselines"] == [None]  # not in git: nothing to compare


def test_output_folder_json_and_selection(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    result = project.run("report", "-o", "site", "--json", "-t", "cut-8")
    assert result.code == 0, result.err
    index = project.root / "site" / "index.html"
    assert result.json() == {
        "index": str(index),
        "targets": 2,
        "status": {"keep": 2},
        "change": {},
        "warnings": [],
    }
    assert sorted(cards_by_name(index)) == ["cut-8", "master"]


def test_against_an_old_lock_file(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    shutil.copy(project.lock, project.root / "old.lock.json")
    project.write(
        MANIFEST.replace("a glass teapot", "a copper teapot").replace("[8, 12]", "[8, 16]")
    )
    project.build()
    result = project.run("report", "--against", "old.lock.json", "--json")
    assert result.code == 0, result.err
    assert result.json()["change"] == {"changed": 2, "new": 1, "removed": 1}
    cards = cards_by_name(project.root / "report" / "index.html")
    assert cards["cut-12"]["status"] == "removed"
    assert cards["cut-16"]["change"] == "new"
    assert page_data(project.root / "report" / "index.html")["baselines"] == ["old.lock.json"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_inside_git_the_default_is_head(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    git(project.root, "init", "-q")
    git(project.root, "add", "imagebuild.yaml", "imagebuild.lock.json")
    git(project.root, "commit", "-q", "-m", "built")
    project.write(MANIFEST.replace("a glass teapot", "a copper teapot"))
    project.build()
    assert project.run("report", "--json").json()["change"] == {"changed": 3}
    assert project.run("report", "--json", "--against", "HEAD").json()["change"] == {"changed": 3}
    git(project.root, "commit", "-q", "-am", "copper")
    assert project.run("report", "--json").json()["change"] == {"unchanged": 3}
    assert project.run("report", "--json", "--against", "HEAD~1").json()["change"] == {"changed": 3}


def test_an_unknown_revision_is_one_line_and_exit_2(project: Project) -> None:
    project.write(MANIFEST)
    result = project.run("report", "--against", "v9")
    assert result.code == 2
    assert result.err == "imagebuild.yaml: --against v9: not a lock file, and " + (
        f"{project.root} is not in a git repository\n"
    )
    assert not (project.root / "report").exists()


def test_an_invalid_manifest_is_located(project: Project) -> None:
    project.write(MANIFEST.replace("    tags: [hero]\n", "    tags: [hero]\n    seeed: 4\n"))
    result = project.run("report")
    assert result.code == 1
    assert (
        result.err
        == "imagebuild.yaml:10:5: target master: unknown field 'seeed' (did you mean 'seed'?)\n"
    )
    assert not (project.root / "report").exists()


def test_report_never_calls_a_provider_nor_imports_http(project: Project) -> None:
    """A Runware target with no key: planning is offline, so the report is
    written, and not even the HTTP client is loaded."""
    project.write(
        "version: 1\ntargets:\n  - name: remote\n    model: imagineart:1@5\n"
        "    prompt: hello\n    width: 2048\n    height: 2048\n"
    )
    script = (
        "import sys\nfrom imagebuild.cli import main\n"
        "code = main(['report', '--json'])\n"
        "print(code, 'httpx' in sys.modules, 'anyio' in sys.modules, file=sys.stderr)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project.root,
        capture_output=True,
        text=True,
        env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert completed.stderr.strip().splitlines()[-1] == "0 False False", completed.stderr
    (card,) = cards_by_name(project.root / "report" / "index.html").values()
    assert (card["status"], card["provider"], card["estimate"]) == ("generate", "runware", 0.03)


def test_several_manifests_make_one_page(project: Project) -> None:
    project.write(MANIFEST, "a/imagebuild.yaml")
    project.write(MANIFEST.replace("a glass teapot", "a kettle"), "b/imagebuild.yaml")
    assert project.run("build", "a/imagebuild.yaml", "b/imagebuild.yaml").code == 0
    result = project.run("report", "a/imagebuild.yaml", "b/imagebuild.yaml", "-o", "both")
    assert result.code == 0, result.err
    data = page_data(project.root / "both" / "index.html")
    assert data["sections"] == ["a/imagebuild.yaml", "b/imagebuild.yaml"]
    masters = [card for card in data["cards"] if card["name"] == "master"]
    assert [(card["key"], card["section"]) for card in masters] == [
        ("0:master", 0),
        ("1:master", 1),
    ]
    assert masters[1]["derived"] == ["1:cut-8", "1:cut-12"]
    assert masters[1]["images"][0]["href"] == "../b/out/master.png"


def test_an_output_folder_that_is_a_file_is_one_line(project: Project) -> None:
    project.write(MANIFEST)
    (project.root / "taken").write_text("not a folder")
    result = project.run("report", "-o", "taken")
    assert result.code == 1
    assert result.err == "taken: cannot write the report: File exists\n"
