"""The lock to compare with: a git revision's (``git show REV:NAME.lock.json``)
or another lock file's.

Without ``--against`` a manifest in a git work tree is compared with ``HEAD``
and one outside git is not compared at all; an explicit ``--against`` that
cannot be honoured is an error. A revision that had no lock yet compares as
an empty lock: every target is new.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from imagebuild.errors import UsageError
from imagebuild.planning.lock import LockFile
from imagebuild.workspace import Workspace

DEFAULT_REVISION = "HEAD"


@dataclass(frozen=True, slots=True)
class Baseline:
    label: str  # what the page says the targets are compared with
    lock: LockFile


def read_baseline(workspace: Workspace, display: str, against: str | None) -> Baseline | None:
    if against is not None and Path(against).is_file():
        return Baseline(against, LockFile.read(Path(against)))
    revision = against or DEFAULT_REVISION
    try:
        commit = _commit(workspace.root, revision)
    except _Unavailable as error:
        if against is None:
            return None  # outside git, or no commit yet: nothing to compare with
        raise UsageError(f"{display}: --against {revision}: {error}") from None
    lock_path = workspace.lock_path
    shown = _git(workspace.root, "show", f"{commit}:./{lock_path.name}")
    if shown is None:
        return Baseline(revision, LockFile(lock_path))
    return Baseline(revision, LockFile.parse(lock_path, shown, f"{revision}:{lock_path.name}"))


class _Unavailable(Exception):
    pass


def _commit(root: Path, revision: str) -> str:
    if revision.startswith("-"):
        raise _Unavailable("not a lock file nor a git revision")
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        raise _Unavailable("not a lock file, and git is not installed") from None
    if inside is None:
        raise _Unavailable(f"not a lock file, and {root} is not in a git repository")
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if commit is None:
        raise _Unavailable("not a lock file nor a known git revision")
    return commit.decode().strip()


def _git(root: Path, *argv: str) -> bytes | None:
    """Standard output, or None when git says no; FileNotFoundError without git."""
    completed = subprocess.run(["git", "-C", str(root), *argv], capture_output=True, check=False)
    return completed.stdout if completed.returncode == 0 else None
