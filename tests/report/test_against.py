"""The lock to compare with: from git (a real repository in tmp_path) or a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebuild.errors import ManifestError, UsageError
from imagebuild.planning.lock import LockFile
from imagebuild.report.against import read_baseline
from imagebuild.workspace import Workspace
from tests.report.conftest import git


def write_lock(root: Path, seed: int) -> None:
    lock = LockFile(root / "imagebuild.lock.json")
    lock.put("hero", {"seed": seed, "outputs": []})
    lock.write()


@pytest.fixture
def repository(tmp_path: Path) -> Workspace:
    """A repository whose two commits locked seed 1, then seed 2; the work tree has 3."""
    git(tmp_path, "init", "-q")
    (tmp_path / "imagebuild.yaml").write_text("version: 1\ntargets: []\n")
    for seed in (1, 2):
        write_lock(tmp_path, seed)
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-q", "-m", f"seed {seed}")
    write_lock(tmp_path, 3)
    return Workspace(tmp_path / "imagebuild.yaml")


def seed(workspace: Workspace, against: str | None) -> object:
    baseline = read_baseline(workspace, "imagebuild.yaml", against)
    assert baseline is not None
    entry = baseline.lock.get("hero")
    return entry["seed"] if entry else None


def test_default_is_the_lock_at_head(repository: Workspace) -> None:
    baseline = read_baseline(repository, "imagebuild.yaml", None)
    assert baseline is not None and baseline.label == "HEAD"
    assert seed(repository, None) == 2


def test_any_revision_git_understands(repository: Workspace) -> None:
    assert seed(repository, "HEAD~1") == 1
    git(repository.root, "tag", "v1", "HEAD~1")
    assert seed(repository, "v1") == 1


def test_a_manifest_in_a_subfolder_reads_its_own_lock(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "imagebuild.yaml").write_text("version: 1\ntargets: []\n")
    write_lock(folder, 7)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "one")
    assert seed(Workspace(folder / "imagebuild.yaml"), None) == 7


def test_a_lock_file_path(repository: Workspace, tmp_path: Path) -> None:
    other = tmp_path / "old.lock.json"
    (repository.root / "imagebuild.lock.json").rename(other)
    baseline = read_baseline(repository, "imagebuild.yaml", str(other))
    assert baseline is not None and baseline.label == str(other)
    assert baseline.lock.get("hero") == {"seed": 3, "outputs": []}


def test_a_revision_without_the_lock_compares_as_empty(repository: Workspace) -> None:
    git(repository.root, "rm", "-q", "--cached", "imagebuild.lock.json")
    git(repository.root, "commit", "-q", "-m", "untrack")
    baseline = read_baseline(repository, "imagebuild.yaml", None)
    assert baseline is not None and baseline.lock.entries == {}


def test_an_unknown_revision_is_a_usage_error(repository: Workspace) -> None:
    with pytest.raises(UsageError) as raised:
        read_baseline(repository, "imagebuild.yaml", "no-such-branch")
    assert str(raised.value) == (
        "imagebuild.yaml: --against no-such-branch: not a lock file nor a known git revision"
    )
    with pytest.raises(UsageError, match="--against --output"):
        read_baseline(repository, "imagebuild.yaml", "--output")


def test_a_broken_lock_at_a_revision_is_located(repository: Workspace) -> None:
    (repository.root / "imagebuild.lock.json").write_text("{not json")
    git(repository.root, "commit", "-q", "-am", "broken")
    with pytest.raises(ManifestError) as raised:
        read_baseline(repository, "imagebuild.yaml", None)
    assert str(raised.value).startswith(
        "HEAD:imagebuild.lock.json:1:1: lock file is not valid JSON"
    )


def test_outside_git_there_is_nothing_to_compare_unless_asked(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "imagebuild.yaml")
    assert read_baseline(workspace, "imagebuild.yaml", None) is None
    with pytest.raises(UsageError, match="is not in a git repository"):
        read_baseline(workspace, "imagebuild.yaml", "HEAD")


def test_a_repository_without_commits_is_not_compared(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    assert read_baseline(Workspace(tmp_path / "imagebuild.yaml"), "m.yaml", None) is None


def test_without_git_installed(repository: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repository.root / "no-programs-here"))
    assert read_baseline(repository, "imagebuild.yaml", None) is None
    with pytest.raises(UsageError, match="git is not installed"):
        read_baseline(repository, "imagebuild.yaml", "HEAD~1")
