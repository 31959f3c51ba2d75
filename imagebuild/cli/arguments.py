"""Arguments several commands share."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import orjson

from imagebuild.errors import UsageError
from imagebuild.pipeline import DEFAULT_MANIFEST
from imagebuild.remote.settings import Mode

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
    add_patterns(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON document on stdout")


def add_patterns(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-t",
        "--target",
        dest="targets",
        action="append",
        default=[],
        metavar="TARGET",
        help="only this target (a name, a glob, or tag:TAG); repeatable",
    )


def add_planning(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="regenerate even what is up to date")
    parser.add_argument(
        "--reseed", action="store_true", help="draw new seeds for targets without one"
    )


def add_remote(parser: argparse.ArgumentParser, *, writes: bool) -> None:
    """How a command uses the manifest's remote cache (``cache.remote``)."""
    parser.add_argument("--no-remote", action="store_true", help="leave the remote cache alone")
    if writes:
        parser.add_argument(
            "--remote-read-only",
            action="store_true",
            help="read the remote cache, never write to it (pull requests, laptops)",
        )
    parser.add_argument(
        "--require-remote",
        action="store_true",
        help="a remote cache problem fails the command (CI) instead of one warning",
    )


def remote_mode(arguments: argparse.Namespace) -> Mode:
    return Mode.from_flags(
        no_remote=arguments.no_remote,
        read_only=getattr(arguments, "remote_read_only", False),
        required=arguments.require_remote,
    )


def print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def non_negative_cost(text: str) -> float:
    """An amount of US dollars: a finite number, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USD") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USD (0 or more)")
    return value


def format_size(size: int) -> str:
    """``1.2 MB``: sizes for people, in powers of 1,000 as file managers show them."""
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


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
