"""Sandboxed Jinja rendering: typed single expressions, a fast path that must
agree with Jinja exactly, and a sandbox that refuses escapes."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from imagebuild.manifest.template import TemplateEngine, TemplateError

CONTEXT: dict[str, Any] = {
    "city": "tokyo",
    "width": 1024,
    "ratio": 1.5,
    "draft": True,
    "final": False,
    "nothing": None,
    "empty": "",
    "big": 10**20,
    "tiny": 1e-7,
    "tags": ["a", "b"],
    "size": {"w": 640, "h": 480, "name": "square"},
    "d": {
        "items": "ITEMS",
        "keys": "KEYS",
        "values": [1, 2],
        "get": "GET",
        "k": "v",
        "_hidden": "h",
        "none": None,
        "flag": False,
        "f": 0.25,
        "nested": {"deep": {"x": 1, "s": "str", "l": [3]}},
    },
    "_private": "p",
}


def reference(text: str, context: dict[str, Any]) -> str:
    """What a fresh Jinja sandbox with strict undefined renders."""
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    return env.from_string(text).render(context)


def render(
    text: str, context: dict[str, Any] | None = None, engine: TemplateEngine | None = None
) -> Any:
    """Render with a fresh engine (or the given one) over ``CONTEXT`` by default."""
    engine = engine or TemplateEngine()
    return engine.render(text, engine.context(CONTEXT if context is None else context))


@pytest.mark.parametrize(
    "text",
    ["plain", "", "50% off", "out/hero.png", "}} not a template", "{not jinja}", "a {b} c"],
)
def test_strings_without_expressions_are_unchanged(text: str) -> None:
    assert render(text) == text


def test_is_template_looks_for_a_brace() -> None:
    assert TemplateEngine.is_template("{{ x }}")
    assert TemplateEngine.is_template("{% if x %}y{% endif %}")
    assert not TemplateEngine.is_template("plain text")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ width }}", 1024),
        ("{{ size.w }}", 640),
        ("{{ size['h'] }}", 480),
        ("{{ ratio }}", 1.5),
        ("{{ draft }}", True),
        ("{{ final }}", False),
        ("{{ nothing }}", None),
        ("{{ tags }}", ["a", "b"]),
        ("{{ size }}", {"w": 640, "h": 480, "name": "square"}),
        ("{{ width * 2 }}", 2048),
        ("{{ width / 2 }}", 512.0),
        ("{{ [size.w, size.h] }}", [640, 480]),
        ("{{ {'w': size.w} }}", {"w": 640}),
        ("{{ tags | length }}", 2),
        ("{{ d.nested.deep.l }}", [3]),
        ("{{ empty }}", ""),
    ],
)
def test_a_single_expression_keeps_its_type(text: str, expected: Any) -> None:
    value = render(text)
    assert value == expected
    assert type(value) is type(expected)


def test_mixed_text_renders_a_string() -> None:
    assert render("out/{{ city }}/{{ size.name }}-{{ width }}.png") == "out/tokyo/square-1024.png"
    assert render("{{ width }}x{{ size.h }}") == "1024x480"
    assert render("{{ size.w }} px") == "640 px"


# Each template is rendered by the engine and by a fresh Jinja sandbox; whatever
# path the engine takes (direct substitution or Jinja), the text must agree.
COMPARED = [
    "{{ city }}",
    "{{ width }}",
    "{{ ratio }}",
    "{{ draft }}",
    "{{ nothing }}",
    "{{ big }}",
    "{{ tiny }}",
    "{{ tags }}",
    "{{ size }}",
    "{{ size.w }}",
    "{{ size['w'] }}",
    "{{ size.name }}",
    "{{ d.k }}",
    "{{ d['k'] }}",
    "{{ d.items }}",
    "{{ d.keys }}",
    "{{ d.values }}",
    "{{ d.get }}",
    "{{ d['items'] }}",
    "{{ d['keys'] }}",
    "{{ d['values'] }}",
    "{{ d['get'] }}",
    "{{ d._hidden }}",
    "{{ d['_hidden'] }}",
    "{{ d.none }}",
    "{{ d.flag }}",
    "{{ d.f }}",
    "{{ d.nested.deep.x }}",
    "{{ d['nested']['deep']['s'] }}",
    "{{ d.nested['deep'].x }}",
    "{{ d.nested.deep }}",
    "{{ _private }}",
    "{{ city.upper }}",
    "{{ empty }}",
    "{{ tags[0] }}",
    "out/{{ city }}/{{ size.name }}.png",
    "{{ city }}-{{ width }}-{{ ratio }}-{{ draft }}-{{ final }}",
    "a{{ nothing }}b",
    "a{{ d.none }}b{{ d.flag }}c{{ d.f }}",
    "x{{ tags }}y",
    "x{{ size }}y",
    "[{{ d.items }}]",
    "[{{ d.keys }}|{{ d['keys'] }}]",
    "[{{ d.values }}]",
    "{{ _private }}/{{ d._hidden }}",
    "{{ big }}:{{ tiny }}",
    "{{ empty }}|{{ empty }}",
    "{{ city }}{{ city }}",
    "{{ d.nested.deep.x }}-{{ d.nested.deep.s }}-{{ d.nested.deep.l }}",
    "{{ d.k }}\n",
    "line one\n{{ city }}\nline three",
    "{{ city | upper }}-{{ width + 1 }}",
    "{% if draft %}draft-{% endif %}{{ city }}",
    '{{ d["k"] }}',
    "{{ d[ 'nested' ][\"deep\"].x }}",
    "{{city}}",
    "{{   size.w   }}",
    "{{\tcity }}",
    "a {{ city }}\n",
    "a {{ city }}\n\n",
    "{{ city }}\r\nx\r\n",
    "x\n{{ width }}\n",
    "{{ width }}}",
]


@pytest.mark.parametrize("text", COMPARED)
def test_rendering_agrees_with_jinja(text: str) -> None:
    assert str(render(text)) == reference(text, CONTEXT)


@pytest.mark.parametrize("text", COMPARED)
def test_rendering_agrees_with_jinja_when_every_value_is_different(text: str) -> None:
    # Same templates, other values: scalars where there were mappings and back.
    context = copy.deepcopy(CONTEXT)
    context.update(city=42, width="wide", ratio=None, draft="yes", nothing=0.5, tags="ab")
    context["size"] = {"w": "w", "h": True, "name": None}
    context["d"]["k"] = {"inner": 1}
    context["d"]["nested"]["deep"] = {"x": [1], "s": None, "l": "l"}
    try:
        expected = reference(text, context)
    except Exception:  # whatever Jinja raises, the engine raises as a TemplateError
        with pytest.raises(TemplateError):
            render(text, context)
    else:
        assert str(render(text, context)) == expected


def test_one_engine_reused_across_contexts_renders_each_context() -> None:
    engine = TemplateEngine()
    results = [
        engine.render("out/{{ c }}/{{ s.n }}.png", engine.context({"c": c, "s": {"n": n}}))
        for c, n in [("tokyo", 1), ("paris", None), ("lagos", {"x": 1})]
    ]
    assert results == ["out/tokyo/1.png", "out/paris/None.png", "out/lagos/{'x': 1}.png"]
    assert engine.render("{{ c }}", engine.context({"c": 5})) == 5
    assert engine.render("{{ c }}", engine.context({"c": [5]})) == [5]


def test_dict_attribute_that_is_a_method_is_the_method_as_in_jinja() -> None:
    value = render("{{ d.items }}")
    assert value != "ITEMS"
    assert value == CONTEXT["d"].items
    assert render("{{ d['items'] }}") == "ITEMS"


def test_context_holds_jinja_globals_under_the_variables() -> None:
    engine = TemplateEngine()
    assert engine.render("{{ range(3) | list }}", engine.context({})) == [0, 1, 2]
    assert engine.render("{{ range }}", engine.context({"range": "mine"})) == "mine"


@pytest.mark.parametrize(
    "text",
    [
        "{{ missing }}",
        "out/{{ missing }}.png",
        "{{ size.depth }}",
        "x{{ size.depth }}",
        "{{ size['depth'] }}",
        "{{ d.nested.deep.y }}",
        "a{{ d.nested.deep.y }}",
        "{{ city.nope }}",
        "{{ missing.attr }}",
        "{{ missing | upper }}",
        "{% if missing %}x{% endif %}",
        "{{ _missing }}",
    ],
)
def test_missing_names_raise_an_undefined_template_error(text: str) -> None:
    with pytest.raises(TemplateError, match="undefined"):
        render(text)


@pytest.mark.parametrize("text", ["{{ [missing] }}", "{{ {'k': missing} }}"])
def test_missing_names_inside_a_typed_container_raise(text: str) -> None:
    with pytest.raises(TemplateError, match="undefined"):
        render(text)


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__ }}",
        "x{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ city.__class__.__mro__[1].__subclasses__() }}",
        "{{ size.__class__ }}",
        "{{ width.__class__.__name__ }}",
        "{{ city.__len__() }}",
        "{{ [].append(1) }}",
        "{{ tags.append('c') }}",
        "{{ d.update({}) }}",
        "{{ size.update({'w': 1}) }}",
        "{{ size.pop('w') }}",
        "{{ size.clear() }}",
        "x{{ tags.append('c') }}",
    ],
)
def test_sandbox_refuses_unsafe_access_and_mutation(text: str) -> None:
    context = copy.deepcopy(CONTEXT)
    with pytest.raises(TemplateError, match="sandbox"):
        render(text, context)
    assert context == CONTEXT  # nothing ran: no list grew, no dict changed


def test_sandbox_blocks_huge_ranges() -> None:
    with pytest.raises(TemplateError, match="Range too big"):
        render("{{ range(10**9) | list }}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ city | upper }}", "TOKYO"),
        ("poster-{{ city | upper }}", "poster-TOKYO"),
        ("{{ missing | default('fallback') }}", "fallback"),
        ("{{ size.depth | default(3) }}", 3),
        ("{{ tags | join('-') }}", "a-b"),
        ("{{ tags | join(', ') | upper }}", "A, B"),
        ("{{ ratio | round | int }}", 2),
        ("{% for t in tags %}{{ t }};{% endfor %}", "a;b;"),
        ("{{ 'x' if draft else 'y' }}", "x"),
    ],
)
def test_filters_and_statements_work(text: str, expected: Any) -> None:
    value = render(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "{{ city }",
        "{{ city",
        "{% if %}",
        "{% if draft %}no end",
        "{{ city | nofilter }}",
        "{{ ) }}",
    ],
)
def test_template_syntax_errors_raise_template_error(text: str) -> None:
    with pytest.raises(TemplateError, match="syntax"):
        render(text)


@pytest.mark.parametrize("text", ["{{ 1/0 }}", "x{{ 1/0 }}", "{{ width // 0 }}", "{{ 'a' + 1 }}"])
def test_an_exception_in_an_expression_becomes_a_template_error(text: str) -> None:
    with pytest.raises(TemplateError, match=r"template error: (ZeroDivisionError|TypeError)"):
        render(text)


def test_include_resolves_relative_to_the_search_dir(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "style.j2").write_text("cinematic {{ city }}", encoding="utf-8")
    engine = TemplateEngine(tmp_path)
    text = 'poster, {% include "prompts/style.j2" %}'
    assert render(text, engine=engine) == "poster, cinematic tokyo"


def test_import_of_macros_resolves_relative_to_the_search_dir(tmp_path: Path) -> None:
    (tmp_path / "macros.j2").write_text(
        "{% macro shot(subject) %}photo of {{ subject }}{% endmacro %}", encoding="utf-8"
    )
    engine = TemplateEngine(tmp_path)
    assert render('{% import "macros.j2" as m %}{{ m.shot(city) }}', engine=engine) == (
        "photo of tokyo"
    )
    assert render('{% from "macros.j2" import shot %}{{ shot("a fox") }}', engine=engine) == (
        "photo of a fox"
    )


def test_include_outside_the_search_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.j2").write_text("SECRET", encoding="utf-8")
    (tmp_path / "manifests").mkdir()
    engine = TemplateEngine(tmp_path / "manifests")
    for text in ['{% include "../outside.j2" %}', 'x{% include "../outside.j2" %}']:
        with pytest.raises(TemplateError, match="not found"):
            render(text, engine=engine)


def test_include_of_a_missing_file_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not found"):
        render('{% include "absent.j2" %}', engine=TemplateEngine(tmp_path))


def test_include_without_a_search_dir_is_a_template_error() -> None:
    with pytest.raises(TemplateError):
        render('{% include "x.j2" %}', engine=TemplateEngine())


@pytest.mark.parametrize("text", ["{{- city -}}", "{{ width -}}", "{{- size.w }}"])
def test_whitespace_control_on_a_single_expression(text: str) -> None:
    assert str(render(text)) == reference(text, CONTEXT)


def test_statement_smuggled_into_a_single_expression_is_a_syntax_error() -> None:
    with pytest.raises(TemplateError, match="syntax"):
        render("{{ width) %}{% set y = (1 }}")


def test_a_variable_named_self_renders_as_jinja_renders_it() -> None:
    context = {**CONTEXT, "self": "me"}
    assert str(render("{{ self }}", context)) == reference("{{ self }}", context)


@pytest.mark.parametrize(
    "text",
    ["{{ true }}", "{{ none }}", "{{ True }}", "{{ None }}", "x{{ false }}y", "{{ d.true }}"],
)
def test_names_jinja_reads_as_constants_render_as_jinja_renders_them(text: str) -> None:
    context = {**CONTEXT, "true": "T", "none": "N", "True": "T2", "None": "N2", "false": "F"}
    context["d"] = {**CONTEXT["d"], "true": "dt"}
    assert str(render(text, context)) == reference(text, context)


def test_plain_substitutions_never_import_jinja(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from imagebuild.manifest.template import TemplateEngine\n"
        "engine = TemplateEngine()\n"
        "context = engine.context({'n': 3, 'size': {'w': 8, 'name': 'sq'}})\n"
        "assert engine.render('out/{{ n }}/{{ size.name }}.png', context) == 'out/3/sq.png'\n"
        "assert engine.render('{{ size.w }}', context) == 8\n"
        "assert 'jinja2' not in sys.modules\n"
        "assert engine.render('{{ n | string }}', context) == '3'\n"
        "assert 'jinja2' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)


def test_an_included_template_reads_jinja_globals(tmp_path: Path) -> None:
    (tmp_path / "count.j2").write_text("{% for i in range(3) %}{{ i }}{% endfor %}")
    engine = TemplateEngine(tmp_path)
    assert engine.render('n{% include "count.j2" %}', engine.context({})) == "n012"


def test_a_template_naming_no_global_still_sees_a_variable_named_like_one() -> None:
    engine = TemplateEngine()
    context = engine.context({"dict": {"k": "v"}, "city": "Oslo"})
    assert engine.render("{{ city | upper }}-{{ dict.k }}", context) == "OSLO-v"
    assert engine.render("{{ city | lower }}", context) == "oslo"
