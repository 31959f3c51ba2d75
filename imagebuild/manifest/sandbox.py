"""The Jinja sandbox manifest templates run in, metered.

Jinja's ``ImmutableSandboxedEnvironment`` keeps a template away from Python's
internals, not from the machine: ``'a' * 10**9``, ``10 ** (10 ** 8)``,
``'%999999999s'|format``, ``lipsum(10**6)`` or two nested ``range(100000)``
loops each take gigabytes or minutes. This environment meters templates
through the hooks Jinja keeps for it (``call_binop``, ``call``, the
``str.format`` wrapper, ``finalize`` and the filter table), against one
:class:`~imagebuild.manifest.limits.Meter` per manifest:

- each loop iteration and each call or filter is a step;
- each string or list an operation builds counts its length, and none may
  be longer than the string limit;
- an operation that would build a long value out of short ones (``*``,
  ``**``, ``+``, ``%``, ``~``, ``format``, ``center``, ``join``, ``replace``,
  ...) is sized before it runs, and so is the text of a list or mapping
  before ``str()`` makes it: one list can hold the same long string many
  times.

Loops, ``~`` and ``{% set %}`` blocks have no hook, so each parsed template is
rewritten to call the environment's own metered versions of them.
"""

from __future__ import annotations

import functools
import math
import re
import types
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, ValuesView
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes, pass_context
from jinja2.loaders import split_template_path
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from imagebuild.confinement import Confinement
from imagebuild.manifest.limits import LimitError, Meter

# Integers a template may build: far beyond what any request field takes,
# small enough that arithmetic on them stays instant.
INTEGER_BITS = 4096
# A macro call or an include costs about as much as fifty loop iterations.
HEAVY_STEPS = 50
_METERED_BLOCK = "imagebuild_metered"
# printf-style conversions: their width and precision (a number or ``*``).
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")
# Filters that turn their value into text first, as str() would.
_STRINGIFYING = frozenset(
    {"string", "e", "escape", "forceescape", "upper", "lower", "title", "capitalize", "trim"}
    | {"striptags", "center", "indent", "replace", "truncate", "wordwrap", "wordcount"}
    | {"urlize", "urlencode", "format", "tojson", "pprint", "safe", "xmlattr"}
)

# Type tuples rather than unions: ``str | bytes`` is built anew at each call.
_TEXT = (str, bytes)
_SEQUENCES = (str, bytes, list, tuple)
_SIZED = (str, bytes, list, tuple, dict)
_COLLECTIONS = (list, tuple, set, frozenset, KeysView, ValuesView)
_MAPPINGS = (dict, ItemsView)
_METHODS = (types.MethodType, types.BuiltinMethodType)

Args = tuple[Any, ...]
Check = Callable[[Meter, Args, dict[str, Any]], Args]


def text_size(value: Any, cap: int) -> int:
    """About ``len(str(value))``, counted no further than just past ``cap``."""
    if isinstance(value, str):
        return len(value)
    total = 0
    pending = [value]
    while pending and total <= cap:
        item = pending.pop()
        if isinstance(item, _TEXT):
            total += len(item) + 3
        elif isinstance(item, _COLLECTIONS):
            total += 2 + 2 * len(item)
            if total <= cap:
                pending.extend(item)
        elif isinstance(item, _MAPPINGS):
            total += 2 + 4 * len(item)
            if total <= cap:
                pending.extend(item.keys() if isinstance(item, dict) else item)
                pending.extend(item.values() if isinstance(item, dict) else ())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:  # None, booleans, floats, ranges, functions: short reprs
            total += 32
    return total


class MeteredSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox whose templates spend from ``meter``."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, meter: Meter, **options: Any) -> None:
        super().__init__(finalize=self._sized_output, **options)
        self.meter = meter
        self.globals["lipsum"] = self.lipsum
        self.filters = {name: self._metered(name, f) for name, f in self.filters.items()}
        self.filters[_METERED_BLOCK] = self._metered_block

    @property
    def cap(self) -> int:
        return self.meter.limits.string

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        rewritten: nodes.Template = _Metering(self).visit(tree)
        return rewritten

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.meter.allow(_binop_size(operator, left, right, self.cap))
        return self._built(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.meter.step(HEAVY_STEPS if isinstance(__obj, Macro) else 1)
        args = _sized_call(__self.meter, __obj, args, kwargs)
        return __self._built(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format``, with every field sized before it is formatted."""
        if not isinstance(value, _METHODS) or value.__name__ not in ("format", "format_map"):
            return None
        template = value.__self__
        if not isinstance(template, str):
            return None
        formatter: SandboxedFormatter = (
            _SizedEscapeFormatter(self, escape=template.escape)
            if isinstance(template, Markup)
            else _SizedFormatter(self)
        )
        by_name = value.__name__ == "format_map"

        def format(*args: Any, **kwargs: Any) -> str:
            if not by_name:
                return type(template)(formatter.vformat(template, args, kwargs))
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one mapping")
            return type(template)(formatter.vformat(template, (), args[0]))

        return format

    def _load_template(self, name: Any, globals: Any) -> Any:
        """Every ``{% include %}`` and ``{% import %}``, cached or not, is a heavy step."""
        self.meter.step(HEAVY_STEPS)
        return super()._load_template(name, globals)

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's iterable: each iteration is a step."""
        for item in iterable:
            self.meter.step()
            yield item

    def joined(self, *parts: Any) -> str:
        """``a ~ b``: the text of each part is sized before str() builds it."""
        for part in parts:
            if type(part) is not str:
                self.meter.allow(text_size(part, self.cap))
        return "".join(map(str, parts))

    def _metered_block(self, captured: str) -> str:
        """What a ``{% set name %}...{% endset %}`` block captured."""
        self.meter.built(len(captured))
        return captured

    def _sized_output(self, value: Any) -> Any:
        """Every ``{{ value }}`` before it becomes text."""
        if type(value) not in (str, int, float, bool) and value is not None:
            self.meter.allow(text_size(value, self.cap))
        return value

    def _built(self, value: Any) -> Any:
        if isinstance(value, _SIZED):
            self.meter.built(len(value))
        return value

    def lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        # Up to ``max`` words a paragraph, of up to a dozen characters each.
        self.meter.allow(n * max * 12)
        return generate_lorem_ipsum(n, html, min, max)

    def _metered(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` as a metered filter. Every metered filter takes the
        context, which keeps Jinja from running it while compiling (a folded
        ``'nan'|float`` would compile to a name that does not exist), and hands
        the filter what it asked for itself."""
        check = _FILTER_CHECKS.get(name)
        stringifies = name in _STRINGIFYING
        wants = getattr(getattr(function, "jinja_pass_arg", None), "name", None)
        meter = self.meter

        @pass_context
        @functools.wraps(function)
        def metered(context: Context, *args: Any, **kwargs: Any) -> Any:
            meter.step()
            if stringifies and args and type(args[0]) is not str:
                meter.allow(text_size(args[0], meter.limits.string))
            if check is not None:
                args = check(meter, args, kwargs)
            if wants is not None:
                args = (_passed(context, wants), *args)
            return self._built(function(*args, **kwargs))

        return metered


def _passed(context: Context, wants: str) -> Any:
    """What a filter marked ``pass_context`` (or ``_eval_context``, ``_environment``) takes."""
    if wants == "context":
        return context
    return context.eval_ctx if wants == "eval_context" else context.environment


class _Metering(NodeTransformer):
    """Routes loops, ``~`` and block assignments through the environment's metered versions."""

    def __init__(self, environment: MeteredSandbox) -> None:
        self.environment = environment

    def _call(self, name: str, args: list[Any], lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None, lineno=lineno)
        call.set_environment(self.environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("counted", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("joined", node.nodes, node.lineno)

    def visit_AssignBlock(self, node: nodes.AssignBlock) -> nodes.Node:
        self.generic_visit(node)
        block = nodes.Filter(node.filter, _METERED_BLOCK, [], [], None, None, lineno=node.lineno)
        block.set_environment(self.environment)
        node.filter = block
        return node


class _SizedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        meter: Meter = self._env.meter  # type: ignore[attr-defined]
        meter.allow(_spec_size(format_spec) + text_size(value, meter.limits.string))
        return super().format_field(value, format_spec)


class _SizedEscapeFormatter(_SizedFormatter, EscapeFormatter):
    pass


def _number(text: str) -> int:
    """A width or precision as written; absurdly long ones count as huge."""
    return int(text) if len(text) <= 12 else 10**12


def _spec_size(spec: str) -> int:
    return sum(_number(digits) for digits in _DIGITS.findall(spec))


def _printf_size(template: str, values: Any, cap: int) -> int:
    """The most ``template % values`` can come to."""
    arguments = values if isinstance(values, tuple) else (values,)
    size = len(template) + sum(text_size(argument, cap) for argument in arguments)
    stars = max((a for a in arguments if isinstance(a, int)), default=0)
    for width, precision in _PRINTF.findall(template):
        for number in (width, precision):
            size += stars if number == "*" else _number(number) if number else 0
    return size


def _binop_size(operator: str, left: Any, right: Any, cap: int) -> int:
    """The size of what ``left OPERATOR right`` builds; integers are checked here."""
    if _integers(left, right):
        if operator == "**" and right > 0 and abs(left) > 1:
            _integer_bits(right * math.log2(abs(left)))
        elif operator == "*":
            _integer_bits(left.bit_length() + right.bit_length())
        return 0
    if operator == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, _SEQUENCES) and isinstance(count, int):
            return text_size(sequence, cap) * max(count, 0)
    elif operator == "+" and isinstance(left, _SEQUENCES):
        return text_size(left, cap) + text_size(right, cap)
    elif operator == "%" and isinstance(left, str):
        return _printf_size(left, right, cap)
    return 0


def _integers(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _integer_bits(bits: float) -> None:
    if bits > INTEGER_BITS:
        raise LimitError(
            f"a template would build an integer of about {int(bits):,} bits;"
            f" templates keep integers within {INTEGER_BITS:,} bits"
        )


def _sized_call(meter: Meter, function: Any, args: Args, kwargs: dict[str, Any]) -> Args:
    """Size a call of a growing ``str``/``bytes`` method, or ``int.to_bytes``, before it runs."""
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "")
    if isinstance(owner, _TEXT):
        check = _TEXT_METHODS.get(name)
        if check is not None:
            return check(meter, (owner, *args), kwargs)[1:]
    elif name == "to_bytes" and _integers(owner):
        length = args[0] if args else kwargs.get("length", 1)
        meter.allow(length if isinstance(length, int) else 0)
    return args


def _argument(args: Args, kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_width(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    width = _argument(args, kwargs, 1, "width", 0)
    meter.allow(width if isinstance(width, int) else 0)
    return args


def _check_expandtabs(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    text, tabsize = args[0], _argument(args, kwargs, 1, "tabsize", 8)
    tabs = text.count("\t" if isinstance(text, str) else b"\t")
    meter.allow(len(text) + tabs * (tabsize if isinstance(tabsize, int) else 0))
    return args


def _check_replace(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    text, old, new = (
        args[0],
        _argument(args, kwargs, 1, "old", ""),
        _argument(args, kwargs, 2, "new", ""),
    )
    if not isinstance(text, bytes):
        text, old, new = str(text), str(old), str(new)
    count = _argument(args, kwargs, 3, "count", None)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    meter.allow(len(text) + found * max(len(new) - len(old), 0))
    return args


def _check_join(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    """``separator.join(items)``."""
    return (args[0], _joinable(meter, args[0], args[1]))


def _check_filter_join(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    """``items|join(separator)``."""
    return (_joinable(meter, _argument(args, kwargs, 1, "d", ""), args[0]), *args[1:])


def _joinable(meter: Meter, separator: Any, iterable: Iterable[Any]) -> list[Any]:
    """The items, gathered (a generator can be read only once) and sized together."""
    items = list(iterable)
    cap = meter.limits.string
    size = len(str(separator)) * max(len(items) - 1, 0)
    for item in items:
        size += text_size(item, cap)
        if size > cap:
            break
    meter.allow(size)
    return items


def _check_translate(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    text, table = args[0], _argument(args, kwargs, 1, "table", None)
    longest = 1
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
    meter.allow(len(text) * longest)
    return args


def _check_format(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    values = args[1:] or kwargs
    meter.allow(
        _printf_size(str(args[0]), tuple(values) if args[1:] else values, meter.limits.string)
    )
    return args


def _check_indent(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    text = str(args[0])
    width = _argument(args, kwargs, 1, "width", 4)
    per_line = width if isinstance(width, int) else len(str(width))
    meter.allow(len(text) + (text.count("\n") + 1) * per_line)
    return args


def _check_wordwrap(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    text = str(args[0])
    width = _argument(args, kwargs, 1, "width", 79)
    wrapstring = _argument(args, kwargs, 3, "wrapstring", None) or "\n"
    lines = len(text) // max(width if isinstance(width, int) else 1, 1) + 1
    meter.allow(len(text) + lines * len(str(wrapstring)))
    return args


def _check_count(name: str, index: int) -> Check:
    """``batch`` and ``slice``: a list of that many items is built at once."""

    def check(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
        count = _argument(args, kwargs, index, name, 0)
        meter.allow(count if isinstance(count, int) else 0)
        return args

    return check


def _check_tojson(meter: Meter, args: Args, kwargs: dict[str, Any]) -> Args:
    indent = _argument(args, kwargs, 1, "indent", None)
    spaces = indent if isinstance(indent, int) else 0
    meter.allow(text_size(args[0], meter.limits.string) * (1 + max(spaces, 0)))
    return args


_TEXT_METHODS: dict[str, Check] = {
    "center": _check_width,
    "ljust": _check_width,
    "rjust": _check_width,
    "zfill": _check_width,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "join": _check_join,
    "translate": _check_translate,
}
_FILTER_CHECKS: dict[str, Check] = {
    "center": _check_width,
    "format": _check_format,
    "indent": _check_indent,
    "replace": _check_replace,
    "join": _check_filter_join,
    "wordwrap": _check_wordwrap,
    "batch": _check_count("linecount", 1),
    "slice": _check_count("slices", 1),
    "tojson": _check_tojson,
}


def confined_loader(folder: Path, read: set[Path]) -> jinja2.BaseLoader:
    """A loader for ``{% include %}`` and ``{% import %}`` that reads only
    inside ``folder`` (or an allowed input root), real paths resolved: a
    symlinked template or folder pointing elsewhere is refused before it is
    read, so its text never lands in a prompt or the lock. Every file it
    reads is added to ``read``."""
    confinement = Confinement(folder)

    class ConfinedLoader(jinja2.FileSystemLoader):
        def get_source(
            self, environment: jinja2.Environment, template: str
        ) -> tuple[str, str, Callable[[], bool]]:
            candidate = folder.joinpath(*split_template_path(template))
            if candidate.exists() and not confinement.readable(candidate):
                raise jinja2.exceptions.SecurityError(
                    f"{template} leads outside the manifest's folder"
                )
            found = super().get_source(environment, template)
            read.add(Path(found[1]))
            return found

    return ConfinedLoader(str(folder))
