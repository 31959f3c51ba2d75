"""Pull-request markdown, read back by a real GFM parser (markdown-it-py with tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from imagebuild.report.markdown import (
    CELL_LIMIT,
    COMMENT_LIMIT,
    FOLD_ROWS,
    build_parts,
    escape,
    plan_parts,
)
from tests.conftest import Project

GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# What a cell may hold: text, the target's code span, and <br> for a newline.
# Anything else (emphasis, links, strikethrough, HTML) means escaping failed.
PLAIN = {"text", "code_inline", "html_inline"}


def plan_document(count: int, reasons: list[str] | None = None) -> dict[str, Any]:
    """A plan's JSON document for a change of ``count`` targets, a few of each kind."""
    targets = []
    for index in range(count):
        action = ("generate", "restore", "derive", "keep")[index % 4]
        targets.append(
            {
                "name": f"banner-{index:03}",
                "action": action,
                "reasons": []
                if action == "keep"
                else (reasons or [f"width changed {index} -> 512"]),
                "estimatedCost": 0.03 if action == "generate" else 0.0,
                "outputs": [f"out/banner-{index:03}.png"],
            }
        )
    summary = {
        a: sum(1 for t in targets if t["action"] == a)
        for a in ("keep", "restore", "generate", "derive")
    }
    summary["estimatedCost"] = round(0.03 * summary["generate"], 6)
    return {"targets": targets, "summary": summary}


def cell_text(inline: Token) -> str:
    children = inline.children or []
    kinds = {child.type for child in children}
    assert kinds <= PLAIN, (kinds, inline.content)
    text = []
    for child in children:
        if child.type == "html_inline":
            assert child.content == "<br>"
            text.append("\n")
        else:
            text.append(child.content)
    return "".join(text)


def tables(markdown: str) -> list[list[list[str]]]:
    """Every table's rows (header first) as the reader sees their cells."""
    found: list[list[list[str]]] = []
    row: list[str] = []
    for token in GFM.parse(markdown):
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and found and token.level > 2:
            row.append(cell_text(token))
        elif token.type == "tr_close":
            found[-1].append(row)
    return found


def html_blocks(markdown: str) -> list[str]:
    return [t.content.strip() for t in GFM.parse(markdown) if t.type == "html_block"]


def test_a_300_target_change_is_one_folded_table_with_every_change() -> None:
    document = plan_document(300)
    (part,) = plan_parts(document)
    assert len(part) < COMMENT_LIMIT
    first = GFM.parse(part)
    assert [t.type for t in first[:3]] == ["heading_open", "inline", "heading_close"]
    assert first[1].content == "imagebuild plan"
    assert first[4].content == (
        "**Plan:** generate 75, restore 75, derive 75, keep 75; estimated cost $2.2500"
    )
    assert html_blocks(part) == ["<details><summary>225 targets change</summary>", "</details>"]
    (table,) = tables(part)
    header, *rows = table
    assert header == ["action", "target", "reasons", "estimated cost"]
    expected = [t for t in document["targets"] if t["action"] != "keep"]
    assert [row[1] for row in rows] == [t["name"] for t in expected]
    assert rows[0] == ["generate", "banner-000", "width changed 0 -> 512", "$0.0300"]
    assert rows[1] == ["restore", "banner-001", "width changed 1 -> 512", "free"]
    assert {row[0] for row in rows} == {"generate", "restore", "derive"}


def test_a_short_table_is_not_folded() -> None:
    (part,) = plan_parts(plan_document(8))
    assert html_blocks(part) == []
    assert len(tables(part)[0]) == 1 + 6


HOSTILE = [
    "a | b || c",
    "line one\nline two\r\nline three",
    "`code` and ``more``",
    "<script>alert(1)</script> <b>bold</b>",
    "*em* **strong** _under_ ~~struck~~",
    "[link](https://example.com) ![img](x.png)",
    "$x^2$ and $$y$$",
    "&amp; &lt; &#60;",
    "trailing backslash \\",
    "# not a heading",
    "- not a list",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_cells_read_back_as_the_text(text: str) -> None:
    document = plan_document(1, reasons=[text])
    (part,) = plan_parts(document)
    (table,) = tables(part)
    assert table[1][2] == text.replace("\r\n", "\n")
    assert "<script>" not in GFM.render(part)


def test_every_hostile_reason_in_one_table() -> None:
    (part,) = plan_parts(plan_document(len(HOSTILE) * 4, reasons=HOSTILE))
    (table,) = tables(part)
    assert all(row[2] == "; ".join(HOSTILE).replace("\r\n", "\n") for row in table[1:])


def test_a_long_cell_is_cut() -> None:
    assert escape("x" * (CELL_LIMIT * 3)) == "x" * (CELL_LIMIT - 1) + "…"


def test_over_the_limit_the_plan_is_split_into_complete_parts() -> None:
    document = plan_document(1200, reasons=["prompt changed; " + "seed & <style> | " * 6])
    parts = plan_parts(document)
    assert len(parts) > 1
    expected = [t["name"] for t in document["targets"] if t["action"] != "keep"]
    names = []
    for number, part in enumerate(parts, 1):
        assert len(part) < COMMENT_LIMIT
        tokens = GFM.parse(part)
        assert tokens[1].content == f"imagebuild plan (part {number} of {len(parts)})"
        assert tokens[4].content.startswith("**Plan:** generate 300, restore 300, derive 300")
        (table,) = tables(part)
        assert table[0] == ["action", "target", "reasons", "estimated cost"]
        blocks = html_blocks(part)
        assert blocks[-1] == "</details>"
        first, last = len(names) + 1, len(names) + len(table) - 1
        assert blocks[0] == (
            f"<details><summary>900 targets change: rows {first}–{last} of 900</summary>"
        )
        names += [row[1] for row in table[1:]]
    assert names == expected


@pytest.mark.parametrize("limit", [2_000, 5_000, 10_000])
def test_every_part_stays_under_a_given_limit(limit: int) -> None:
    parts = plan_parts(plan_document(400), limit=limit)
    assert len(parts) > 1
    assert all(len(part) < limit for part in parts)
    assert sum(len(tables(part)[0]) - 1 for part in parts) == 300


def test_no_changes_is_one_line() -> None:
    document = plan_document(4)
    for target in document["targets"]:
        target["action"] = "keep"
    document["summary"] = {"keep": 4, "restore": 0, "generate": 0, "derive": 0, "estimatedCost": 0}
    assert plan_parts(document) == [
        "### imagebuild plan\n\n**No changes.** 4 targets up to date.\n"
    ]


def test_unpriced_generations_are_counted_and_shown() -> None:
    document = plan_document(4)
    document["targets"][0]["estimatedCost"] = None
    (part,) = plan_parts(document)
    assert GFM.parse(part)[4].content.endswith("(+1 unpriced)")
    assert tables(part)[0][1][3] == "$?"


def build_document(failed: int = 0) -> dict[str, Any]:
    targets = [
        {"name": "hero", "action": "generate", "status": "ok", "cost": 0.05, "error": None},
        {"name": "hero-sq", "action": "derive", "status": "ok", "cost": 0.0, "error": None},
        {"name": "logo", "action": "keep", "status": "ok", "cost": None, "error": None},
    ]
    targets += [
        {
            "name": f"bad-{n}",
            "action": "generate",
            "status": "failed",
            "cost": None,
            "error": "Runware rejected the API key | <RUNWARE_API_KEY>",
        }
        for n in range(failed)
    ]
    return {"targets": targets, "summary": {}}


def test_build_summary_and_table() -> None:
    line = "1 generated, 1 derived, 1 kept, 1 failed; cost $0.0500; 1 lost submission may still be billed; 3.25s"
    (part,) = build_parts(build_document(failed=1), line)
    tokens = GFM.parse(part)
    assert tokens[1].content == "imagebuild build"
    assert f"<p><strong>Build:</strong> {line}</p>" in GFM.render(part)
    (table,) = tables(part)
    assert table == [
        ["status", "action", "target", "cost", "error"],
        ["ok", "generate", "hero", "$0.0500", ""],
        ["ok", "derive", "hero-sq", "free", ""],
        ["failed", "generate", "bad-0", "", "Runware rejected the API key | <RUNWARE_API_KEY>"],
    ]


def test_a_long_build_table_is_folded_and_split() -> None:
    parts = build_parts(build_document(failed=FOLD_ROWS * 40), "many failed", limit=10_000)
    assert len(parts) > 1
    assert all(html_blocks(part)[0].startswith("<details>") for part in parts)
    assert sum(len(tables(part)[0]) - 1 for part in parts) == 2 + FOLD_ROWS * 40


MANY = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - name: "banner-{{ n }}"
    matrix:
      n: [%s]
    prompt: "banner {{ n }}"
"""


def test_plan_format_markdown_for_300_targets(project: Project) -> None:
    project.write(MANY % ", ".join(map(str, range(300))))
    result = project.run("plan", "--format", "markdown")
    assert result.code == 0, result.err
    (table,) = tables(result.out)
    assert len(table) == 301
    assert {row[0] for row in table[1:]} == {"generate"}
    assert {row[2] for row in table[1:]} == {"new target"}
    assert {row[1] for row in table[1:]} == {f"banner-{n}" for n in range(300)}


def test_plan_parts_go_to_files_for_ci(project: Project) -> None:
    project.write(MANY % ", ".join(map(str, range(2000))))
    (project.root / "comments").mkdir()
    for stale in (3, 4):
        (project.root / f"comments/plan-{stale}.md").write_text("from an earlier run")
    result = project.run("plan", "--format", "markdown", "-o", "comments")
    assert (result.code, result.out) == (0, "")
    files = sorted((project.root / "comments").iterdir())
    assert [path.name for path in files] == ["plan-1.md", "plan-2.md"]
    rows = 0
    for number, path in enumerate(files, 1):
        text = path.read_text(encoding="utf-8")
        assert len(text) < COMMENT_LIMIT
        assert GFM.parse(text)[1].content == f"imagebuild plan (part {number} of 2)"
        rows += len(tables(text)[0]) - 1
    assert rows == 2000


def test_build_format_markdown(project: Project) -> None:
    project.write(MANY % "1, 2")
    result = project.run("build", "--format", "markdown")
    assert result.code == 0, result.err
    assert "<p><strong>Build:</strong> 2 generated; cost $0.0000; " in GFM.render(result.out)
    (table,) = tables(result.out)
    assert sorted(row[2] for row in table[1:]) == ["banner-1", "banner-2"]


def test_json_is_the_short_form_of_format_json(project: Project) -> None:
    project.write(MANY % "1, 2")
    assert project.run("plan", "--json").out == project.run("plan", "--format", "json").out


def test_output_dir_needs_markdown(project: Project, tmp_path: Path) -> None:
    project.write(MANY % "1")
    result = project.run("plan", "-o", str(tmp_path / "x"))
    assert (result.code, result.err) == (2, "-o/--output-dir goes with --format markdown\n")
    assert not (tmp_path / "x").exists()
