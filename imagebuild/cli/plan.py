"""``imagebuild plan``: what a build would do, why, and what it would cost."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import orjson

from imagebuild.cli.arguments import add_format, add_manifests, add_selection, output_format
from imagebuild.pipeline import open_session, plan_session
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import Action, Plan


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("plan", help="show what a build would do")
    add_manifests(parser)
    add_selection(parser)
    add_format(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    chosen = output_format(arguments)
    plans = []
    for path in arguments.manifests:
        session = open_session(path, provider=arguments.provider, patterns=arguments.targets)
        workspace = session.workspace
        stats = workspace.stat_cache()
        _, plan = plan_session(
            session, LockFile.read(workspace.lock_path), stats, workspace.cache()
        )
        stats.save()
        plans.append(plan)
    if chosen == "json":
        sys.stdout.write(
            orjson.dumps(merge_json(plans), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    elif chosen == "markdown":
        from imagebuild.report.markdown import plan_parts, write_parts

        write_parts(plan_parts(merge_json(plans)), arguments.output_dir, "plan", sys.stdout)
    else:
        for plan in plans:
            print_plan(plan, sys.stdout)
    return 0


def merge_json(plans: list[Plan]) -> dict[str, Any]:
    documents = [plan.to_json() for plan in plans]
    summary = {key: sum(d["summary"][key] for d in documents) for key in documents[0]["summary"]}
    summary["estimatedCost"] = round(summary["estimatedCost"], 6)
    return {"targets": [t for d in documents for t in d["targets"]], "summary": summary}


def print_plan(plan: Plan, stream: TextIO) -> None:
    """Work first, one line per target; kept targets only counted."""
    width = max((len(step.name) for step in plan.work), default=0)
    for step in plan.work:
        cost = f"  ${step.estimated_cost:.4f}" if step.estimated_cost else ""
        if step.action is Action.GENERATE and step.estimated_cost is None:
            cost = "  $?"
        print(
            f"{step.action:<9} {step.name:<{width}}  {'; '.join(step.reasons)}{cost}", file=stream
        )
    counts = ", ".join(f"{plan.count(action)} {action}" for action in Action if plan.count(action))
    unpriced = f" (+{len(plan.unpriced)} unpriced)" if plan.unpriced else ""
    print(
        f"{len(plan.steps)} targets: {counts or 'nothing'}; "
        f"estimated cost ${plan.estimated_cost:.4f}{unpriced}",
        file=stream,
    )
