"""GitHub-flavoured markdown for pull requests, as Atlantis posts Terraform plans:
a one-line summary, then a table of the targets that change and why, folded
in ``<details>`` when long.

A comment on GitHub holds at most 65,536 characters, so a long document is
split into parts under :data:`COMMENT_LIMIT`, each complete on its own (its
heading says "part i of n", the summary repeats, the table keeps its header),
one comment per part. The input is the ``--json`` document of ``plan`` or
``build``, so markdown and JSON never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

COMMENT_LIMIT = 65_000
# Tables longer than this are folded, so the summary stays the first thing read.
FOLD_ROWS = 20
# A cell longer than this is cut: no single row may outgrow a comment.
CELL_LIMIT = 500

# Everything GitHub would read as markup inside a table cell: the pipe ends the
# cell, a newline the row, ``<`` opens HTML, ``$`` math; the rest is emphasis,
# code, links and entities.
_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "~": "\\~",
        "[": "\\[",
        "]": "\\]",
        "$": "\\$",
        "&": "&amp;",
        "<": "&lt;",
        "\r": "",
        "\n": "<br>",
    }
)


def escape(text: str) -> str:
    """``text`` as literal content of a GFM table cell."""
    if len(text) > CELL_LIMIT:
        text = text[: CELL_LIMIT - 1] + "…"
    return text.translate(_ESCAPES)


@dataclass(frozen=True, slots=True)
class Table:
    caption: str
    header: tuple[str, ...]
    align: tuple[str, ...]
    rows: list[str]

    def lines(self, rows: Sequence[str], caption: str) -> list[str]:
        table = [
            "| " + " | ".join(self.header) + " |",
            "| " + " | ".join(self.align) + " |",
            *rows,
        ]
        if len(self.rows) <= FOLD_ROWS:
            return table
        # A blank line after <summary> and before </details>: without them
        # GitHub reads the table as part of the HTML block, not as markdown.
        return [f"<details><summary>{caption}</summary>", "", *table, "", "</details>"]


def plan_parts(document: dict[str, Any], limit: int = COMMENT_LIMIT) -> list[str]:
    """``plan --format markdown``."""
    summary = document["summary"]
    work = [target for target in document["targets"] if target["action"] != "keep"]
    if not work:
        line = f"**No changes.** {summary['keep']} targets up to date."
        return _split("imagebuild plan", line, None, limit)
    counts = [
        f"{action} {summary[action]}"
        for action in ("generate", "restore", "derive", "keep")
        if summary[action]
    ]
    unpriced = sum(1 for t in work if t["action"] == "generate" and t["estimatedCost"] is None)
    line = f"**Plan:** {', '.join(counts)}; estimated cost ${summary['estimatedCost']:.4f}" + (
        f" (+{unpriced} unpriced)" if unpriced else ""
    )
    rows = [
        _row(
            target["action"],
            _code(target["name"]),
            escape("; ".join(target["reasons"])),
            _price(target["estimatedCost"], target["action"] == "generate"),
        )
        for target in work
    ]
    table = Table(
        f"{len(rows)} targets change",
        ("action", "target", "reasons", "estimated cost"),
        ("---", "---", "---", "---:"),
        rows,
    )
    return _split("imagebuild plan", line, table, limit)


def build_parts(document: dict[str, Any], line: str, limit: int = COMMENT_LIMIT) -> list[str]:
    """``build --format markdown``: the build's one-line summary as the terminal
    shows it, then every target that was not kept."""
    done = [
        target
        for target in document["targets"]
        if target["action"] != "keep" or target["status"] != "ok"
    ]
    rows = [
        _row(
            target["status"],
            target["action"],
            _code(target["name"]),
            _price(target["cost"], False),
            escape(target["error"] or ""),
        )
        for target in done
    ]
    table = Table(
        f"{len(rows)} targets built, failed or skipped",
        ("status", "action", "target", "cost", "error"),
        ("---", "---", "---", "---:", "---"),
        rows,
    )
    return _split("imagebuild build", f"**Build:** {escape(line)}", table, limit)


def write_parts(parts: list[str], directory: Path | None, stem: str, stream: TextIO) -> None:
    """Parts one after another on ``stream``; with ``directory``, one file per
    part, ``STEM-1.md`` and on, for CI to post as one comment each. Files of
    an earlier, longer run beyond the last part are removed."""
    if directory is None:
        stream.write("\n".join(parts))
        return
    directory.mkdir(parents=True, exist_ok=True)
    for number, part in enumerate(parts, 1):
        (directory / f"{stem}-{number}.md").write_text(part, encoding="utf-8")
    number = len(parts) + 1
    while (stale := directory / f"{stem}-{number}.md").exists():
        stale.unlink()
        number += 1


def _split(heading: str, line: str, table: Table | None, limit: int) -> list[str]:
    if table is None or not table.rows:
        return [f"### {heading}\n\n{line}\n"]
    rows = table.rows
    # What a part costs besides its rows, with the widest labels it can have.
    widest = len(rows)
    budget = limit - len(_part(heading, line, table, [], widest, widest, widest, widest))
    chunks: list[list[str]] = [[]]
    size = 0
    for row in rows:
        if chunks[-1] and size + len(row) + 1 > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += len(row) + 1
    parts = []
    first = 1
    for number, chunk in enumerate(chunks, 1):
        parts.append(_part(heading, line, table, chunk, number, len(chunks), first, widest))
        first += len(chunk)
    return parts


def _part(
    heading: str,
    line: str,
    table: Table,
    rows: list[str],
    number: int,
    count: int,
    first: int,
    total: int,
) -> str:
    caption = table.caption
    if count > 1:
        heading = f"{heading} (part {number} of {count})"
        caption = f"{caption}: rows {first}–{first + len(rows) - 1} of {total}"
    return "\n".join([f"### {heading}", "", line, "", *table.lines(rows, caption), ""])


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _code(name: str) -> str:
    """Target names (``[A-Za-z0-9][A-Za-z0-9._-]*``) hold nothing a code span must escape."""
    return f"`{name}`"


def _price(cost: float | None, paid: bool) -> str:
    if cost is None:
        return "$?" if paid else ""
    return f"${cost:.4f}" if cost else "free"
