"""Derived targets: local Pillow transforms that cut a generated master into channel variants.

A derived target's ``transform`` is a list of one-key steps (``- resize: {...}``) applied in
order; the operations and their parameters are documented in
:mod:`imagebuild.derive.transforms`, and ``schemas/transforms.schema.json`` checks their shape.

This package's top level stays free of Pillow: ``plan`` asks it which image layers a chain reads
(:func:`layer_inputs`) and what format it writes (:func:`output_format_of`) without paying for
the import, which :func:`apply_transforms` makes only when pixels are needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from imagebuild.errors import ImageBuildError

__all__ = [
    "NO_LAYERS",
    "Encoding",
    "TransformError",
    "apply_transforms",
    "encoding_of",
    "layer_inputs",
    "output_format_of",
]

LayerKey = tuple[int, str]
NO_LAYERS: Mapping[LayerKey, bytes] = MappingProxyType({})

OUTPUT_FORMATS = ("PNG", "JPG", "WEBP", "AVIF")
LOSSY_FORMATS = frozenset({"JPG", "WEBP", "AVIF"})
DEFAULT_QUALITY = {"JPG": 90, "WEBP": 85, "AVIF": 70}


class TransformError(ImageBuildError):
    """A transform step cannot be applied.

    ``step`` is the index (from 0) of the step in the ``transform`` list (``None`` when the
    upstream image itself is at fault) and ``field`` the parameter of that step, so the caller can
    point at ``transform[step].<operation>.<field>`` in the manifest. The message names the
    operation but not the location, which the caller renders in its own terms.
    """

    def __init__(self, message: str, step: int | None, field: str | None = None) -> None:
        self.message = message
        self.step = step
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Encoding:
    """How the result is written: decided by the ``format`` step, else by the output suffix.

    ``step`` is the index of the ``format`` step, so encoder failures can point at it.
    """

    format: str
    quality: int | None = None
    lossless: bool = False
    progressive: bool = False
    background: str | None = None
    step: int | None = None


def layer_inputs(transforms: Sequence[Mapping[str, Any]]) -> list[tuple[int, str, Any]]:
    """``(step, "image", raw value)`` of every image layer the caller must supply as bytes.

    The raw value is a path relative to the manifest or ``{target: NAME[, index: N]}``; the
    caller resolves it (and records the DAG edge) and passes the bytes keyed ``(step, "image")``.
    """
    return [
        (index, "image", args["image"])
        for index, (name, args) in enumerate(_steps(transforms))
        if name == "composite" and isinstance(args, Mapping) and "image" in args
    ]


def output_format_of(transforms: Sequence[Mapping[str, Any]], default_format: str) -> str:
    """The format of the result (PNG, JPG, WEBP or AVIF), to check against the output suffix.

    Raises :class:`TransformError` for a ``format`` step its format cannot honour, so such
    mistakes surface when planning rather than after the upstream image was paid for.
    """
    return encoding_of(transforms, default_format).format


def encoding_of(transforms: Sequence[Mapping[str, Any]], default_format: str) -> Encoding:
    """The encoder settings of a chain; ``default_format`` applies when no step names a type."""
    found = [
        (index, args)
        for index, (name, args) in enumerate(_steps(transforms))
        if name == "format" and isinstance(args, Mapping)
    ]
    if not found:
        fmt = _default_format(default_format)
        return Encoding(fmt, DEFAULT_QUALITY.get(fmt))
    if len(found) > 1:
        raise TransformError(
            "format: only one format step is allowed; the result is encoded once, at the end",
            found[1][0],
        )
    index, args = found[0]
    if "type" not in args:
        fmt = _default_format(default_format)
    elif (fmt := _normalise_format(str(args["type"]))) not in OUTPUT_FORMATS:
        allowed = ", ".join(OUTPUT_FORMATS)
        raise TransformError(
            f"format: unknown type {args['type']!r}; allowed: {allowed}", index, "type"
        )
    _check_encoder_options(fmt, args, index)
    quality = args.get("quality", DEFAULT_QUALITY.get(fmt))
    return Encoding(
        format=fmt,
        quality=None if quality is None else int(quality),
        lossless=bool(args.get("lossless", False)),
        progressive=bool(args.get("progressive", False)),
        background=args.get("background"),
        step=index,
    )


def apply_transforms(
    source: bytes,
    transforms: Sequence[Mapping[str, Any]],
    *,
    default_format: str,
    layers: Mapping[LayerKey, bytes] = NO_LAYERS,
    fonts_dir: Path | None = None,
) -> bytes:
    """Apply ``transforms`` to the encoded ``source`` and return the encoded result.

    Same inputs give the same bytes. ``layers`` holds the bytes of every image layer named by
    :func:`layer_inputs`; fonts are read from ``fonts_dir`` (the manifest's folder).
    """
    from imagebuild.derive.transforms import run_chain  # Pillow loads only when pixels are made

    encoding = encoding_of(transforms, default_format)
    return run_chain(source, transforms, encoding, layers, fonts_dir)


def _steps(transforms: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """``(operation, arguments)`` per step; a malformed step is located, never guessed at."""
    steps = []
    for index, step in enumerate(transforms):
        if not isinstance(step, Mapping) or len(step) != 1:
            raise TransformError(
                "each transform step is a mapping with exactly one operation, "
                "like '- resize: {width: 800}'",
                index,
            )
        ((name, args),) = step.items()
        steps.append((str(name), args))
    return steps


def _normalise_format(name: str) -> str:
    """Accept any case and the ``JPEG`` spelling, as output suffixes and APIs use both."""
    upper = name.strip().upper()
    return "JPG" if upper == "JPEG" else upper


def _default_format(name: str) -> str:
    """The caller's format from the output suffix; an unknown one is the caller's bug."""
    fmt = _normalise_format(name)
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown default_format {name!r}; expected one of {OUTPUT_FORMATS}")
    return fmt


def _check_encoder_options(fmt: str, args: Mapping[str, Any], index: int) -> None:
    """Reject options the chosen format would silently ignore, and qualities out of range."""
    quality = args.get("quality")
    if quality is not None and not 1 <= quality <= 100:
        raise TransformError(f"format: quality must be 1..100, got {quality}", index, "quality")
    if "quality" in args and fmt not in LOSSY_FORMATS:
        raise TransformError(
            f"format: quality applies to JPG, WEBP and AVIF; {fmt} is lossless", index, "quality"
        )
    if args.get("lossless") and fmt != "WEBP":
        raise TransformError(f"format: lossless applies to WEBP only, not {fmt}", index, "lossless")
    if args.get("progressive") and fmt != "JPG":
        raise TransformError(
            f"format: progressive applies to JPG only, not {fmt}", index, "progressive"
        )
