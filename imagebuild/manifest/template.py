"""Sandboxed Jinja rendering of manifest strings.

Every string in a manifest is a template. A string that is exactly one
``{{ expr }}`` keeps the expression's type, so ``width: "{{ size.w }}"`` is
an int. Templates are compiled once per distinct source string: a matrix of
10,000 combinations renders the same few strings over and over.

Most manifest templates only substitute variables (``out/{{ city }}/{{
size.name }}.png``). Those get a direct renderer that looks the values up
in the context, a tenth of the cost of a Jinja render; anything it is not
sure to render exactly as Jinja would (a missing name, an attribute that
dicts also have as a method, a value that is not a plain scalar) goes
through Jinja itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

# One ``{{ expr }}`` (whitespace control allowed) and no other tag in between.
_SINGLE_EXPRESSION = re.compile(
    r"\A\s*\{\{-?(?P<expr>(?:(?!\{\{|\}\}|\{%|%\}|\{#|#\}).)*?)-?\}\}\s*\Z", re.DOTALL
)
# Names Jinja binds itself; the direct renderer leaves them to Jinja.
_RESERVED = frozenset({"self", "loop", "caller", "varargs", "kwargs"})
_RESULT = "__imagebuild_value"

Compiled = Callable[[Mapping[str, Any]], Any]


class TemplateError(Exception):
    """A template failed to compile or render; the caller adds the location."""


class TemplateEngine:
    """Renders manifest strings; ``{% include %}`` resolves beside the manifest."""

    def __init__(self, search_dir: Path | None = None) -> None:
        loader = jinja2.FileSystemLoader(str(search_dir)) if search_dir is not None else None
        self._env = ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined, loader=loader, autoescape=False
        )
        self._compiled: dict[str, Compiled] = {}

    @staticmethod
    def is_template(text: str) -> bool:
        return "{" in text

    def context(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A render context: Jinja's globals (range, dict, ...) under the variables.

        Contexts are shared with the compiled templates rather than copied per
        render, so the globals are merged in once here.
        """
        return {**self._env.globals, **variables}

    def render(self, text: str, context: Mapping[str, Any]) -> Any:
        """The rendered value of ``text``; plain strings come back unchanged."""
        if "{" not in text:
            return text
        compiled = self._compiled.get(text)
        if compiled is None:
            compiled = self._compiled[text] = self._compile(text)
        try:
            return compiled(context)
        except TemplateError:
            raise
        except jinja2.exceptions.SecurityError as error:
            raise TemplateError(f"template sandbox violation: {error}") from None
        except jinja2.UndefinedError as error:
            raise TemplateError(f"undefined template variable: {error}") from None
        except jinja2.TemplateNotFound as error:
            raise TemplateError(f"template include not found: {error}") from None
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(_syntax_message(error)) from None
        except Exception as error:  # a filter or expression raised: user input, not a bug
            raise TemplateError(f"template error: {type(error).__name__}: {error}") from None

    def _compile(self, text: str) -> Compiled:
        match = _SINGLE_EXPRESSION.match(text)
        source = f"{{% set {_RESULT} = ({match['expr']}) %}}" if match else text
        try:
            template = self._env.from_string(source)
            tree = self._env.parse(source)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(_syntax_message(error)) from None
        slow = self._jinja_renderer(template, typed=match is not None)
        fast = _substitution(tree, typed=match is not None)
        if fast is None:
            return slow

        def render(context: Mapping[str, Any]) -> Any:
            try:
                return fast(context)
            except _NotSimple:
                return slow(context)

        return render

    @staticmethod
    def _jinja_renderer(template: jinja2.Template, *, typed: bool) -> Compiled:
        render_func = template.root_render_func
        new_context = template.new_context
        if typed:

            def evaluate(context: Mapping[str, Any]) -> Any:
                frame = new_context(context, shared=True)  # type: ignore[arg-type]
                for _ in render_func(frame):
                    pass
                value = frame.vars[_RESULT]
                _fail_on_undefined(value)
                return value

            return evaluate

        def render(context: Mapping[str, Any]) -> str:
            return "".join(render_func(new_context(context, shared=True)))  # type: ignore[arg-type]

        return render


def _fail_on_undefined(value: Any) -> None:
    """Assigning an undefined value does not fail, using it does: fail now,
    also for one nested in a list or mapping the expression built."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, list | tuple):
        for item in value:
            _fail_on_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _fail_on_undefined(item)


def _syntax_message(error: jinja2.TemplateSyntaxError) -> str:
    where = f" in {error.name}" if error.name else ""
    return f"template syntax error{where}: {error.message}"


class _NotSimple(Exception):
    """The direct renderer cannot vouch for this value; Jinja renders it."""


_PLAIN = (str, int, float, bool)
Lookup = tuple[str, ...]


def _substitution(tree: nodes.Template, *, typed: bool) -> Compiled | None:
    """A direct renderer for templates made only of text and ``{{ a.b.c }}``."""
    if typed:
        assign = tree.body[0] if len(tree.body) == 1 else None
        if not isinstance(assign, nodes.Assign):
            return None
        value_lookup = _lookup(assign.node)
        if value_lookup is None:
            return None
        return lambda context: _resolve(context, value_lookup)
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts: list[str | Lookup] = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(node.data)
            continue
        lookup = _lookup(node)
        if lookup is None:
            return None
        parts.append(lookup)

    def render(context: Mapping[str, Any]) -> str:
        return "".join(
            part if isinstance(part, str) else str(_resolve(context, part)) for part in parts
        )

    return render


def _lookup(node: nodes.Node) -> Lookup | None:
    """``a.b['c']`` as ("a", "b", "c"), or None for anything more."""
    chain: list[str] = []
    while True:
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in _RESERVED:
            return (node.name, *reversed(chain))
        if isinstance(node, nodes.Getattr) and not hasattr(dict, node.attr):
            chain.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            chain.append(node.arg.value)
            node = node.node
        else:
            return None


def _resolve(context: Mapping[str, Any], lookup: Lookup) -> Any:
    value = context.get(lookup[0], _NotSimple)
    for key in lookup[1:]:
        if not isinstance(value, dict) or key.startswith("_") or key not in value:
            raise _NotSimple
        value = value[key]
    if type(value) not in _PLAIN:
        raise _NotSimple
    return value
