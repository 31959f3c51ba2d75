"""The page: one ``index.html`` that opens from ``file://`` with no server and
no network. Its CSS and script are package data, inlined; the cards travel as
one JSON blob that the script renders.

A live page (``live_reload``) polls ``reload.js`` beside it once a second and
reloads when the stamp that file sets changes; a command that rebuilds calls
``bump_reload_stamp`` after writing the page again.
"""

from __future__ import annotations

import html
import secrets
from functools import cache
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

import orjson

from imagebuild.planning.files import atomic_write

INDEX = "index.html"
RELOAD_SCRIPT = "reload.js"
# Inside <script> the HTML parser ends the element at "</script" and treats
# "<!--" specially, whatever JSON thinks of the string it is in; "<" never
# appears in JSON outside a string, so escaping it everywhere is safe. "&"
# and ">" go too, for any reader that unescapes entities first.
_SCRIPT_SAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def write_page(
    directory: Path, title: str, payload: dict[str, Any], *, live_reload: bool = False
) -> Path:
    """Write ``index.html`` into ``directory``; returns its path."""
    reload = ""
    if live_reload:
        stamp = secrets.token_hex(8)
        reload = "<script>\n" + _template("live-reload.js").substitute(stamp=stamp) + "</script>\n"
    text = _template("index.html").substitute(
        title=html.escape(title),
        style=_static("report.css"),
        script=_static("report.js"),
        data=script_json(payload),
        reload=reload,
    )
    path = directory / INDEX
    atomic_write(path, text.encode())
    if live_reload:
        # Written after the page: a poll between the two sees the old stamp
        # and waits for the next, instead of reloading the old page.
        _write_stamp(directory, stamp)
    return path


def bump_reload_stamp(directory: Path) -> str:
    """A new stamp in ``reload.js``: live pages open from ``directory`` reload."""
    stamp = secrets.token_hex(8)
    _write_stamp(directory, stamp)
    return stamp


def script_json(payload: dict[str, Any]) -> str:
    """``payload`` as JSON that cannot end or confuse the <script> holding it."""
    return orjson.dumps(payload).decode().translate(_SCRIPT_SAFE)


def _write_stamp(directory: Path, stamp: str) -> None:
    atomic_write(directory / RELOAD_SCRIPT, f'imagebuildReload("{stamp}");\n'.encode())


@cache
def _static(name: str) -> str:
    return files("imagebuild.report").joinpath("static", name).read_text(encoding="utf-8")


def _template(name: str) -> Template:
    return Template(_static(name))
