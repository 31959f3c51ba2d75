"""Arguments several commands share."""

from __future__ import annotations

import argparse

from imagebuild.pipeline import DEFAULT_MANIFEST

PROVIDER_CHOICES = ("local", "runware", "runcomfy")


def add_manifests(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "manifests",
        nargs="*",
        default=[DEFAULT_MANIFEST],
        metavar="MANIFEST",
        help=f"manifest files (default: {DEFAULT_MANIFEST})",
    )


def add_selection(parser: argparse.ArgumentParser) -> None:
    add_targets(parser)
    parser.add_argument(
        "--provider",
        choices=PROVIDER_CHOICES,
        help="run every target on this provider (local: offline draft previews)",
    )


def add_targets(parser: argparse.ArgumentParser) -> None:
    """``-t`` (repeatable) and ``--json``."""
    parser.add_argument(
        "-t",
        "--target",
        dest="targets",
        action="append",
        default=[],
        metavar="TARGET",
        help="only this target (a name or a glob); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document on stdout")
