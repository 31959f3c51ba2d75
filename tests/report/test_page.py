"""The page: self-contained, safe for any string, optionally live."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import orjson

from imagebuild.report.page import RELOAD_SCRIPT, bump_reload_stamp, script_json, write_page

HOSTILE = '</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> & "\u2028'


class Scripts(HTMLParser):
    """What a browser's parser puts in each <script> element, and every URL."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.urls: list[str] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def parse(path: Path) -> Scripts:
    parser = Scripts()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_the_data_survives_any_string_and_cannot_end_its_script(tmp_path: Path) -> None:
    payload = {"cards": [{"name": "x", "prompt": HOSTILE, "tags": [HOSTILE]}], "title": HOSTILE}
    page = parse(write_page(tmp_path, HOSTILE, payload))
    (data,) = [text for attrs, text in page.scripts if attrs.get("type") == "application/json"]
    assert orjson.loads(data) == payload
    assert len(page.scripts) == 2  # the data and the gallery's script; nothing injected


def test_script_json_has_no_markup_characters() -> None:
    text = script_json({"a": "<>&</script>"})
    assert not set("<>&") & set(text)
    assert orjson.loads(text) == {"a": "<>&</script>"}


def test_the_title_is_escaped(tmp_path: Path) -> None:
    text = write_page(tmp_path, "<b>x</b> & y", {"cards": []}).read_text()
    assert "<title>&lt;b&gt;x&lt;/b&gt; &amp; y</title>" in text
    assert "<b>x</b>" not in text


def test_everything_the_page_needs_is_inside_it(tmp_path: Path) -> None:
    path = write_page(tmp_path, "t", {"cards": []})
    page = parse(path)
    assert page.urls == []  # no stylesheet, script or font from anywhere
    assert not re.search(r"https?://", path.read_text())
    assert "<style>" in path.read_text() and ".card" in path.read_text()
    assert not (tmp_path / RELOAD_SCRIPT).exists()


def test_a_live_page_polls_a_stamp_that_a_bump_changes(tmp_path: Path) -> None:
    page = write_page(tmp_path, "t", {"cards": []}, live_reload=True).read_text()
    stamp = re.search(r'imagebuildReload\("([0-9a-f]+)"\)', (tmp_path / RELOAD_SCRIPT).read_text())
    assert stamp is not None
    assert f'var stamp = "{stamp.group(1)}";' in page
    assert '"reload.js?"' in page
    new = bump_reload_stamp(tmp_path)
    assert new != stamp.group(1)
    assert (tmp_path / RELOAD_SCRIPT).read_text() == f'imagebuildReload("{new}");\n'
