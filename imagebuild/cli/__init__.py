"""The command line: ``imagebuild validate|plan|build|graph|emulate``, one module per command."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

from imagebuild import __version__
from imagebuild.cli import build, emulate, graph, plan, report, validate
from imagebuild.errors import ImageBuildError

COMMANDS = (validate, plan, build, graph, report, emulate)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="imagebuild", description="make for AI-generated images")
    root.add_argument("--version", action="version", version=f"imagebuild {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    # Planning allocates many small, long-lived objects and frees almost
    # nothing; the cyclic collector would only rescan them (~10% of a 10,000
    # target plan). The build re-enables it before it starts executing.
    gc.disable()
    try:
        arguments = parser().parse_args(argv)
        code: int = arguments.handler(arguments)
    except ImageBuildError as error:
        print(str(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        gc.enable()
    return code
