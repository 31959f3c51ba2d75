"""From a parsed manifest to target specs: vars, defaults, matrix, templates.

Expansion renders every template and checks the manifest's own structure;
whether a request is acceptable to a model is the registry's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagebuild.errors import ManifestError, SettingError, unknown_name
from imagebuild.manifest.limits import LimitError, Limits
from imagebuild.manifest.matrix import MatrixError, expand_matrix, matrix_size, misspelt_keyword
from imagebuild.manifest.source import Source, ValuePath, load_source
from imagebuild.manifest.template import TemplateEngine, TemplateError
from imagebuild.providers.settings import HTTP_PROVIDERS, parse_prices, setting_values

TOP_LEVEL_KEYS = ("version", "vars", "defaults", "providers", "cache", "targets")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
Renderer = Callable[[Mapping[str, Any], str | None], Any]


@dataclass(slots=True)
class TargetSpec:
    """One expanded target: rendered fields plus where each was written."""

    name: str
    entry: int
    fields: dict[str, Any]
    origins: dict[str, ValuePath]
    matrix: dict[str, Any] = field(default_factory=dict)

    def origin(self, path: tuple[str | int, ...]) -> ValuePath:
        """The manifest path a field path of this target was written at."""
        if not path:
            return ("targets", self.entry, "name")
        head = self.origins.get(str(path[0]), ("targets", self.entry, "name"))
        return (*head, *path[1:])


@dataclass(slots=True)
class Manifest:
    path: Path
    source: Source
    variables: dict[str, Any]
    providers: dict[str, dict[str, Any]]
    targets: list[TargetSpec]
    # The ``cache`` block, checked: the remote cache's settings.
    cache: dict[str, Any] = field(default_factory=dict)
    # Template files its ``{% include %}`` and ``{% import %}`` read.
    includes: frozenset[Path] = frozenset()

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def display(self) -> str:
        return self.source.path

    def error(self, message: str, path: ValuePath, target: str | None = None) -> ManifestError:
        return self.source.error(message, path, target)

    def target_error(
        self, spec: TargetSpec, message: str, field_path: tuple[str | int, ...]
    ) -> ManifestError:
        return self.error(message, spec.origin(field_path), spec.name)


def load_manifest(path: Path, display: str | None = None, limits: Limits | None = None) -> Manifest:
    """Load and expand a manifest; raises a located ManifestError. The limits
    default to those of the environment (``IMAGEBUILD_MAX_*``)."""
    limits = limits or Limits.from_environ()
    source = load_source(path, display, limits)
    return _Expander(source, path.resolve(), limits).expand()


class _Expander:
    def __init__(self, source: Source, path: Path, limits: Limits) -> None:
        self.source = source
        self.path = path
        self.limits = limits
        self.engine = TemplateEngine(path.parent, limits)

    def error(
        self, message: str, path: ValuePath, target: str | None = None, *, key: bool = False
    ) -> ManifestError:
        return self.source.error(message, path, target, key=key)

    def expand(self) -> Manifest:
        document = self.source.data
        if not isinstance(document, dict):
            raise self.error("a manifest is a mapping with version and targets", ())
        for key in document:
            if key not in TOP_LEVEL_KEYS:
                message = unknown_name("top-level key", key, TOP_LEVEL_KEYS)
                raise self.error(message, (key,), key=True)
        if document.get("version") != 1:
            raise self.error("version must be 1", ("version",) if "version" in document else ())
        variables = self._variables(self._mapping(document, "vars"))
        defaults = self._mapping(document, "defaults")
        providers = self._providers(self._mapping(document, "providers"))
        cache = self._cache(self._mapping(document, "cache")) if "cache" in document else {}
        entries = document.get("targets")
        if not isinstance(entries, list) or not entries:
            raise self.error("targets must be a non-empty list", ("targets",))
        targets: list[TargetSpec] = []
        seen: dict[str, int] = {}
        context = self.engine.context(variables)
        for index, entry in enumerate(entries):
            for spec in self._entry(index, entry, defaults, context, len(targets)):
                if spec.name in seen:
                    first = self.source.locate(("targets", seen[spec.name]))
                    raise self.error(
                        f"duplicate target name '{spec.name}' (also defined at line {first.line})",
                        ("targets", index, "name"),
                        spec.name,
                    )
                seen[spec.name] = index
                targets.append(spec)
        return Manifest(
            self.path,
            self.source,
            variables,
            providers,
            targets,
            cache,
            frozenset(self.engine.included),
        )

    def _mapping(self, document: dict[str, Any], key: str) -> dict[str, Any]:
        value = document.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a mapping", (key,))
        return value

    def _variables(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Variables may use the ones defined before them."""
        variables: dict[str, Any] = {}
        for name, value in raw.items():
            variables[name] = self._render(
                value, self.engine.context(variables), ("vars", name), None
            )
        return variables

    def _providers(self, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
        for name, settings in raw.items():
            if not isinstance(settings, dict):
                raise self.error(
                    f"provider settings for '{name}' must be a mapping", ("providers", name)
                )
            for secret in ("key", "apiKey", "token", "api_key"):
                if secret in settings:
                    raise self.error(
                        f"providers.{name}.{secret}: keys come from the environment, "
                        "never from the manifest",
                        ("providers", name, secret),
                        key=True,
                    )
            try:
                if name in HTTP_PROVIDERS:
                    setting_values(name, settings)
                elif "prices" in settings:
                    parse_prices(name, settings["prices"])
            except SettingError as error:
                where = ("providers", name, *error.path)
                raise self.error(str(error), where, key=error.at_key) from None
        return raw

    def _cache(self, raw: dict[str, Any]) -> dict[str, Any]:
        from imagebuild.remote.errors import RemoteSettingError
        from imagebuild.remote.settings import check_block

        try:
            check_block(raw)
        except RemoteSettingError as error:
            raise self.error(str(error), ("cache", *error.path), key=error.at_key) from None
        return raw

    def _entry(
        self,
        index: int,
        entry: Any,
        defaults: dict[str, Any],
        context: dict[str, Any],
        earlier: int,
    ) -> list[TargetSpec]:
        """The targets of one entry; ``earlier`` targets came before it."""
        where: ValuePath = ("targets", index)
        if not isinstance(entry, dict):
            raise self.error("a target must be a mapping", where)
        if "name" not in entry:
            raise self.error("target has no name", where)
        matrix = entry.get("matrix")
        fields = _merge(defaults, {k: v for k, v in entry.items() if k != "matrix"})
        origins: dict[str, ValuePath] = {
            key: (*where, key) if key in entry else ("defaults", key) for key in fields
        }
        combinations: list[dict[str, Any]] = [{}]
        if matrix is not None:
            if not isinstance(matrix, dict):
                raise self.error("matrix must be a mapping of lists", (*where, "matrix"))
            rendered = self._render(matrix, context, (*where, "matrix"), None)
            self._check_keywords(rendered, fields, (*where, "matrix"))
            try:
                count, comparisons = matrix_size(rendered)
                if earlier + count > self.limits.targets:
                    what = f"this matrix brings the manifest to {earlier + count:,} targets"
                    raise LimitError(self.limits.over("targets", what))
                self.engine.meter.step(comparisons)
                combinations = expand_matrix(rendered)
            except MatrixError as error:
                raise self.error(str(error), (*where, "matrix", *error.key)) from None
            except LimitError as error:
                raise self.error(str(error), (*where, "matrix"), key=True) from None
        elif earlier + 1 > self.limits.targets:
            what = f"the manifest has more than {self.limits.targets:,} targets"
            raise self.error(self.limits.over("targets", what), where)
        name_renderer = self._renderer(fields["name"], origins["name"])
        renderers = {
            key: renderer
            for key, value in fields.items()
            if key != "name" and (renderer := self._renderer(value, origins[key])) is not None
        }
        specs = []
        for combination in combinations:
            local = {**context, **combination, "matrix": combination} if combination else context
            name = name_renderer(local, None) if name_renderer else fields["name"]
            if not isinstance(name, str) or not NAME_PATTERN.match(name):
                raise self.error(
                    f"invalid target name {name!r}: use letters, digits, '.', '_' and '-'",
                    origins["name"],
                )
            local = {**local, "name": name}
            values = dict(fields)
            values["name"] = name
            for key, renderer in renderers.items():
                values[key] = renderer(local, name)
            specs.append(TargetSpec(name, index, values, origins, combination))
        return specs

    def _check_keywords(
        self, matrix: dict[str, Any], fields: dict[str, Any], where: ValuePath
    ) -> None:
        """A misspelt ``exclude`` would silently become one more variable. A
        key that reads like ``include`` or ``exclude`` is a variable only
        when a template of the target uses it."""
        for key in matrix:
            keyword = misspelt_keyword(key)
            if keyword is not None and not _uses(fields, re.compile(rf"\b{re.escape(key)}\b")):
                raise self.error(
                    f"matrix key '{key}' is not a variable any template of this target uses"
                    f" (did you mean '{keyword}'?); to keep a variable of that name, use it in"
                    f' a template, such as the name: "...-{{{{ {key} }}}}"',
                    (*where, key),
                    key=True,
                )

    def _render(
        self, value: Any, context: Mapping[str, Any], path: ValuePath, target: str | None
    ) -> Any:
        """``value`` with its templates rendered, once."""
        renderer = self._renderer(value, path)
        return renderer(context, target) if renderer is not None else value

    def _renderer(self, value: Any, path: ValuePath) -> Renderer | None:
        """A function rendering ``value``'s templates in a context, or None when
        it has none. Built once per manifest entry and called per matrix
        combination: the walk through lists and mappings, and the paths that
        locate an error, are worked out once, and parts without a template are
        shared as they are."""
        if isinstance(value, str):
            if not TemplateEngine.is_template(value):
                return None
            engine, source = self.engine, self.source

            def render_text(context: Mapping[str, Any], target: str | None) -> Any:
                try:
                    return engine.render(value, context)
                except TemplateError as error:
                    raise source.error(str(error), path, target) from None

            return render_text
        if isinstance(value, list | dict):
            keys = range(len(value)) if isinstance(value, list) else value.keys()
            parts = [
                (key, renderer)
                for key in keys
                if (renderer := self._renderer(value[key], (*path, key))) is not None
            ]
            if not parts:
                return None

            def render_container(context: Mapping[str, Any], target: str | None) -> Any:
                rendered = value.copy()
                for key, renderer in parts:
                    rendered[key] = renderer(context, target)
                return rendered

            return render_container
        return None


def _uses(value: Any, name: re.Pattern[str]) -> bool:
    """Whether a template among ``value``'s strings mentions ``name``."""
    if isinstance(value, str):
        return TemplateEngine.is_template(value) and name.search(value) is not None
    if isinstance(value, dict):
        return any(_uses(item, name) for item in value.values())
    if isinstance(value, list):
        return any(_uses(item, name) for item in value)
    return False


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in override wins."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged
