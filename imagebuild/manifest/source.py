"""Load YAML while remembering where every key and value stands in the file.

Errors found much later (a schema violation in an expanded target) are
reported against the manifest, so the loader keeps a side table from value
path, e.g. ``("targets", 3, "width")``, to (line, column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagebuild.errors import Location, ManifestError

ValuePath = tuple[str | int, ...]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


def load_source(path: Path, display: str | None = None) -> Source:
    """Parse ``path``; YAML syntax errors become one located ManifestError."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("manifest not found", Location(shown, 1, 1)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read manifest: {error}", Location(shown, 1, 1)) from None
    return parse_source(text, shown)


def parse_source(text: str, display: str) -> Source:
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        # The problem mark is where the parser gave up; when that is the end
        # of the file (an unclosed quote), where the construct began says more.
        mark = error.problem_mark
        if mark is None or (
            error.context_mark is not None and "end of stream" in (error.problem or "")
        ):
            mark = error.context_mark
        problem = error.problem or "invalid YAML"
        if error.context:
            problem = f"{problem} {error.context}"
        where = Location(display, mark.line + 1, mark.column + 1) if mark else None
        raise ManifestError(f"YAML syntax error: {problem}", where) from None
    except yaml.YAMLError as error:
        raise ManifestError(f"YAML error: {error}", Location(display, 1, 1)) from None
    source = Source(display, None)
    if root is None:
        source.data = {}
        return source
    source.data = _Builder(source).build(root, ())
    return source


class _Builder:
    """Turns composed YAML nodes into plain values, filling the position tables."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: ValuePath) -> Any:
        self.source.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: ValuePath) -> dict[str, Any]:
        written = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        self.constructor.flatten_mapping(node)
        # flatten_mapping puts the pairs merged in by ``<<`` first: keys
        # written beside ``<<`` override them, but not each other.
        first_written = len(node.value) - written
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
        return self.constructor.construct_object(node, deep=True)
