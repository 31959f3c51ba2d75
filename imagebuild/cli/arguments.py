"""Arguments several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from imagebuild.errors import UsageError
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
    parser.add_argument(
        "--provider",
        choices=PROVIDER_CHOICES,
        help="run every target on this provider (local: offline draft previews)",
    )


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text (default), json (as --json) or markdown (a pull-request comment)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="markdown: write each part (one comment, under 65,000 characters) to DIR",
    )


def output_format(arguments: argparse.Namespace) -> str:
    """``--json`` is the short form of ``--format json``."""
    chosen = "json" if arguments.json else str(arguments.format)
    if arguments.output_dir is not None and chosen != "markdown":
        raise UsageError("-o/--output-dir goes with --format markdown")
    return chosen
