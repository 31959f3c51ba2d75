"""``imagebuild report``: a static HTML gallery of the targets, compared with
a git revision's lock (default ``HEAD``) or another lock file.

It plans offline, as ``plan`` does, and never calls a provider.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from imagebuild.cli.arguments import add_manifests, add_selection
from imagebuild.errors import ImageBuildError
from imagebuild.pipeline import open_session, plan_session
from imagebuild.planning.lock import LockFile

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
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
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
        lock = LockFile.read(workspace.lock_path)
        _, plan = plan_session(session, lock, stats, cache)
        baseline = read_baseline(workspace, session.manifest.display, arguments.against)
        sections.append(make_section(session, plan, lock, stats, baseline, cache))
        stats.save()
    # The first manifest's folder holds the report and the thumbnail cache.
    home = sessions[0].workspace
    folder = Path(arguments.output) if arguments.output else home.root / DEFAULT_FOLDER
    title = "imagebuild report: " + ", ".join(section.manifest for section in sections)
    previews = Previews(home.state_dir / "thumbs")
    try:
        written = write_gallery(sections, folder, previews, title)
    except OSError as error:  # -o names a file, or a folder that cannot be written
        raise ImageBuildError(f"{folder}: cannot write the report: {error.strerror}") from None
    for warning in written.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if arguments.json:
        cards = [card for section in sections for card in section.cards]
        document = {
            "index": str(written.index),
            "targets": len(cards),
            "status": Counter(card.status for card in cards),
            "change": Counter(str(card.change) for card in cards if card.change is not None),
            "warnings": written.warnings,
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(written.index)
    return 0
