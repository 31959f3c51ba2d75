"""``imagebuild pull``: restore outputs the lock records but the disk lacks.

Through the local cache: what it lacks comes from the remote, every object
re-hashed on arrival, and only verified bytes become outputs. The remote is
only read. A target the remote cannot give is reported and exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from imagebuild.cli.sync import SyncProgress, add_arguments, chunks, connect, run_sync
from imagebuild.pipeline import Session
from imagebuild.planning.lock import Entry, LockFile, record_of


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "pull", help="restore missing outputs from the remote cache"
    )
    add_arguments(parser, run)


def run(arguments: argparse.Namespace) -> int:
    failure = "cannot pull: not in the remote cache, or damaged there"
    return run_sync(arguments, pull_session, "restored", failure)


def pull_session(session: Session) -> dict[str, str]:
    """Per selected target: restored, present, failed or skipped."""
    from imagebuild.remote.settings import Mode

    workspace = session.workspace
    root = session.manifest.root
    lock = LockFile.read(workspace.lock_path)
    cache = workspace.cache()
    status: dict[str, str] = {}
    lacking: dict[str, Entry] = {}
    for target in session.targets:
        entry = lock.get(target.name)
        if entry is None:
            status[target.name] = "skipped"
        elif all((root / output["path"]).is_file() for output in entry["outputs"]):
            status[target.name] = "present"
        else:
            lacking[target.name] = entry
    records = {entry["fingerprint"]: record_of(entry) for entry in lacking.values()}
    here = {fp for fp in records if cache.lookup(fp) is not None}
    remote = connect(session, cache, Mode(read_only=True, required=True))
    try:
        progress = SyncProgress("pull", len(records))
        progress.advance(len(here))
        for chunk in chunks({fp: r for fp, r in records.items() if fp not in here}):
            here |= remote.fetch(chunk)
            progress.advance(len(chunk))
        progress.close()
    finally:
        remote.close()
    stats = workspace.stat_cache()
    for name, entry in lacking.items():
        if entry["fingerprint"] not in here:
            status[name] = "failed"
            continue
        for output in entry["outputs"]:
            if not (root / output["path"]).is_file():
                cache.restore(output["sha256"], root / output["path"])
                stats.remember(output["path"], output["sha256"])
        status[name] = "restored"
    stats.save()
    return {target.name: status[target.name] for target in session.targets}
