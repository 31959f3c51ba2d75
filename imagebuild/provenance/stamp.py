"""Provenance into each new output, at the moment the executor records it.

The bytes written, hashed and cached are the stamped ones. What dependents
are fingerprinted with is the digest of the image as delivered (``content``):
a regeneration whose pixels come out identical then keeps its dependents, as
before, although its new task id makes the file itself differ.

A paid image is never lost to its metadata: a file whose container cannot
take it (AVIF, which keeps metadata in item boxes addressed by offsets that
splicing would have to rewrite; or bytes that do not parse) is written as
delivered.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from imagebuild.planning.files import hash_file
from imagebuild.planning.fingerprint import digest_bytes
from imagebuild.planning.plan import Step
from imagebuild.provenance.blob import Blob, ContainerError, opened, rewrite_file
from imagebuild.provenance.containers import container_of
from imagebuild.provenance.metadata import Metadata
from imagebuild.provenance.origin import DERIVED, Origin, has_type
from imagebuild.provenance.reading import origin_in
from imagebuild.providers.base import GeneratedImage


@dataclass(frozen=True, slots=True)
class Stamped:
    """The image to record, and the sha256 of the image as delivered."""

    image: GeneratedImage
    content: str


def origin_of(
    step: Step,
    index: int,
    image: GeneratedImage,
    *,
    task_id: str | None,
    manifest: Path | None,
    source: Path | None,
) -> Origin:
    """Output ``index`` (from 1) of ``step``, delivered as ``image`` by the
    task ``task_id``. ``source`` is a derived target's input file, whose own
    origin the new one carries."""
    target = step.target
    request = step.request
    width, height = _size(image) or (None, None)
    common: dict[str, Any] = {
        "target": target.name,
        "fingerprint": step.fingerprint,
        "output": index,
        "manifest": manifest_label(manifest) if manifest is not None else None,
        "width": width,
        "height": height,
    }
    if target.derived:
        upstream = origin_in(source) if source is not None else None
        return Origin(
            provider=DERIVED,
            source=target.references[("from",)].target,
            transform=request["transform"],
            upstream=upstream,
            preview=upstream is not None and upstream.preview,
            **common,
        )
    return Origin(
        provider=target.provider,
        model=_typed(request.get("model"), str),
        prompt=_typed(request.get(target.model.prompt_field), str),
        negative_prompt=_typed(request.get("negativePrompt"), str),
        seed=image.seed if image.seed is not None else _typed(request.get("seed"), int),
        steps=_typed(request.get("steps"), int),
        scheduler=_typed(request.get("scheduler"), str),
        cfg_scale=_typed(request.get("CFGScale"), float),
        strength=_typed(request.get("strength"), float),
        clip_skip=_typed(request.get("clipSkip"), int),
        task_uuid=task_id,
        image_uuid=image.image_uuid,
        preview=_is_preview(step),
        **common,
    )


def stamp(image: GeneratedImage, origin: Origin) -> Stamped:
    """``image`` with ``origin`` embedded: new bytes, or its staged file rewritten."""
    metadata = Metadata.of(origin)
    if image.data is not None:
        blob = Blob(image.data)
        try:
            data = blob.join(container_of(blob).embed(blob, metadata))
        except ContainerError:
            data = image.data
        return Stamped(replace(image, data=data), digest_bytes(image.data))
    assert image.staged is not None
    content = hash_file(image.staged)
    with suppress(ContainerError):
        rewrite_file(image.staged, lambda blob: container_of(blob).embed(blob, metadata))
    return Stamped(image, content)


@cache
def manifest_label(manifest: Path) -> str:
    """The manifest as a path from the top of its git work tree, or its file
    name outside one: the same whichever folder a build runs from, on every
    clone, and no home folder inside a published image."""
    for folder in manifest.parents:
        if (folder / ".git").exists():
            return manifest.relative_to(folder).as_posix()
    return manifest.name


def _size(image: GeneratedImage) -> tuple[int, int] | None:
    source = image.data if image.data is not None else image.staged
    assert source is not None
    try:
        with opened(source) as blob:
            return container_of(blob).size(blob)
    except ContainerError:
        return None


def _is_preview(step: Step) -> bool:
    if step.target.provider != "local":
        return False
    from imagebuild.providers.local import is_preview

    return is_preview(step.request)


def _typed(value: Any, kind: type) -> Any:
    """A request field as the record holds it, or nothing: a templated field
    of another type is the schema's business, not a reason to lose an image."""
    return value if has_type(value, kind) else None
