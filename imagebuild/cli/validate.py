"""``imagebuild validate``: every request against its model's schema, no lock, no network."""

from __future__ import annotations

import argparse
from typing import Any

from imagebuild.cli.arguments import add_manifests
from imagebuild.pipeline import check_requests, open_session


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "validate", help="check manifests before spending"
    )
    add_manifests(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    for path in arguments.manifests:
        session = open_session(path)
        check_requests(session.manifest, session.targets)
        print(f"{path}: {len(session.targets)} targets valid")
    return 0
