"""Resolve expanded target specs into targets: a provider, a model schema, a
request in the provider's own field names, input files and output paths."""

from __future__ import annotations

import math
import os
import posixpath
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from imagebuild.confinement import INPUT_ROOTS_ENV, Confinement
from imagebuild.errors import ManifestError, collected, unknown_name
from imagebuild.manifest.expand import Manifest, TargetSpec
from imagebuild.manifest.paths import input_problem, output_problem
from imagebuild.registry.models import ModelInfo, Registry, UnknownModelError

if TYPE_CHECKING:
    from imagebuild.derive import TransformError

RequestPath = tuple[str | int, ...]

BUILD_KEYS = frozenset({"name", "output", "provider", "from", "transform", "tags", "prompt"})
DERIVED_BUILD_KEYS = frozenset({"name", "output", "tags", "from", "transform"})
DERIVE = "derive"
# Set by imagebuild itself: a manifest that chose a taskUUID could make two
# targets share one paid result, or defeat crash recovery. A value equal to
# what imagebuild sends anyway (``includeCost: true``, as the API's own examples
# write it) is accepted and changes nothing; any other value is refused with
# the reason.
PROVIDER_OWNED: dict[str, tuple[object, str]] = {
    "taskType": ("imageInference", "every generation is sent as an imageInference task"),
    "deliveryMethod": (
        "async",
        "results are collected by polling (async delivery), so a crash never loses a paid one",
    ),
    "includeCost": (True, "imagebuild always asks for the cost, to report what was spent"),
    "taskUUID": (None, "imagebuild chooses and journals task ids, so a crash never pays twice"),
    "outputType": (None, "choose it with providers.runware.outputType"),
    "webhookURL": (None, "imagebuild collects results itself"),
    "uploadEndpoint": (None, "imagebuild writes results beside the manifest"),
}
PROVIDERS = ("local", "runware", "runcomfy")
FORMAT_BY_SUFFIX = {".png": "PNG", ".jpg": "JPG", ".jpeg": "JPG", ".webp": "WEBP", ".avif": "AVIF"}
SUFFIX_BY_FORMAT = {"PNG": ".png", "JPG": ".jpg", "WEBP": ".webp", "AVIF": ".avif"}
_REMOTE_IMAGE = re.compile(
    r"(?:https?://|data:)|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)


@dataclass(frozen=True, slots=True)
class Reference:
    """``{target: NAME, index: N}``: output N (from 1) of another target, a DAG edge."""

    target: str
    index: int = 1


@dataclass(slots=True)
class Target:
    spec: TargetSpec
    provider: str
    model: ModelInfo
    request: dict[str, Any]
    inputs: dict[RequestPath, str]
    outputs: tuple[str, ...]
    output_format: str
    references: dict[RequestPath, Reference] = field(default_factory=dict)
    # Targets this one reads, in the order first referenced; planning, ordering
    # and execution each ask, ten thousand times.
    upstreams: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.references:
            self.upstreams = tuple(
                dict.fromkeys(reference.target for reference in self.references.values())
            )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def derived(self) -> bool:
        return self.provider == DERIVE

    @property
    def tags(self) -> tuple[str, ...]:
        tags = self.spec.fields.get("tags", ())
        return tuple(tags) if isinstance(tags, list) else ()

    @property
    def number_results(self) -> int:
        count = self.request.get("numberResults", 1)
        return count if isinstance(count, int) else 1

    def manifest_field(self, path: RequestPath) -> RequestPath:
        """The manifest's name for a request path (``positivePrompt`` was ``prompt``)."""
        if path and path[0] == self.model.prompt_field and "prompt" in self.spec.fields:
            return ("prompt", *path[1:])
        return path


def resolve_targets(
    manifest: Manifest, registry: Registry, provider_override: str | None = None
) -> list[Target]:
    """Every target of the manifest; all problems are reported together."""
    targets: list[Target] = []
    errors: list[ManifestError] = []
    confinement = Confinement(manifest.root)
    for spec in manifest.targets:
        try:
            targets.append(
                _Resolver(manifest, spec, confinement).resolve(registry, provider_override)
            )
        except ManifestError as error:
            errors.append(error)
    if errors:
        raise collected(errors)
    return targets


def check_defaults(manifest: Manifest, targets: list[Target]) -> None:
    """A request field in ``defaults`` that no generated target's model takes
    is a typo: it would silently apply nowhere."""
    generated = [target for target in targets if not target.derived]
    if not generated:
        return
    known = {key for target in generated for key in target.model.properties} | BUILD_KEYS
    errors = []
    for key in manifest.source.data.get("defaults") or {}:
        if key not in known and key not in DERIVED_BUILD_KEYS:
            message = f"{unknown_name('field', key, sorted(known))}: no target's model takes it"
            errors.append(manifest.source.error(message, ("defaults", key), key=True))
    if errors:
        raise collected(errors)


def _takes(model: ModelInfo, key: str) -> bool:
    return key in model.properties or key == "outputFormat"


def replace_at(node: Any, path: RequestPath, value: str) -> Any:
    """``node`` with ``value`` at ``path``, copying only the containers on the
    way: the request itself is shared with the target and stays untouched."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, list):
        copy = list(node)
        copy[int(head)] = replace_at(node[int(head)], rest, value)
        return copy
    return {**node, head: replace_at(node[head], rest, value)}


def normalise_prompt(text: str) -> str:
    """Whitespace never changes a picture; collapsing it keeps re-wrapped YAML from regenerating."""
    return " ".join(text.split())


def iter_image_inputs(
    request: dict[str, Any], fields: tuple[str, ...]
) -> list[tuple[RequestPath, Any]]:
    """(path, value) of every image input present, for schema paths like
    ``referenceImages[]`` or ``controlNet[].guideImage``."""
    found: list[tuple[RequestPath, Any]] = []
    for parts in _split_paths(fields):
        _walk(request, parts, (), found)
    return found


@cache
def _split_paths(fields: tuple[str, ...]) -> tuple[list[str], ...]:
    return tuple(spec.replace("[]", ".[]").split(".") for spec in fields)


def _walk(
    node: Any, parts: list[str], path: RequestPath, found: list[tuple[RequestPath, Any]]
) -> None:
    if not parts:
        found.append((path, node))
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(node, list):
            for index, item in enumerate(node):
                _walk(item, rest, (*path, index), found)
    elif isinstance(node, dict) and head in node:
        _walk(node[head], rest, (*path, head), found)


class _Resolver:
    def __init__(self, manifest: Manifest, spec: TargetSpec, confinement: Confinement) -> None:
        self.manifest = manifest
        self.spec = spec
        self.confinement = confinement

    def error(self, message: str, field: RequestPath = ()) -> ManifestError:
        return self.manifest.target_error(self.spec, message, field)

    def resolve(self, registry: Registry, provider_override: str | None) -> Target:
        fields = self.spec.fields
        tags = fields.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags):
            raise self.error("tags must be a list of names", ("tags",))
        if "from" in fields:
            return self._derived(registry.derive)
        if "transform" in fields:
            raise self.error(
                "transform needs from: the target whose output it transforms", ("transform",)
            )
        provider = fields.get("provider")
        if provider is not None and provider not in PROVIDERS:
            raise self.error(
                f"unknown provider '{provider}'; known: {', '.join(PROVIDERS)}", ("provider",)
            )
        model_id = fields.get("model")
        if model_id is not None and not isinstance(model_id, str):
            raise self.error("model must be a string", ("model",))
        try:
            model = registry.find(provider, model_id)
        except UnknownModelError as error:
            raise self.error(
                str(error), ("model",) if model_id is not None else ("provider",)
            ) from None
        request = self._request(model)
        output_format, outputs = self._outputs(model, request)
        inputs, references = self._inputs(model, request)
        return Target(
            spec=self.spec,
            provider=provider_override or provider or model.provider,
            model=model,
            request=request,
            inputs=inputs,
            outputs=outputs,
            output_format=output_format,
            references=references,
        )

    def _derived(self, model: ModelInfo) -> Target:
        """``from`` + ``transform``: a local Pillow derivation, free, no provider."""
        fields = self.spec.fields
        # Request fields in ``defaults`` are meant for generated targets; only
        # what is written on the derived target itself is its own mistake.
        request = {
            key: value
            for key, value in fields.items()
            if key not in DERIVED_BUILD_KEYS and self.spec.origins[key][0] != "defaults"
        }
        request["from"] = fields["from"]
        transforms = fields.get("transform", [])
        request["transform"] = transforms
        declared = fields.get("output")
        if not isinstance(transforms, list):
            raise self.error("transform must be a list of one-key mappings", ("transform",))
        fmt = None
        try:
            if any(isinstance(step, dict) and "format" in step for step in transforms):
                from imagebuild.derive import TransformError, output_format_of

                try:
                    fmt = output_format_of(transforms, "") or None
                except TransformError as error:
                    raise self.error(error.message, _step_field(transforms, error)) from None
        except (ValueError, TypeError, AttributeError, KeyError):
            fmt = None  # an invalid transform list: the schema reports it, located
        if declared is None:
            declared = f"out/{self.spec.name}{SUFFIX_BY_FORMAT.get(fmt or 'PNG', '.png')}"
        if not isinstance(declared, str):
            raise self.error("a derived target has one output path", ("output",))
        suffix_format = self._suffix_format(declared)
        if fmt is not None and fmt != suffix_format:
            raise self.error(
                f"output {declared} does not match the format step ({fmt})", ("output",)
            )
        inputs, references = self._inputs(model, request)
        return Target(
            spec=self.spec,
            provider=DERIVE,
            model=model,
            request=request,
            inputs=inputs,
            outputs=(self._inside_root(declared),),
            output_format=suffix_format,
            references=references,
        )

    def _request(self, model: ModelInfo) -> dict[str, Any]:
        fields = self.spec.fields
        origins = self.spec.origins
        request = {
            key: value
            for key, value in fields.items()
            if key not in BUILD_KEYS
            # ``defaults`` serve targets of every model: a field reaches only
            # the targets whose model takes it (and one that reaches none is a
            # typo, reported by ``check_defaults``). ``outputFormat`` is taken
            # by every model: imagebuild converts where the API cannot.
            and (origins[key][0] != "defaults" or _takes(model, key))
        }
        # A field the model does not take at all is left for its schema to
        # report as unknown.
        for key in [key for key in request if key in PROVIDER_OWNED and key in model.properties]:
            sent, reason = PROVIDER_OWNED[key]
            if sent is None or request[key] != sent:
                sends = "" if sent is None else f", which sends {sent!r}"
                raise self.error(f"field '{key}' is set by imagebuild{sends}: {reason}", (key,))
            del request[key]
        if "prompt" in fields:
            if model.prompt_field != "prompt" and model.prompt_field in fields:
                raise self.error(
                    f"give either prompt or {model.prompt_field}, not both", ("prompt",)
                )
            request[model.prompt_field] = fields["prompt"]
        if model.model is not None:
            request.setdefault("model", model.model)
        if "aspect_ratio" in model.properties and "width" not in model.properties:
            self._size_to_aspect_ratio(model, request)
        for key in (model.prompt_field, "negativePrompt"):
            if isinstance(request.get(key), str):
                request[key] = normalise_prompt(request[key])
        return request

    def _size_to_aspect_ratio(self, model: ModelInfo, request: dict[str, Any]) -> None:
        """Models that take an aspect ratio instead of pixels (RunComfy) accept
        the provider-neutral ``width``/``height`` when they reduce to one."""
        if "width" not in request and "height" not in request:
            return
        width, height = request.pop("width", None), request.pop("height", None)
        if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
            raise self.error("width and height go together, as positive integers", ("width",))
        divisor = math.gcd(width, height)
        ratio = f"{width // divisor}:{height // divisor}"
        allowed = model.properties["aspect_ratio"].get("enum", [])
        if ratio not in allowed:
            raise self.error(
                f"size {width}x{height} is aspect ratio {ratio}, which {model.model} does not"
                f" offer; allowed: {', '.join(allowed)}",
                ("width",),
            )
        if request.setdefault("aspect_ratio", ratio) != ratio:
            raise self.error(
                f"aspect_ratio {request['aspect_ratio']} contradicts size {width}x{height}",
                ("width",),
            )

    def _outputs(self, model: ModelInfo, request: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        declared = self.spec.fields.get("output")
        requested = request.get("outputFormat")
        if declared is not None and self.spec.origins.get("outputFormat", ("",))[0] == "defaults":
            requested = None  # what the target itself writes beats the defaults
        fmt = str(requested).upper() if requested is not None else None
        if declared is None:
            fmt = fmt or model.default_format or "PNG"
            declared = f"out/{self.spec.name}{SUFFIX_BY_FORMAT.get(fmt, '.png')}"
        paths = [declared] if isinstance(declared, str) else declared
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise self.error("output must be a path or a list of paths", ("output",))
        suffix_format = self._suffix_format(paths[0])
        if any(self._suffix_format(path) != suffix_format for path in paths[1:]):
            raise self.error("all outputs of a target must share one format", ("output",))
        if fmt is not None and fmt != suffix_format:
            raise self.error(
                f"output {paths[0]} does not match outputFormat {fmt}",
                ("output",),
            )
        # Always explicit, so that spelling out the default path or format
        # does not change the fingerprint; a model whose API takes no format
        # gets its result converted to this one (the written file always has
        # the format its name says).
        request["outputFormat"] = suffix_format
        count = request.get("numberResults", 1)
        count = count if isinstance(count, int) and count > 0 else 1
        if count > model.properties.get("numberResults", {}).get("maximum", 1):
            # The schema refuses the request along with every other problem;
            # naming a hundred billion outputs first would never end.
            return suffix_format, (self._inside_root(paths[0]),)
        if len(paths) == 1 and count > 1:
            stem, suffix = posixpath.splitext(paths[0])
            paths = [f"{stem}-{index}{suffix}" for index in range(1, count + 1)]
        elif len(paths) != count:
            raise self.error(f"{len(paths)} outputs listed for numberResults {count}", ("output",))
        return suffix_format, tuple(self._inside_root(path) for path in paths)

    def _suffix_format(self, path: str) -> str:
        suffix = posixpath.splitext(path)[1].lower()
        if suffix not in FORMAT_BY_SUFFIX:
            raise self.error(
                f"output '{path}' must end in .png, .jpg, .jpeg, .webp or .avif", ("output",)
            )
        return FORMAT_BY_SUFFIX[suffix]

    def _inside_root(self, path: str) -> str:
        problem = output_problem(path)
        if problem is not None:
            raise self.error(f"output {path!r} {problem}", ("output",))
        normal = posixpath.normpath(path.replace("\\", "/"))
        if normal.startswith(("/", "../")) or normal in ("..", "."):
            raise self.error(f"output '{path}' escapes the manifest folder", ("output",))
        if not self.confinement.writable(normal):
            raise self.error(
                f"output '{path}' escapes the manifest folder through a symlinked folder",
                ("output",),
            )
        return normal

    def _inputs(
        self, model: ModelInfo, request: dict[str, Any]
    ) -> tuple[dict[RequestPath, str], dict[RequestPath, Reference]]:
        """Local input files and references to other targets, by request path."""
        inputs: dict[RequestPath, str] = {}
        references: dict[RequestPath, Reference] = {}
        if model.input_roots.isdisjoint(request):
            return inputs, references
        for path, value in iter_image_inputs(request, model.image_inputs):
            if isinstance(value, dict):
                references[path] = self._reference(value, path)
            elif path == ("from",) and isinstance(value, str):
                references[path] = Reference(value)
            elif isinstance(value, str) and not _REMOTE_IMAGE.match(value):
                problem = input_problem(value)
                if problem is not None:
                    raise self.error(f"input {value!r} {problem}", path)
                relative = os.path.normpath(value)
                file = self.manifest.root / relative
                try:
                    readable = self.confinement.readable(file)
                    found = readable and file.is_file()
                except OSError as error:
                    raise self.error(f"cannot read input {value}: {error.strerror}", path) from None
                if not readable:
                    raise self.error(
                        f"input {value} is outside the manifest's folder (and outside"
                        f" {INPUT_ROOTS_ENV}, the folders a build may also read from)",
                        path,
                    )
                if not found:
                    raise self.error(f"input file not found: {value}", path)
                inputs[path] = PurePosixPath(relative).as_posix()
        return inputs, references

    def _reference(self, value: dict[str, Any], path: RequestPath) -> Reference:
        unknown = sorted(set(value) - {"target", "index"})
        if unknown or not isinstance(value.get("target"), str):
            raise self.error(
                "a target reference is {target: NAME} or {target: NAME, index: N}", path
            )
        index = value.get("index", 1)
        if not isinstance(index, int) or isinstance(index, bool) or index < 1:
            raise self.error("a reference's index counts outputs from 1", (*path, "index"))
        return Reference(value["target"], index)


def _step_field(transforms: list[Any], error: TransformError) -> RequestPath:
    """Where a transform error points: ``transform[step].operation.field``."""
    if error.step is None:
        return ("transform",)
    step = transforms[error.step]
    operation = next(iter(step)) if isinstance(step, dict) and len(step) == 1 else None
    if operation is None or error.field is None:
        return ("transform", error.step)
    return ("transform", error.step, operation, error.field)
