"""Sandboxed Jinja rendering of manifest strings.

Every string in a manifest is a template. A string that is exactly one
``{{ expr }}`` keeps the expression's type, so ``width: "{{ size.w }}"`` is
an int. Templates are compiled once per distinct source string: a matrix of
10,000 combinations renders the same few strings over and over.

Most manifest templates only substitute variables (``out/{{ city }}/{{
size.name }}.png``). Those are recognised without Jinja and get a direct
renderer that looks the values up in the context, a tenth of the cost of a
Jinja render; anything it is not sure to render exactly as Jinja would (a
missing name, an attribute that dicts also have as a method, a value that is
not a plain scalar) goes through Jinja itself. Jinja is imported the first
time a template needs it, so a manifest of plain substitutions never pays
for the import.

Templates are untrusted input: they run in a metered sandbox
(:mod:`imagebuild.manifest.sandbox`) that refuses work and values beyond
the manifest's limits, and a lone ``{{ expr }}`` must come to a JSON value,
which every request, fingerprint and lock entry can hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebuild.manifest.limits import DEFAULT_LIMITS, LimitError, Limits, Meter
from imagebuild.manifest.source import json_problem

if TYPE_CHECKING:
    import jinja2

# One ``{{ expr }}`` (whitespace control allowed) and no other tag in between.
_SINGLE_EXPRESSION = re.compile(
    r"\A\s*\{\{-?(?P<expr>(?:(?!\{\{|\}\}|\{%|%\}|\{#|#\}).)*?)-?\}\}\s*\Z", re.DOTALL
)
_RESULT = "__imagebuild_value"
# ``{{ a.b['c'] }}`` with ASCII names, the only tag the direct renderer reads.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = r"\." + _NAME + r"|\[\s*'[^'\\]*'\s*\]|\[\s*\"[^\"\\]*\"\s*\]"
_TAG = re.compile(r"\{\{ *(" + _NAME + r"(?:" + _STEP + r")*) *\}\}")
_STEPS = re.compile(r"\.(" + _NAME + r")|\[\s*'([^'\\]*)'\s*\]|\[\s*\"([^\"\\]*)\"\s*\]")
# Names Jinja binds or parses itself; the direct renderer leaves them to Jinja.
_NOT_VARIABLES = frozenset(
    {"self", "loop", "caller", "varargs", "kwargs", "true", "false", "none", "True", "False"}
    | {"None", "and", "or", "not", "in", "is", "if", "else"}
)

Compiled = Callable[[Mapping[str, Any]], Any]


class TemplateError(Exception):
    """A template failed to compile or render; the caller adds the location."""


class TemplateEngine:
    """Renders manifest strings; ``{% include %}`` resolves beside the manifest."""

    def __init__(self, search_dir: Path | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self._search_dir = search_dir
        self._jinja_env: jinja2.Environment | None = None
        self._compiled: dict[str, Compiled] = {}
        self.meter = Meter(limits)
        # Template files read through includes and imports, for ``watch``.
        self.included: set[Path] = set()

    @staticmethod
    def is_template(text: str) -> bool:
        return "{" in text

    def context(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A render context. Jinja's globals (range, dict, ...) sit under the
        variables when Jinja renders."""
        return dict(variables)

    def render(self, text: str, context: Mapping[str, Any]) -> Any:
        """The rendered value of ``text``; plain strings come back unchanged."""
        if "{" not in text:
            return text
        compiled = self._compiled.get(text)
        if compiled is None:
            compiled = self._compiled[text] = self._compile(text)
        try:
            return compiled(context)
        except LimitError as error:
            raise TemplateError(str(error)) from None

    def _compile(self, text: str) -> Compiled:
        fast = _substitution(text, self.meter)
        if fast is None:
            return self._jinja(text)
        jinja: Compiled | None = None

        def render(context: Mapping[str, Any]) -> Any:
            nonlocal jinja
            try:
                return fast(context)
            except _NotSimple:
                if jinja is None:
                    jinja = self._jinja(text)
                return jinja(context)

        return render

    def _environment(self) -> jinja2.Environment:
        if self._jinja_env is None:
            import jinja2

            from imagebuild.manifest.sandbox import MeteredSandbox, confined_loader

            loader = confined_loader(self._search_dir, self.included) if self._search_dir else None
            self._jinja_env = MeteredSandbox(
                self.meter, undefined=jinja2.StrictUndefined, loader=loader, autoescape=False
            )
        return self._jinja_env

    def _jinja(self, text: str) -> Compiled:
        """Jinja's renderer of ``text``, every Jinja error a TemplateError."""
        import jinja2

        environment = self._environment()
        match = _SINGLE_EXPRESSION.match(text)
        source = f"{{% set {_RESULT} = ({match['expr']}) %}}" if match else text
        try:
            tree = environment.parse(source)
            template = environment.from_string(tree)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(_syntax_message(error)) from None
        except RecursionError:
            raise TemplateError("template nests too deeply to compile") from None
        except Exception as error:  # a literal Python cannot hold, such as a 5,000-digit number
            raise TemplateError(f"template error: {type(error).__name__}: {error}") from None
        globals = environment.globals if _needs_globals(tree, environment) else None
        jinja_render = _jinja_renderer(template, globals, self.meter, typed=match is not None)

        def render(context: Mapping[str, Any]) -> Any:
            try:
                return jinja_render(context)
            except (LimitError, TemplateError) as error:
                raise TemplateError(str(error)) from None
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

        return render


def _needs_globals(tree: jinja2.nodes.Template, environment: jinja2.Environment) -> bool:
    """Whether a template may read Jinja's globals (range, dict, ...): it names
    one, or brings in another template, which could."""
    from jinja2 import nodes

    if any(tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        return True
    return any(name.name in environment.globals for name in tree.find_all(nodes.Name))


def _jinja_renderer(
    template: jinja2.Template, globals: Mapping[str, Any] | None, meter: Meter, *, typed: bool
) -> Compiled:
    """A render function. The context is passed to Jinja as it is, with the
    globals under it only for templates that may read them: merging them
    into every one of ten thousand contexts costs more than the render."""
    render_func = template.root_render_func
    new_context = template.new_context

    def frame(context: Mapping[str, Any]) -> Any:
        merged = context if globals is None else {**globals, **context}
        return new_context(merged, shared=True)  # type: ignore[arg-type]

    if typed:

        def evaluate(context: Mapping[str, Any]) -> Any:
            current = frame(context)
            for _ in render_func(current):
                pass
            return _json_value(current.vars[_RESULT], meter)

        return evaluate

    def render_text(context: Mapping[str, Any]) -> str:
        # The chunks are sized before they are joined: a thousand outputs of
        # one long string are a thousand references until then.
        chunks = list(render_func(frame(context)))
        meter.built(sum(map(len, chunks)))
        return "".join(chunks)

    return render_text


def _json_value(value: Any, meter: Meter) -> Any:
    """A lone expression's value as JSON: the string, number, boolean, null,
    list or mapping a request can hold; anything else is the template's error."""
    from imagebuild.manifest.sandbox import text_size

    meter.allow(text_size(value, meter.limits.string))
    return _json(value, meter.limits.depth)


def _json(value: Any, depth: int) -> Any:
    import jinja2

    if value is None or isinstance(value, bool | float | int | str):
        problem = json_problem(value)
        if problem is not None:
            raise TemplateError(f"the expression's value {problem}")
        return str(value) if isinstance(value, str) and type(value) is not str else value
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if depth < 1 and isinstance(value, list | tuple | dict):
        raise TemplateError("the expression's value nests too deeply")
    if isinstance(value, list | tuple):
        return [_json(item, depth - 1) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TemplateError(
                "the expression's value is a mapping with keys that are not strings"
            )
        return {key: _json(item, depth - 1) for key, item in value.items()}
    hint = "; |list makes a list of it" if isinstance(value, range | Iterator) else ""
    raise TemplateError(
        f"the expression's value is {_kind(value)}, which JSON has no type for"
        " (strings, numbers, booleans, null, lists and mappings)" + hint
    )


def _kind(value: Any) -> str:
    name = type(value).__name__
    return (
        f"a {name}"
        if not callable(value)
        else f"the function or type {getattr(value, '__name__', name)}"
    )


def _syntax_message(error: jinja2.TemplateSyntaxError) -> str:
    where = f" in {error.name}" if error.name else ""
    return f"template syntax error{where}: {error.message}"


class _NotSimple(Exception):
    """The direct renderer cannot vouch for this value; Jinja renders it."""


_PLAIN = (str, int, float, bool)
Lookup = tuple[str, ...]


def _substitution(text: str, meter: Meter) -> Compiled | None:
    """A direct renderer for ``text`` if it is made only of text and
    ``{{ a.b['c'] }}`` tags, else None. Text keeping any brace, or a carriage
    return (Jinja rewrites newlines), is left to Jinja; a final newline is
    dropped, as Jinja drops it."""
    if "\r" in text:
        return None
    tag = _TAG.fullmatch(text.strip())
    if tag is not None:
        value_lookup = _lookup(tag[1])
        if value_lookup is None:
            return None
        return lambda context: _resolve(context, value_lookup)
    pieces = _TAG.split(text.removesuffix("\n"))
    parts: list[str | Lookup] = []
    for position, piece in enumerate(pieces):
        if position % 2 == 0:
            if "{" in piece or "}" in piece:
                return None
            parts.append(piece)
            continue
        lookup = _lookup(piece)
        if lookup is None:
            return None
        parts.append(lookup)

    def render(context: Mapping[str, Any]) -> str:
        rendered = "".join(
            part if isinstance(part, str) else str(_resolve(context, part)) for part in parts
        )
        meter.built(len(rendered))
        return rendered

    return render


def _lookup(chain: str) -> Lookup | None:
    """``a.b['c']`` as ("a", "b", "c"), or None when Jinja would read it
    otherwise (a name it binds, an attribute dicts have as a method)."""
    head = re.match(_NAME, chain)
    assert head is not None
    if head[0] in _NOT_VARIABLES:
        return None
    keys = [head[0]]
    for step in _STEPS.finditer(chain, head.end()):
        attribute, single, double = step.groups()
        if attribute is not None and hasattr(dict, attribute):
            return None
        keys.append(
            attribute if attribute is not None else single if single is not None else double
        )
    return tuple(keys)


def _resolve(context: Mapping[str, Any], lookup: Lookup) -> Any:
    value = context.get(lookup[0], _NotSimple)
    for key in lookup[1:]:
        if not isinstance(value, dict) or key.startswith("_") or key not in value:
            raise _NotSimple
        value = value[key]
    if type(value) not in _PLAIN:
        raise _NotSimple
    return value
