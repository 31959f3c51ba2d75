"""Sandboxed Jinja rendering: typed single expressions, a fast path that must
agree with Jinja exactly, and a sandbox that refuses escapes."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from imagebuild.manifest.limits import Limits
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
    assert render("[{{ d.items }}]") == reference("[{{ d.items }}]", CONTEXT)
    assert "method" in render("[{{ d.items }}]")
    assert render("{{ d['items'] }}") == "ITEMS"


# A lone expression keeps its type, so its value must be one JSON has: a request,
# a fingerprint and a lock entry hold nothing else.
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{{ d.items }}", "the function or type items"),
        ("{{ d.values }}", "the function or type values"),
        ("{{ city.upper }}", "the function or type upper"),
        ("{{ range(3) }}", "a range"),
        ("{{ dict }}", "the function or type dict"),
        ("{{ lipsum }}", "the function or type lipsum"),
        ("{{ self }}", "a TemplateReference"),
        ("{{ (1).to_bytes(2, 'big') }}", "a bytes"),
        ("{{ [1, range(2)] }}", "a range"),
        ("{{ {'k': dict} }}", "the function or type dict"),
    ],
)
def test_a_lone_expression_whose_value_is_not_json_is_refused(text: str, kind: str) -> None:
    with pytest.raises(
        TemplateError, match=f"the expression's value is {kind}, which JSON has no type for"
    ):
        render(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ 'nan'|float }}", "is not a JSON number"),
        ("{{ -('inf'|float) }}", "is not a JSON number"),
        ("{{ 2 ** 64 }}", "is beyond the 64-bit integers"),
        ("{{ -(2 ** 63) - 1 }}", "is beyond the 64-bit integers"),
        ("{{ {1: 'a'} }}", "keys that are not strings"),
        ("{{ '\\ud800' }}", "lone surrogate"),
    ],
)
def test_a_lone_expression_must_be_a_json_number_string_or_mapping(text: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem):
        render(text)


def test_json_values_at_the_edges_are_kept() -> None:
    assert render("{{ 2 ** 64 - 1 }}") == 2**64 - 1
    assert render("{{ -(2 ** 63) }}") == -(2**63)
    assert render("{{ (1, 'a') }}") == [1, "a"]
    value = render("{{ 'a'|safe }}")
    assert (value, type(value)) == ("a", str)


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
    assert render("<{{ self }}>", context) == reference("<{{ self }}>", context)


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


# Each of these took minutes or gigabytes before it was refused; each must be
# refused at once, with the limit that stops it.
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ 10 ** 5000 }}",
            "an integer of about 16,609 bits; templates keep integers within 4,096 bits",
        ),
        ("{{ 10 ** (10 ** 8) }}", "an integer of about 332,192,809 bits"),
        ("{{ (2 ** 3000) * (2 ** 3000) }}", "an integer of about 6,002 bits"),
        (
            "{{ 'a' * 10**9 }}",
            "a value of 1,000,000,000 characters or items, over the limit of 100,000 (IMAGEBUILD_MAX_STRING=N raises it)",
        ),
        ("{{ [1] * 10**9 }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ '%999999999s'|format('x') }}", "a value of 1,000,000,011 characters"),
        ("{{ '%.999999999f' % 1.0 }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ '%*d' % (10**9, 1) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ '{:>999999999}'.format(1) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ '{:{}}'.format(1, 999999999) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ '{x:>999999999}'.format_map({'x': 1}) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'a'|center(10**9) }}", "a value of 1,000,000,000 characters"),
        ("{{ 'a'.ljust(10**9) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'a'.zfill(10**9) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'a\\tb'.expandtabs(10**9) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'a\\nb'|indent(10**9, true) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'ab'|replace('', 'x' * 90000) }}", "a value of 270,002 characters"),
        ("{{ range(100000)|join('x' * 1000) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'x'.join(['y' * 60000] * 2) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ 'ab ab'|wordwrap(1, wrapstring='x' * 90000) }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ [1]|batch(10**9, 0)|list }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ [1]|slice(10**9)|list }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "IMAGEBUILD_MAX_STRING"),
        ("{{ lipsum(10**6) }}", "a value of 1,200,000,000 characters"),
        ("{% set s = 'x' * 90000 %}{{ [s] * 100 }}", "IMAGEBUILD_MAX_STRING"),
        ("{% set s = 'x' * 90000 %}x{{ [s, s] }}", "IMAGEBUILD_MAX_STRING"),
        ("{% set s = 'x' * 60000 %}{{ s ~ s }}", "IMAGEBUILD_MAX_STRING"),
        ("{% set s = 'x' * 60000 %}{{ [s, s]|string }}", "IMAGEBUILD_MAX_STRING"),
        ("{% set s = 'x' * 60000 %}{{ (s ~ '') + s }}", "IMAGEBUILD_MAX_STRING"),
        ("{% set s = 'x' * 60000 %}{{ [s, s]|tojson }}", "IMAGEBUILD_MAX_STRING"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "IMAGEBUILD_MAX_STRING",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "templates and matrices take too many steps, over the limit of 2,000,000 (IMAGEBUILD_MAX_STEPS=N raises it)",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "IMAGEBUILD_MAX_STEPS",
        ),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
            "IMAGEBUILD_MAX_STEPS",
        ),
        (
            "{% for i in range(1000) %}{% set x %}{{ 'y' * 90000 }}{% endset %}{% endfor %}",
            "templates build too much text (characters and list items, all together), over the"
            " limit of 50,000,000 (IMAGEBUILD_MAX_OUTPUT=N raises it)",
        ),
    ],
)
def test_work_and_values_beyond_the_limits_are_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(text)


def test_a_template_that_fails_to_compile_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="template nests too deeply to compile"):
        render("{{ " + "(" * 500 + "1" + ")" * 500 + " }}")
    with pytest.raises(TemplateError, match="template error: ValueError"):
        render("{{ " + "9" * 5000 + " }}")


def test_the_step_budget_is_shared_by_every_template_of_an_engine() -> None:
    engine = TemplateEngine(limits=Limits(steps=250))
    loop = "{% for i in range(100) %}{% endfor %}done"
    assert engine.render(loop, {}) == "done"
    assert engine.render(loop, {}) == "done"
    with pytest.raises(TemplateError, match="IMAGEBUILD_MAX_STEPS"):
        engine.render(loop, {})


def test_plain_substitutions_count_towards_the_output_too() -> None:
    engine = TemplateEngine(limits=Limits(string=10, output=24))
    assert engine.render("{{ a }}-{{ a }}", {"a": "abcd"}) == "abcd-abcd"
    with pytest.raises(TemplateError, match="a value of 11 characters"):
        engine.render("{{ a }}-{{ a }}", {"a": "abcde"})
    assert engine.render("{{ a }}-{{ a }}", {"a": "abc"}) == "abc-abc"
    with pytest.raises(TemplateError, match="IMAGEBUILD_MAX_OUTPUT"):
        engine.render("{{ a }}-{{ a }}", {"a": "abcd"})


def test_a_lone_expression_is_sized_as_the_json_it_becomes() -> None:
    context = {"s": "x" * 60000}
    with pytest.raises(TemplateError, match="IMAGEBUILD_MAX_STRING"):
        render("{{ [s, s] }}", context)
    assert render("{{ [s] }}", context) == ["x" * 60000]


def test_a_lone_expression_nested_deeper_than_the_limit_is_refused() -> None:
    engine = TemplateEngine(limits=Limits(depth=3))
    assert engine.render("{{ [[[1]]] }}", {}) == [[[1]]]
    with pytest.raises(TemplateError, match="nests too deeply"):
        engine.render("{{ [[[[1]]]] }}", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ [1, 2] + [3] }}", [1, 2, 3]),
        ("{{ 2 ** 10 }}", 1024),
        ("{{ 2 ** -1 }}", 0.5),
        ("{{ '%05.1f|%s' % (3.14159, 'x') }}", "003.1|x"),
        ("{{ '{:>6}|{}'.format('ab', 1) }}", "    ab|1"),
        ("{{ 'ab'|center(6) }}", "  ab  "),
        ("{{ 'a b c'|replace(' ', '--') }}", "a--b--c"),
        ("{{ range(3)|join(', ') }}", "0, 1, 2"),
        ("{{ 'x'.join('abc') }}", "axbxc"),
        ("{{ [1, 2, 3]|batch(2)|list }}", [[1, 2], [3]]),
        ("{{ 'a\\nb'|indent(2, true) }}", "  a\n  b"),
        ("{{ lipsum(1, false, 5, 6)|wordcount }}", 5),
        ("{{ '1.5'|float }}", 1.5),
        ("{% set x | upper %}abc{% endset %}{{ x }}", "ABC"),
        (
            "{% for c in 'ab' %}{{ loop.index }}{{ c }}{% if loop.last %}!{% endif %}{% endfor %}",
            "1a2b!",
        ),
        ("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% else %}none{% endfor %}", "a=1"),
        ("{% for x in [] %}{{ x }}{% else %}none{% endfor %}", "none"),
        ("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) ~ m(2) }}", "<1><2>"),
    ],
)
def test_metered_operations_still_compute_what_jinja_computes(text: str, expected: Any) -> None:
    assert render(text) == expected
    if isinstance(expected, str):
        assert render(text) == reference(text, {})
