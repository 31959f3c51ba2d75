"""The command line, one module per command (``imagebuild --help`` lists them)."""

from __future__ import annotations

import argparse
import gc as collector
import itertools
import sys
from collections.abc import Sequence
from typing import NoReturn

from imagebuild import __version__
from imagebuild.cli import (
    build,
    clean,
    emulate,
    gc,
    graph,
    lock,
    plan,
    pull,
    push,
    report,
    show,
    validate,
    watch,
)
from imagebuild.cli.arguments import print_json
from imagebuild.errors import ImageBuildError, UsageError, error_document

COMMANDS = (
    validate,
    plan,
    build,
    watch,
    clean,
    gc,
    push,
    pull,
    lock,
    report,
    graph,
    show,
    emulate,
)


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes are one line (and JSON under --json), like every
    other error, instead of argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="imagebuild", description="make for AI-generated images")
    root.add_argument("--version", action="version", version=f"imagebuild {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    # Planning allocates many small, long-lived objects and frees almost
    # nothing; the cyclic collector would only rescan them (~10% of a 10,000
    # target plan). The build re-enables it before it starts executing.
    collector.disable()
    argv = list(sys.argv[1:] if argv is None else argv)
    arguments = None
    try:
        arguments = parser().parse_args(argv)
        code: int = arguments.handler(arguments)
    except ImageBuildError as error:
        print(str(error), file=sys.stderr)
        if _wants_json(arguments, argv):
            # A --json command answers in JSON even when it refuses.
            print_json(error_document(error))
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        collector.enable()
    return code


def _wants_json(arguments: argparse.Namespace | None, argv: list[str]) -> bool:
    """Whether the command asked for JSON, also when its arguments did not parse."""
    if arguments is None:
        pairs = set(itertools.pairwise(argv))
        return "--json" in argv or "--format=json" in argv or ("--format", "json") in pairs
    return bool(getattr(arguments, "json", False)) or getattr(arguments, "format", None) == "json"
