"""``imagebuild gc``: prune cache objects that no lock references.

The cache keeps every output ever made, so that a reverted prompt comes back
for free; ``gc`` gives that space back for everything the given manifests'
locks no longer name. A cache shared between clones (``IMAGEBUILD_CACHE_DIR``)
serves other manifests too: name all of them, or they lose their old images.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from imagebuild.cli.arguments import add_manifests, format_size, print_json
from imagebuild.pipeline import open_session, read_recorded
from imagebuild.planning.cache import Cache
from imagebuild.workspace import CACHE_ENV


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "gc", help="prune cache objects that no lock references"
    )
    add_manifests(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would go; touch nothing")
    parser.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    if os.environ.get(CACHE_ENV) and not arguments.json:
        print(
            f"gc: the cache is shared ({CACHE_ENV}): objects that only other manifests' locks"
            " name are pruned too",
            file=sys.stderr,
        )
    keep: dict[Path, set[str]] = {}
    caches: dict[Path, Cache] = {}
    removed: list[dict[str, Any]] = []
    kept = 0
    with ExitStack() as locks:
        for path in arguments.manifests:
            session = open_session(path)
            workspace = session.workspace
            locks.enter_context(workspace.build_lock())
            cache = workspace.cache()
            caches.setdefault(cache.directory, cache)
            digests = keep.setdefault(cache.directory, set())
            for entry in read_recorded(session).lock.entries.values():
                digests.update(str(output.get("sha256")) for output in entry.get("outputs", ()))
        for directory, cache in caches.items():
            if arguments.dry_run:
                gone = [item for item in cache.objects() if item[0] not in keep[directory]]
            else:
                gone = cache.prune(keep[directory])
            kept += (
                len(cache.objects()) if not arguments.dry_run else len(cache.objects()) - len(gone)
            )
            removed += [
                {"sha256": digest, "size": size, "cache": str(directory)} for digest, size in gone
            ]
    freed = sum(item["size"] for item in removed)
    if arguments.json:
        print_json(
            {"removed": removed, "summary": {"objects": len(removed), "bytes": freed, "kept": kept}}
        )
        return 0
    verb = "would remove" if arguments.dry_run else "removed"
    for item in removed:
        print(f"{verb} {item['sha256']} ({format_size(item['size'])})")
    print(f"gc: {verb} {len(removed)} objects, {format_size(freed)} freed; {kept} kept")
    return 0
