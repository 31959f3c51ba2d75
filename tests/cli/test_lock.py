"""``imagebuild lock merge`` and ``lock merge-driver``, the latter run by a real git."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from imagebuild.planning.lock import LockFile
from tests.conftest import Project

MANIFEST = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - name: alpha
    prompt: alpha

  - name: beta
    prompt: beta

  - name: gamma
    prompt: gamma
"""


def entry(seed: int) -> dict[str, object]:
    return {"seed": seed, "outputs": [{"path": f"out/{seed}.png", "sha256": "ab" * 32, "size": 9}]}


def test_merge_refuses_contradicting_fragments_and_leaves_the_lock(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    before = project.lock.read_bytes()
    for index, seed in ((1, 5), (2, 6)):
        fragment = LockFile(project.root / f"f{index}.lock.json", {"alpha": entry(seed)})
        fragment.changed = True
        fragment.write()
    result = project.run("lock", "merge", "imagebuild.yaml", "f1.lock.json", "f2.lock.json")
    assert result.code == 1
    assert result.err == (
        "lock merge: target alpha: f1.lock.json and f2.lock.json record different results; "
        "nothing was merged\n"
    )
    assert project.lock.read_bytes() == before


def test_merge_names_a_missing_fragment(project: Project) -> None:
    project.write(MANIFEST)
    result = project.run("lock", "merge", "imagebuild.yaml", "absent.lock.json")
    assert (result.code, result.err) == (1, "absent.lock.json: no such lock file\n")
    assert not project.lock.exists()


def test_merge_reports_what_it_did(project: Project) -> None:
    project.write(MANIFEST)
    project.build()
    locked = project.locked()
    fragment = LockFile(project.root / "f.lock.json", {"beta": entry(9), "gone": entry(1)})
    fragment.changed = True
    fragment.write()
    project.write(MANIFEST.replace("  - name: gamma\n    prompt: gamma\n", ""))
    result = project.run("lock", "merge", "imagebuild.yaml", "f.lock.json")
    assert result.code == 0, result.err
    assert result.err == (
        "imagebuild.lock.json: 2 targets from 1 fragments; 1 changed, 1 dropped\n"
    )
    assert project.locked() == {"alpha": locked["alpha"], "beta": entry(9)}


def git(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *argv], cwd=root, check=check, capture_output=True, text=True, timeout=60
    )


def imagebuild(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagebuild", *argv],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository whose lock files merge with the driver, as the README sets it up;
    a first commit with a built manifest and its lock."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    driver = f"{shlex.quote(sys.executable)} -m imagebuild lock merge-driver %O %A %B"
    git(root, "config", "merge.imagebuild.driver", driver)
    (root / ".gitattributes").write_text("*.lock.json merge=imagebuild\n")
    (root / ".gitignore").write_text("out/\n")
    (root / "imagebuild.yaml").write_text(MANIFEST)
    assert imagebuild(root, "build").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "base")
    return root


def on_branch(root: Path, branch: str, manifest: str, *build: str) -> None:
    git(root, "checkout", "--quiet", "-b", branch, "main")
    (root / "imagebuild.yaml").write_text(manifest)
    result = imagebuild(root, "build", *build)
    assert result.returncode == 0, result.stderr
    git(root, "commit", "--quiet", "-am", branch)


def targets_in(path: Path) -> dict[str, dict[str, object]]:
    targets: dict[str, dict[str, object]] = orjson.loads(path.read_bytes())["targets"]
    return targets


def test_branches_adding_different_targets_merge_cleanly(repository: Path) -> None:
    root = repository
    on_branch(
        root,
        "first",
        MANIFEST.replace("targets:\n", "targets:\n  - name: delta\n    prompt: delta\n\n"),
    )
    first = targets_in(root / "imagebuild.lock.json")
    on_branch(root, "second", MANIFEST + "\n  - name: omega\n    prompt: omega\n")
    second = targets_in(root / "imagebuild.lock.json")
    git(root, "checkout", "--quiet", "first")
    merge = git(root, "merge", "--no-edit", "second", check=False)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    lock = root / "imagebuild.lock.json"
    merged = targets_in(lock)
    assert sorted(merged) == ["alpha", "beta", "delta", "gamma", "omega"]
    assert merged["delta"] == first["delta"] and merged["omega"] == second["omega"]
    assert lock.read_bytes() == LockFile(lock, merged).render()
    assert git(root, "status", "--porcelain").stdout == ""
    plan = imagebuild(root, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    actions = {t["name"]: t["action"] for t in orjson.loads(plan.stdout)["targets"]}
    # Outputs are not in git: both branches' images are on disk, and the merged lock
    # describes them all.
    assert set(actions.values()) == {"keep"}


def test_the_same_target_changed_on_both_sides_is_left_as_a_conflict(repository: Path) -> None:
    root = repository
    on_branch(root, "first", MANIFEST, "--reseed", "-t", "beta")
    ours = targets_in(root / "imagebuild.lock.json")["beta"]
    changed = MANIFEST.replace("prompt: gamma", "prompt: gamma ray")
    on_branch(root, "second", changed, "--reseed", "-t", "beta", "-t", "gamma")
    theirs = targets_in(root / "imagebuild.lock.json")
    assert ours != theirs["beta"]
    git(root, "checkout", "--quiet", "first")
    merge = git(root, "merge", "--no-edit", "second", check=False)
    assert merge.returncode != 0
    assert "CONFLICT" in merge.stdout and "imagebuild.lock.json" in merge.stdout
    assert sorted(git(root, "status", "--porcelain").stdout.splitlines()) == [
        "M  imagebuild.yaml",
        "UU imagebuild.lock.json",
    ]
    text = (root / "imagebuild.lock.json").read_text()
    lines = text.splitlines()
    start = lines.index("<<<<<<< ours")
    assert lines[start + 1] == '    "beta": {'
    assert lines[lines.index("=======") + 1] == '    "beta": {'
    assert text.count("<<<<<<<") == 1
    plan = imagebuild(root, "plan")
    assert plan.returncode == 1
    assert plan.stderr == (
        f"imagebuild.lock.json:{start + 1}:1: unresolved merge conflict: keep one side's entry "
        "and delete the <<<<<<<, ======= and >>>>>>> lines\n"
    )
    # Keeping our side leaves a lock with gamma merged from theirs: it changed there only.
    end = lines.index(">>>>>>> theirs")
    resolved = "\n".join(
        lines[:start] + lines[start + 1 : lines.index("=======")] + lines[end + 1 :]
    )
    assert orjson.loads(resolved)["targets"] == {**theirs, "beta": ours}
