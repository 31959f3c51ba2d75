"""Sandboxed Jinja rendering of manifest strings.

Every string in a manifest is a template. A string that is exactly one
``{{ expr }}`` keeps the expression's type, so ``width: "{{ size.w }}"`` is
an int. Templates are compiled once per distinct source string: a matrix of
10,000 combinations renders the same few strings over and over.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

_SINGLE_EXPRESSION = re.compile(r"\A\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*\Z", re.DOTALL)
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
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(_syntax_message(error)) from None
        render_func = template.root_render_func
        new_context = template.new_context
        if match:

            def evaluate(context: Mapping[str, Any]) -> Any:
                frame = new_context(context, shared=True)  # type: ignore[arg-type]
                for _ in render_func(frame):
                    pass
                return frame.vars[_RESULT]

            return evaluate

        def render(context: Mapping[str, Any]) -> str:
            return "".join(render_func(new_context(context, shared=True)))  # type: ignore[arg-type]

        return render


def _syntax_message(error: jinja2.TemplateSyntaxError) -> str:
    where = f" in {error.name}" if error.name else ""
    return f"template syntax error{where}: {error.message}"
