"""``imagebuild emulate runware|runcomfy``: an API emulator on loopback, to try manifests and
CI pipelines without spending.

The emulators, uvicorn and Pillow load only when the command runs: every other command builds
this parser too. The fault options are checked by ``Faults`` itself, in one place.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebuild.emulators.common import EmulatorApp

URL_VARIABLES = {"runware": ("RUNWARE_API_URL", "/v1"), "runcomfy": ("RUNCOMFY_API_URL", "")}


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "emulate", help="serve an emulated image API on loopback (nothing is spent)"
    )
    parser.add_argument("api", choices=sorted(URL_VARIABLES), help="the API to emulate")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="S", help="seconds each generation takes"
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="probability (0..1) that a request gets a fault",
    )
    parser.add_argument(
        "--faults",
        type=_kinds,
        default=None,
        metavar="KINDS",
        help="comma-separated fault kinds among 429,500,503,drop,malformed,truncate (default: all)",
    )
    parser.add_argument(
        "--retry-after", type=float, default=1.0, metavar="S", help="Retry-After of a 429"
    )
    parser.add_argument("--seed", type=int, default=None, help="repeatable faults and seeds")
    parser.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help="the only Runware key or RunComfy token accepted (default: any)",
    )
    parser.add_argument(
        "--credits",
        type=float,
        default=None,
        metavar="USD",
        help="Runware only: the account balance (default: unlimited)",
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from imagebuild.emulators import run_forever

    try:
        app = _emulator(arguments)
    except ValueError as error:
        print(f"imagebuild emulate: {error}", file=sys.stderr)
        return 2
    variable, suffix = URL_VARIABLES[arguments.api]
    try:
        run_forever(
            app,
            arguments.host,
            arguments.port,
            on_ready=lambda url: print(f"{variable}={url}{suffix}", flush=True),
        )
    except OSError as error:
        where = f"{arguments.host}:{arguments.port}"
        reason = os.strerror(error.errno) if error.errno else str(error)
        print(f"imagebuild emulate: cannot listen on {where}: {reason}", file=sys.stderr)
        return 1
    return 0


def _emulator(arguments: argparse.Namespace) -> EmulatorApp:
    """The emulator the arguments describe; ``ValueError`` names a bad option."""
    from imagebuild.emulators import Faults, RunComfyEmulator, RunwareEmulator
    from imagebuild.emulators.faults import FAULT_KINDS

    faults = Faults(
        latency=arguments.latency,
        fail_rate=arguments.fail_rate,
        kinds=arguments.faults or FAULT_KINDS,
        retry_after=arguments.retry_after,
        seed=arguments.seed,
    )
    if arguments.api == "runware":
        return RunwareEmulator(arguments.api_key, faults, arguments.credits)
    if arguments.credits is not None:
        raise ValueError("--credits applies to runware only")
    return RunComfyEmulator(arguments.api_key, faults)


def _kinds(text: str) -> tuple[str, ...]:
    return tuple(kind.strip() for kind in text.split(",") if kind.strip())
