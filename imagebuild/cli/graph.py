"""``imagebuild graph``: the target graph as Graphviz DOT or Mermaid."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from imagebuild.pipeline import DEFAULT_MANIFEST, open_session
from imagebuild.targets import Target


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("graph", help="print the target graph")
    parser.add_argument("manifest", nargs="?", default=DEFAULT_MANIFEST, metavar="MANIFEST")
    parser.add_argument("--format", choices=("dot", "mermaid"), default="dot")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    targets = open_session(arguments.manifest).targets
    render = to_dot if arguments.format == "dot" else to_mermaid
    sys.stdout.write(render(targets))
    return 0


def edges(targets: list[Target]) -> list[tuple[str, str, str]]:
    """(upstream, dependent, label): the label names the field that reads it."""
    found = []
    for target in targets:
        for path, reference in target.references.items():
            label = ".".join(str(part) for part in path if not isinstance(part, int))
            if reference.index != 1:
                label += f" #{reference.index}"
            found.append((reference.target, target.name, label))
    return found


def _kind(target: Target) -> str:
    return (
        "derived"
        if target.derived
        else f"{target.provider} {target.request.get('model', '')}".strip()
    )


def to_dot(targets: list[Target]) -> str:
    lines = ["digraph imagebuild {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for target in targets:
        style = ", style=rounded" if target.derived else ""
        lines.append(f'  "{target.name}" [label="{target.name}\\n{_kind(target)}"{style}];')
    lines += [f'  "{a}" -> "{b}" [label="{label}"];' for a, b, label in edges(targets)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(targets: list[Target]) -> str:
    ids = {target.name: f"t{index}" for index, target in enumerate(targets)}
    lines = ["flowchart LR"]
    for target in targets:
        left, right = ("(", ")") if target.derived else ("[", "]")
        lines.append(f'  {ids[target.name]}{left}"{target.name}<br/>{_kind(target)}"{right}')
    lines += [f"  {ids[a]} -->|{label}| {ids[b]}" for a, b, label in edges(targets)]
    return "\n".join(lines) + "\n"
