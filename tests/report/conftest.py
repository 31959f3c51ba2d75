"""Helpers of the report's tests: a section planned as ``report`` plans it,
the card data read back from a written page, and git in a folder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import orjson

from imagebuild.pipeline import open_session, plan_session, read_recorded
from imagebuild.planning.lock import LockFile
from imagebuild.report.against import Baseline
from imagebuild.report.cards import Section, make_section

_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def planned_section(
    manifest: str, baseline: LockFile | None = None, targets: list[str] | None = None
) -> Section:
    """The cards of ``manifest``, compared with ``baseline`` (labelled "old")."""
    session = open_session(manifest, patterns=targets)
    workspace = session.workspace
    recorded = read_recorded(session)
    stats = workspace.stat_cache()
    _, plan = plan_session(session, recorded, stats, workspace.cache())
    compared = None if baseline is None else Baseline("old", baseline)
    return make_section(session, plan, recorded.lock, stats, compared, workspace.cache())


def page_data(index: Path) -> dict[str, Any]:
    found = _DATA.search(index.read_text(encoding="utf-8"))
    assert found is not None, "no card data in the page"
    data: dict[str, Any] = orjson.loads(found.group(1))
    return data


def cards_by_name(index: Path) -> dict[str, dict[str, Any]]:
    return {card["name"]: card for card in page_data(index)["cards"]}


def git(root: Path, *argv: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *argv],
        cwd=root,
        check=True,
        capture_output=True,
    )
