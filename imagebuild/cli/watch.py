"""``imagebuild watch``: rebuild on every save, and refresh the gallery.

For prompt work: edit a prompt, save, and the one target that changed is
rebuilt and the report in the browser reloads itself. Changes are watched
with watchfiles (native notifications on Linux, macOS and Windows) in the
manifest's folder, minus what imagebuild itself writes there; they are
debounced, and a save made while a build runs is picked up when it ends. A
mistake while typing (a manifest that does not parse) is reported, and the
watch goes on. On a paid provider ``--max-cost`` is required: it caps what
all the rebuilds of one watch spend together, and the watch stops before a
build would go over it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagebuild.cli.arguments import (
    PROVIDER_CHOICES,
    add_patterns,
    add_remote,
    non_negative_cost,
)
from imagebuild.errors import CostLimitError, ImageBuildError, UsageError
from imagebuild.pipeline import DEFAULT_MANIFEST, open_session

DEBOUNCE_MS = 300


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "watch", help="rebuild and refresh the report whenever a file changes"
    )
    parser.add_argument("manifest", nargs="?", default=DEFAULT_MANIFEST, metavar="MANIFEST")
    add_patterns(parser)
    parser.add_argument(
        "--provider", choices=PROVIDER_CHOICES, help="run every target on this provider"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=8, metavar="N", help="concurrent targets (default 8)"
    )
    parser.add_argument(
        "--max-cost",
        type=non_negative_cost,
        metavar="USD",
        help="the most all rebuilds may spend together (required on a paid provider)",
    )
    parser.add_argument("-o", "--output", metavar="DIR", help="the report's folder")
    parser.add_argument("--open", action="store_true", help="open the report in a browser")
    add_remote(parser, writes=True)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from imagebuild.cli.build import execute
    from imagebuild.cli.report import write_report

    session = open_session(
        arguments.manifest, provider=arguments.provider, patterns=arguments.targets
    )
    paid = sorted({t.provider for t in session.targets} - {"local", "derive"})
    if paid and arguments.max_cost is None:
        raise UsageError(
            f"watch: {', '.join(paid)} costs money: give --max-cost, the most all rebuilds"
            " may spend together"
        )
    build_arguments = _build_arguments(arguments)
    report_arguments = _report_arguments(arguments)
    spent = 0.0
    opened = False
    try:
        for _ in _rounds(session.manifest.path):
            if arguments.max_cost is not None:
                build_arguments.max_cost = max(0.0, arguments.max_cost - spent)
            try:
                report, seconds = execute(build_arguments)
                spent += report.cost
                print(report.line(seconds), file=sys.stderr, flush=True)
                if report.interrupted:
                    break
                _, written = write_report(report_arguments, live_reload=True)
            except CostLimitError as error:
                print(f"watch: stopping: {error} (spent ${spent:.4f} so far)", file=sys.stderr)
                return 1
            except ImageBuildError as error:
                # A mistake while typing: said, and the next save tries again.
                print(str(error), file=sys.stderr, flush=True)
                continue
            if arguments.open and not opened:
                import webbrowser

                webbrowser.open(written.index.as_uri())
                opened = True
            print(f"watch: {written.index} is up to date; waiting for changes", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    print("watch: stopped", file=sys.stderr)
    return 0


def _rounds(manifest: Path) -> Iterator[None]:
    """Once now, then once per batch of changes to the files a build reads:
    the manifest, the templates it includes, and its input files (what the
    build itself writes, and any other file, is no reason to build)."""
    import watchfiles

    class Sources(watchfiles.DefaultFilter):
        read: frozenset[Path] = frozenset()

        def __call__(self, change: watchfiles.Change, path: str) -> bool:
            return Path(path) in self.read and bool(super().__call__(change, path))

    sources = Sources()
    yield None
    sources.read = _sources(manifest)
    for _ in watchfiles.watch(
        manifest.parent.resolve(), watch_filter=sources, debounce=DEBOUNCE_MS
    ):
        yield None
        sources.read = _sources(manifest)


def _sources(manifest: Path) -> frozenset[Path]:
    """The files a build of ``manifest`` reads, real paths; only the manifest
    itself while it does not load."""
    try:
        session = open_session(str(manifest))
    except ImageBuildError:
        return frozenset({manifest.resolve()})
    root = session.manifest.root
    inputs = {root / relative for t in session.targets for relative in t.inputs.values()}
    read = {manifest, *session.manifest.includes, *inputs}
    return frozenset(path.resolve() for path in read)


def _build_arguments(arguments: argparse.Namespace) -> argparse.Namespace:
    from imagebuild.cli import parser

    argv = ["build", arguments.manifest, "-j", str(arguments.jobs)]
    argv += [option for target in arguments.targets for option in ("-t", target)]
    if arguments.provider:
        argv += ["--provider", arguments.provider]
    for flag in ("no_remote", "remote_read_only", "require_remote"):
        if getattr(arguments, flag):
            argv.append("--" + flag.replace("_", "-"))
    return parser().parse_args(argv)


def _report_arguments(arguments: argparse.Namespace) -> argparse.Namespace:
    from imagebuild.cli import parser

    argv = ["report", arguments.manifest]
    argv += [option for target in arguments.targets for option in ("-t", target)]
    if arguments.provider:
        argv += ["--provider", arguments.provider]
    if arguments.output:
        argv += ["-o", arguments.output]
    if arguments.no_remote:
        argv.append("--no-remote")
    return parser().parse_args(argv)
