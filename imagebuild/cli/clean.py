"""``imagebuild clean``: remove the files of targets that left the manifest.

Only files the lock recorded, only while they still hold the bytes it
recorded (a file edited since is the user's now), never outside the manifest's
folder, and never one that a target of the manifest writes today.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imagebuild.cli.arguments import add_manifests, format_size, print_json
from imagebuild.pipeline import open_session, read_recorded
from imagebuild.planning.files import hash_file


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "clean", help="remove the files of targets that left the manifest"
    )
    add_manifests(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would go; touch nothing")
    parser.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    removed: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    dropped: list[str] = []
    for path in arguments.manifests:
        session = open_session(path)
        root = session.manifest.root
        current = {output.casefold() for t in session.targets for output in t.outputs}
        with session.workspace.build_lock():
            recorded = read_recorded(session)
            lock = recorded.lock
            departed = sorted(set(lock.entries) - session.all_names)
            for name in departed:
                for output in lock.entries[name].get("outputs", ()):
                    verdict = _verdict(root, output, current)
                    item = {"target": name, "path": output.get("path"), **verdict}
                    (removed if "size" in verdict else kept).append(item)
                    if "size" in verdict and not arguments.dry_run:
                        _remove(root, root / str(output["path"]))
            dropped += departed
            if not arguments.dry_run:
                lock.drop(set(departed))
                lock.write()
    freed = sum(item["size"] for item in removed)
    if arguments.json:
        print_json(
            {
                "removed": removed,
                "kept": kept,
                "targets": dropped,
                "summary": {"files": len(removed), "bytes": freed, "targets": len(dropped)},
            }
        )
        return 0
    verb = "would remove" if arguments.dry_run else "removed"
    for item in removed:
        print(f"{verb} {item['path']} ({item['target']}, {format_size(item['size'])})")
    for item in kept:
        print(f"kept {item['path']} ({item['target']}): {item['reason']}", file=sys.stderr)
    print(
        f"clean: {verb} {len(removed)} files of {len(dropped)} targets that left the manifest"
        f" ({format_size(freed)})"
    )
    return 0


def _verdict(root: Path, output: dict[str, Any], current: set[str]) -> dict[str, Any]:
    """``{"size": N}`` for a file to remove, ``{"reason": ...}`` for one to keep."""
    relative = output.get("path")
    if not isinstance(relative, str):
        return {"reason": "the lock records no path"}
    if relative.casefold() in current:
        return {"reason": "a target of the manifest writes it now"}
    file = root / relative
    real_root = root.resolve()
    try:
        real = file.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        return {"reason": "already gone"}
    if not real.is_relative_to(real_root) or not real.is_file():
        return {"reason": "outside the manifest's folder"}
    if hash_file(real) != output.get("sha256"):
        return {"reason": "modified since it was built"}
    return {"size": real.stat().st_size}


def _remove(root: Path, file: Path) -> None:
    """The file, then each folder it leaves empty, up to the manifest's folder."""
    file.unlink()
    folder = file.parent
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
