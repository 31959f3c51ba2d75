"""``imagebuild plan``: what a build would do, why, and what it would cost."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from imagebuild.cli.arguments import (
    add_format,
    add_manifests,
    add_planning,
    add_remote,
    add_selection,
    output_format,
    print_json,
    remote_mode,
)
from imagebuild.pipeline import open_session, preview_plan
from imagebuild.planning.plan import Action, Plan


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("plan", help="show what a build would do")
    add_manifests(parser)
    add_selection(parser)
    add_planning(parser)
    add_format(parser)
    add_remote(parser, writes=False)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    chosen = output_format(arguments)
    plans = []
    for path in arguments.manifests:
        session = open_session(path, provider=arguments.provider, patterns=arguments.targets)
        stats = session.workspace.stat_cache()
        plans.append(
            preview_plan(
                session,
                stats,
                force=arguments.force,
                reseed=arguments.reseed,
                mode=remote_mode(arguments),
            )
        )
        stats.save()
    if chosen == "json":
        print_json(merge_json(plans))
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
    return {
        "targets": [t for d in documents for t in d["targets"]],
        "removed": [name for d in documents for name in d["removed"]],
        "summary": summary,
    }


def cost_text(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def print_plan(plan: Plan, stream: TextIO) -> None:
    """Work first, one line per target; kept targets only counted."""
    width = max((len(name) for name in [*(s.name for s in plan.work), *plan.removed]), default=0)
    for step in plan.work:
        cost = f"  {cost_text(step.estimated_cost)}" if step.estimated_cost != 0.0 else ""
        print(
            f"{step.action:<9} {step.name:<{width}}  {'; '.join(step.reasons)}{cost}", file=stream
        )
    for name in plan.removed:
        reason = "left the manifest (imagebuild clean removes its files and entry)"
        print(f"{'remove':<9} {name:<{width}}  {reason}", file=stream)
    counts = ", ".join(f"{plan.count(action)} {action}" for action in Action if plan.count(action))
    removed = f", {len(plan.removed)} removed" if plan.removed else ""
    unpriced = f" + unknown for {len(plan.unpriced)}" if plan.unpriced else ""
    print(
        f"{len(plan.steps)} targets: {counts or 'nothing'}{removed}; "
        f"estimated cost ${plan.estimated_cost:.4f}{unpriced}",
        file=stream,
    )
