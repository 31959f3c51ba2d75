"""``imagebuild push``: upload what the lock records to the remote cache.

Objects come from the local cache (or, where it lost one, from the output
on disk when its bytes still match the lock), then the record; records the
remote already has are left as they are. Pushes an earlier build logged but
did not make go up too.
"""

from __future__ import annotations

import argparse
from typing import Any

from imagebuild.cli.sync import SyncProgress, add_arguments, chunks, connect, run_sync
from imagebuild.pipeline import Session
from imagebuild.planning.cache import Cache
from imagebuild.planning.files import hash_file
from imagebuild.planning.lock import Entry, LockFile, record_of


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "push", help="upload built targets to the remote cache"
    )
    add_arguments(parser, run)


def run(arguments: argparse.Namespace) -> int:
    failure = "cannot push: its outputs are neither in the local cache nor on disk"
    return run_sync(arguments, push_session, "pushed", failure)


def push_session(session: Session) -> dict[str, str]:
    """Per selected target: pushed, present, failed or skipped."""
    from imagebuild.remote.settings import Mode

    workspace = session.workspace
    lock = LockFile.read(workspace.lock_path)
    cache = workspace.cache()
    entries = {target.name: lock.get(target.name) for target in session.targets}
    status = {name: "skipped" for name, entry in entries.items() if entry is None}
    locked = {name: entry for name, entry in entries.items() if entry is not None}
    remote = connect(session, cache, Mode(required=True))
    try:
        remote.resume_pushes()
        records = {entry["fingerprint"]: record_of(entry) for entry in locked.values()}
        present = remote.records(records)
        progress = SyncProgress("push", len(records))
        progress.advance(len(present))
        outcome = dict.fromkeys(present, "present")
        waiting = {fp: record for fp, record in records.items() if fp not in present}
        for entry in locked.values():
            if entry["fingerprint"] in waiting:
                _recover_objects(session, cache, entry)
        for chunk in chunks(waiting):
            outcome.update(remote.upload(chunk))
            progress.advance(len(chunk))
        remote.flush()
        progress.close()
    finally:
        remote.close()
    for name, entry in locked.items():
        pushed = outcome[entry["fingerprint"]]
        status[name] = "failed" if pushed == "unavailable" else pushed
    return {target.name: status[target.name] for target in session.targets}


def _recover_objects(session: Session, cache: Cache, entry: Entry) -> None:
    """Objects the local cache lost, taken back from outputs that still match."""

    for output in entry["outputs"]:
        digest = output["sha256"]
        file = session.manifest.root / output["path"]
        if not cache.object_path(digest).is_file() and file.is_file() and hash_file(file) == digest:
            cache.store_file(digest, file)
