"""``imagebuild lock merge|merge-driver``: lock files from CI shards and from git branches."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imagebuild.errors import ImageBuildError
from imagebuild.pipeline import open_session
from imagebuild.planning.files import atomic_write
from imagebuild.planning.lock import LockFile, lock_path_for
from imagebuild.planning.lockmerge import merge_fragments, three_way


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "lock", help="merge lock files from CI shards or git branches"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    merge = actions.add_parser("merge", help="fold shard lock files into the manifest's lock")
    merge.add_argument("manifest", metavar="MANIFEST")
    merge.add_argument(
        "fragments", nargs="+", metavar="FRAGMENT", help="lock files written by build --shard"
    )
    merge.set_defaults(handler=run_merge)
    driver = actions.add_parser(
        "merge-driver", help="git merge driver for lock files: lock merge-driver %%O %%A %%B"
    )
    driver.add_argument("base", type=Path, metavar="BASE", help="the common ancestor (%%O)")
    driver.add_argument(
        "ours", type=Path, metavar="OURS", help="our version (%%A), replaced by the result"
    )
    driver.add_argument("theirs", type=Path, metavar="THEIRS", help="their version (%%B)")
    driver.set_defaults(handler=run_merge_driver)


def run_merge(arguments: argparse.Namespace) -> int:
    session = open_session(arguments.manifest)
    fragments = []
    for name in arguments.fragments:
        path = Path(name)
        if not path.is_file():
            raise ImageBuildError(f"{name}: no such lock file")
        fragments.append(LockFile.read(path))
    workspace = session.workspace
    with workspace.build_lock():
        lock = LockFile.read(workspace.lock_path)
        merged = merge_fragments(lock, fragments, session.all_names)
        lock.write()
    print(
        f"{lock_path_for(Path(arguments.manifest))}: {len(lock.entries)} targets "
        f"from {len(fragments)} fragments; "
        f"{merged.changed} changed, {merged.dropped} dropped",
        file=sys.stderr,
    )
    return 0


def run_merge_driver(arguments: argparse.Namespace) -> int:
    """As git runs a merge driver: the result replaces OURS; exit 1 leaves it
    as a conflict for a person to resolve."""
    base, ours, theirs = (
        _read_side(path) for path in (arguments.base, arguments.ours, arguments.theirs)
    )
    merged = three_way(base, ours, theirs)
    if merged.conflicts:
        atomic_write(arguments.ours, merged.with_conflict_markers())
        print(
            "lock merge-driver: changed on both sides: " + ", ".join(sorted(merged.conflicts)),
            file=sys.stderr,
        )
        return 1
    result = LockFile(arguments.ours, merged.entries)
    result.changed = True
    result.write()
    return 0


def _read_side(path: Path) -> LockFile:
    """git hands an empty file for a side where the lock did not exist."""
    if path.stat().st_size == 0:
        return LockFile(path)
    return LockFile.read(path)
