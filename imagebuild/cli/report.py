"""``imagebuild report``: a static HTML gallery of the targets, compared with
a git revision's lock (default ``HEAD``) or another lock file.

It plans offline, as ``plan`` does, and never calls a provider.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebuild.cli.arguments import (
    add_manifests,
    add_remote,
    add_selection,
    print_json,
    remote_mode,
)
from imagebuild.errors import ImageBuildError
from imagebuild.pipeline import RemoteAccess, open_session, plan_session, read_recorded
from imagebuild.planning.cache import Cache
from imagebuild.planning.lock import LockFile, record_of

if TYPE_CHECKING:
    from imagebuild.report.cards import Section
    from imagebuild.report.gallery import Written

DEFAULT_FOLDER = "report"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "report", help="write an HTML gallery of the targets"
    )
    add_manifests(parser)
    add_selection(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help=f"folder of the report (default: {DEFAULT_FOLDER}/ beside the first manifest)",
    )
    parser.add_argument(
        "--against",
        metavar="REV|LOCKFILE",
        help="compare with this git revision's lock (default HEAD, inside git) or lock file",
    )
    add_remote(parser, writes=False)
    parser.set_defaults(handler=run)


def fetch_missing(lock: LockFile, cache: Cache, remote: RemoteAccess) -> None:
    """Old outputs the local cache lacks, fetched from the remote cache (verified)."""
    missing = {
        str(entry["fingerprint"]): record_of(entry)
        for entry in lock.entries.values()
        if entry.get("fingerprint")
        and not all(cache.object_path(o["sha256"]).is_file() for o in entry.get("outputs", ()))
    }
    opened = remote.get() if missing else None
    if opened is not None:
        opened.fetch(missing)


def run(arguments: argparse.Namespace) -> int:
    sections, written = write_report(arguments)
    if arguments.json:
        cards = [card for section in sections for card in section.cards]
        document = {
            "index": str(written.index),
            "targets": len(cards),
            "status": Counter(card.status for card in cards),
            "change": Counter(str(card.change) for card in cards if card.change is not None),
            "warnings": written.warnings,
        }
        print_json(document)
    else:
        print(written.index)
    return 0


def write_report(
    arguments: argparse.Namespace, *, live_reload: bool = False
) -> tuple[list[Section], Written]:
    """The gallery the arguments describe (``report``'s own, or ``watch``'s)."""
    from imagebuild.report.against import read_baseline
    from imagebuild.report.cards import make_section
    from imagebuild.report.gallery import write_gallery
    from imagebuild.report.previews import Previews

    sessions = [
        open_session(path, provider=arguments.provider, patterns=arguments.targets)
        for path in arguments.manifests
    ]
    sections = []
    for session in sessions:
        workspace = session.workspace
        stats = workspace.stat_cache()
        cache = workspace.cache()
        recorded = read_recorded(session)
        remote = RemoteAccess(session, cache, replace(remote_mode(arguments), read_only=True))
        try:
            _, plan = plan_session(session, recorded, stats, cache, remote=remote)
            baseline = read_baseline(workspace, session.manifest.display, arguments.against)
            if baseline is not None:
                fetch_missing(baseline.lock, cache, remote)
        finally:
            remote.close()
        sections.append(make_section(session, plan, recorded.lock, stats, baseline, cache))
        stats.save()
    # The first manifest's folder holds the report and the thumbnail cache.
    home = sessions[0].workspace
    folder = report_folder(arguments.output, home.root)
    title = "imagebuild report: " + ", ".join(section.manifest for section in sections)
    previews = Previews(home.state_dir / "thumbs")
    try:
        written = write_gallery(sections, folder, previews, title, live_reload=live_reload)
    except OSError as error:  # -o names a file, or a folder that cannot be written
        raise ImageBuildError(f"{folder}: cannot write the report: {error.strerror}") from None
    for warning in written.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return sections, written


def report_folder(output: str | None, root: Path) -> Path:
    return Path(output) if output else root / DEFAULT_FOLDER
