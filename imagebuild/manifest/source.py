"""Load YAML while remembering where every key and value stands in the file.

Errors found much later (a schema violation in an expanded target) are
reported against the manifest, so the loader keeps a side table from value
path, e.g. ``("targets", 3, "width")``, to (line, column).

Only JSON comes out: strings, 64-bit integers, finite numbers, booleans,
null, lists and mappings with string keys. Dates, binary data, sets, NaN and
custom tags are refused where they are written, because every value ends up
in a request, a fingerprint or a lock file that cannot hold them. Aliases
share nodes, so the composed graph is sized before it is built: a nine-line
alias bomb that would build ten million values, or an alias inside itself,
is refused at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from imagebuild.errors import Location, ManifestError
from imagebuild.manifest.limits import DEFAULT_LIMITS, Limits

ValuePath = tuple[str | int, ...]

_YAML = "tag:yaml.org,2002:"
_INT_TAG = _YAML + "int"
_MERGE_TAG = _YAML + "merge"
_SCALAR_TAGS = frozenset(_YAML + name for name in ("str", "int", "float", "bool", "null"))
# Tags PyYAML would construct into values JSON has no type for: (what it is, what to write).
_REFUSED_TAGS = {
    _YAML + "timestamp": ("a YAML date", "quote it to keep the text"),
    _YAML + "binary": ("YAML binary data", "refer to a file instead"),
    _YAML + "set": ("a YAML set", "write a list"),
    _YAML + "omap": ("a YAML ordered map", "write a mapping"),
    _YAML + "pairs": ("a YAML list of pairs", "write a mapping"),
}
# Integers outside what JSON libraries read as numbers (orjson stops at 64 bits).
_INTEGERS = range(-(2**63), 2**64)


class _PureLoader(yaml.SafeLoader):
    """PyYAML's pure-Python composer, for where libyaml is missing. It recurses once per
    nesting level, so it stops at the depth limit instead of at Python's stack."""

    display = ""
    max_depth = DEFAULT_LIMITS.depth
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ManifestError(
                    Limits(depth=self.max_depth).over("depth", "values nest too deeply"),
                    Location(self.display, mark.line + 1, mark.column + 1),
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader: type = getattr(yaml, "CSafeLoader", _PureLoader)


@dataclass(slots=True)
class Source:
    """A parsed YAML document and the positions of its keys and values."""

    path: str
    data: Any
    values: dict[ValuePath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[ValuePath, tuple[int, int]] = field(default_factory=dict)

    def error(
        self, message: str, path: ValuePath, target: str | None = None, *, key: bool = False
    ) -> ManifestError:
        """A ManifestError located at ``path`` (at its key with ``key``)."""
        return ManifestError(message, self.locate(path, key=key), target)

    def has(self, path: ValuePath) -> bool:
        return path in self.values

    def locate(self, path: ValuePath, *, key: bool = False) -> Location:
        """The position of ``path``, or of its nearest located ancestor."""
        if key and path in self.keys:
            return Location(self.path, *self.keys[path])
        probe = path
        while probe:
            position = self.values.get(probe)
            if position is not None:
                return Location(self.path, *position)
            probe = probe[:-1]
        return Location(self.path, 1, 1)


def load_source(path: Path, display: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Source:
    """Parse ``path``; YAML syntax errors become one located ManifestError."""
    shown = display or str(path)
    start = Location(shown, 1, 1)
    try:
        size = path.stat().st_size
        if size > limits.bytes:
            raise ManifestError(limits.over("bytes", f"the manifest is {size:,} bytes"), start)
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ManifestError("manifest not found", start) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read manifest: {error}", start) from None
    return parse_source(text, shown, limits)


def parse_source(text: str, display: str, limits: Limits = DEFAULT_LIMITS) -> Source:
    source = Source(display, None)
    loader = _Loader(text)
    loader.display, loader.max_depth = display, limits.depth
    try:
        root = loader.get_single_node()
        if root is None:
            source.data = {}
            return source
        builder = _Builder(source, limits)
        builder.measure(root, 1, root.start_mark)
        source.data = builder.build(root, ())
    except yaml.MarkedYAMLError as error:
        raise _marked(error, display) from None
    except yaml.reader.ReaderError as error:
        raise _unreadable(error, text, display) from None
    except yaml.YAMLError as error:
        message = " ".join(str(error).split())
        raise ManifestError(f"YAML error: {message}", Location(display, 1, 1)) from None
    finally:
        loader.dispose()
    return source


def _marked(error: yaml.MarkedYAMLError, display: str) -> ManifestError:
    # The problem mark is where the parser gave up; when that is the end of
    # the file (an unclosed quote), where the construct began says more.
    mark = error.problem_mark
    if mark is None or (
        error.context_mark is not None and "end of stream" in (error.problem or "")
    ):
        mark = error.context_mark
    problem = error.problem or "invalid YAML"
    if error.context:
        problem = f"{problem} {error.context}"
    where = Location(display, mark.line + 1, mark.column + 1) if mark else None
    return ManifestError(f"YAML syntax error: {' '.join(problem.split())}", where)


def _unreadable(error: yaml.reader.ReaderError, text: str, display: str) -> ManifestError:
    """libyaml reports a byte offset, PyYAML a character offset: the character
    itself says where it is, as the reader stops at its first occurrence."""
    character = error.character if isinstance(error.character, int) else ord(error.character)
    offset = text.find(chr(character))
    offset = offset if offset >= 0 else 0
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    message = f"character U+{character:04X} is not allowed in YAML"
    if character < 0x100:
        message += f"; inside double quotes, write it as the escape \\x{character:02x}"
    return ManifestError(message, Location(display, line, column))


class _Size(NamedTuple):
    nodes: int
    bytes: int
    height: int
    written: int  # keys of a mapping written in it, not merged in by ``<<``


class _Builder:
    """Turns composed YAML nodes into plain values, filling the position tables."""

    def __init__(self, source: Source, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.constructor = yaml.constructor.SafeConstructor()
        self.sizes: dict[int, _Size] = {}
        self.open: set[int] = set()

    def error(self, message: str, mark: yaml.Mark) -> ManifestError:
        return ManifestError(message, Location(self.source.path, mark.line + 1, mark.column + 1))

    def measure(self, node: yaml.Node, depth: int, use: yaml.Mark) -> _Size:
        """What ``node`` builds into, aliases expanded; each shared node is
        walked once. ``use`` is where the node is referred to: an alias has no
        mark of its own, the key it stands under does."""
        if isinstance(node, yaml.ScalarNode):
            return _Size(1, len(node.value) + 1, 1, 0)
        key = id(node)
        size = self.sizes.get(key)
        if size is None:
            if key in self.open:
                raise self.error("recursive alias: this value contains itself", use)
            if depth > self.limits.depth:
                raise self.error(
                    self.limits.over("depth", "values nest too deeply"), node.start_mark
                )
            size = self._measure_children(node, depth)
            self.sizes[key] = size
            if size.nodes > self.limits.nodes:
                what = f"this value expands to {size.nodes:,} YAML values (aliases expanded)"
                raise self.error(self.limits.over("nodes", what), node.start_mark)
            if size.bytes > self.limits.bytes:
                what = f"this value expands to {size.bytes:,} bytes (aliases expanded)"
                raise self.error(self.limits.over("bytes", what), node.start_mark)
        elif depth + size.height - 1 > self.limits.depth:
            raise self.error(self.limits.over("depth", "values nest too deeply"), use)
        return size

    def _measure_children(self, node: yaml.Node, depth: int) -> _Size:
        key = id(node)
        self.open.add(key)
        nodes, size, height, written = 1, 1, 0, 0
        if isinstance(node, yaml.MappingNode):
            children = []
            for key_node, value_node in node.value:
                children += [(key_node, key_node.start_mark), (value_node, key_node.start_mark)]
                written += key_node.tag != _MERGE_TAG
        else:
            # An item that starts before its list is an alias of an earlier anchor.
            children = [
                (
                    item,
                    item.start_mark
                    if item.start_mark.index >= node.start_mark.index
                    else node.start_mark,
                )
                for item in node.value
            ]
        for child, use in children:
            measured = self.measure(child, depth + 1, use)
            nodes += measured.nodes
            size += measured.bytes
            height = max(height, measured.height)
        self.open.discard(key)
        return _Size(nodes, size, height + 1, written)

    def build(self, node: yaml.Node, path: ValuePath) -> Any:
        self.source.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            self._collection_tag(node, _YAML + "map")
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self._collection_tag(node, _YAML + "seq")
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _collection_tag(self, node: yaml.Node, plain: str) -> None:
        if node.tag != plain:
            raise self.error(_tag_problem(node), node.start_mark)

    def _mapping(self, node: yaml.MappingNode, path: ValuePath) -> dict[str, Any]:
        # flatten_mapping puts the pairs merged in by ``<<`` first, and keeps
        # them there: a node met again through an alias is already flat, so
        # how many keys were written in it was counted before anything merged.
        self.constructor.flatten_mapping(node)
        first_written = len(node.value) - self.sizes[id(node)].written
        result: dict[str, Any] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            where = Location(
                self.source.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1
            )
            if not isinstance(key_node, yaml.ScalarNode):
                raise ManifestError("mapping keys must be strings, not collections", where)
            key = self._scalar(key_node)
            if not isinstance(key, str):
                raise ManifestError(f"mapping keys must be strings, got {key!r}", where)
            if (
                key in result
                and position > first_written
                and self._written_before(node, key, first_written, position)
            ):
                raise ManifestError(f"duplicate key '{key}'", where)
            child = (*path, key)
            self.source.keys[child] = (where.line, where.column)
            result[key] = self.build(value_node, child)
        return result

    @staticmethod
    def _written_before(node: yaml.MappingNode, key: str, start: int, end: int) -> bool:
        return any(k.value == key for k, _ in node.value[start:end])

    def _scalar(self, node: yaml.Node) -> Any:
        # YAML 1.1 reads 16:9 as the base-60 integer 969; image aspect ratios
        # are far more common in manifests than sexagesimal numbers.
        if node.tag == _INT_TAG and ":" in node.value and not getattr(node, "style", None):
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise self.error(_tag_problem(node), node.start_mark)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ValueError:  # an integer of more digits than Python converts, a bad !!float
            kind = node.tag.removeprefix(_YAML)
            raise self.error(f"{_shown(node)} cannot be read as {kind}", node.start_mark) from None
        problem = json_problem(value)
        if problem is not None:
            raise self.error(f"{_shown(node)} {problem}", node.start_mark)
        return value


def json_problem(value: Any) -> str | None:
    """Why a scalar has no JSON form (the rest of a sentence about it), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value not in _INTEGERS:
        return "is beyond the 64-bit integers JSON readers take"
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a JSON number (NaN and infinities have no JSON form); quote it for text"
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone surrogate escape, which is not Unicode text"
    return None


def _shown(node: yaml.Node) -> str:
    text = str(node.value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _tag_problem(node: yaml.Node) -> str:
    subject = _shown(node) if isinstance(node, yaml.ScalarNode) else "this value"
    tag = "!!" + node.tag.removeprefix(_YAML) if node.tag.startswith(_YAML) else node.tag
    refused = _REFUSED_TAGS.get(node.tag)
    if refused is None:
        return (
            f"unsupported YAML tag {tag}: a manifest holds strings, numbers, booleans, null,"
            " lists and mappings"
        )
    what, advice = refused
    return f"{subject} is {what} ({tag}), which JSON has no type for; {advice}"
