"""The embedded offline provider: the deterministic renderer, in worker threads.

Same request, same bytes. Models whose seed is not part of the request
(ImagineArt 1.5) take their composition from the fingerprint instead, so a
preview of them is deterministic too. A render standing in for another
model (``--provider local``) is a preview and carries a visible mark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread

from imagebuild.errors import InvalidRequestError
from imagebuild.imageformat import api_input
from imagebuild.providers.base import GeneratedImage, Generation, GenerationTask, TaskJournal
from imagebuild.registry.models import LOCAL_MODEL
from imagebuild.render import RenderSpec, render

DEFAULT_SIZE = 1024


class LocalProvider:
    name = "local"

    def __init__(self, sizes: dict[str, tuple[int, int]] | None = None) -> None:
        self.default_sizes = sizes or {}

    async def generate(self, task: GenerationTask, journal: TaskJournal) -> Generation:
        size = self.default_sizes.get(str(task.request.get("model")), None)
        try:
            specs = await anyio.to_thread.run_sync(render_specs, task, size)
            images = await anyio.to_thread.run_sync(_render_all, specs)
        except ValueError as error:
            # An input that is not an image, as a remote API would refuse it.
            raise InvalidRequestError(str(error)) from None
        seed = specs[0].seed
        return Generation([GeneratedImage(data=data, seed=seed, cost=0.0) for data in images])

    async def resume(self, task: GenerationTask, task_id: str) -> Generation:
        """Local renders are free and never journaled; rendering again is exact."""
        return await self.generate(task, _NO_JOURNAL)

    async def aclose(self) -> None:
        return None


class _NoJournal:
    def submitted(self, target: str, fingerprint: str, provider: str, task_id: str) -> None:
        return None


_NO_JOURNAL = _NoJournal()


def is_preview(request: dict[str, Any]) -> bool:
    """Whether a local render of ``request`` stands in for another model's output."""
    return str(request.get("model", LOCAL_MODEL)) != LOCAL_MODEL


def render_specs(task: GenerationTask, default_size: tuple[int, int] | None) -> list[RenderSpec]:
    """One RenderSpec per requested result, from a Runware-style request."""
    request = task.request
    width, height = default_size or (DEFAULT_SIZE, DEFAULT_SIZE)
    width = int(request.get("width", width))
    height = int(request.get("height", height))
    seed = request.get("seed")
    if not isinstance(seed, int):
        seed = int(task.fingerprint[:15], 16)
    prompt = str(request.get("positivePrompt", request.get("prompt", "")))
    outpaint = request.get("outpaint")
    common: dict[str, Any] = {
        "width": width,
        "height": height,
        "seed": seed,
        "prompt": prompt,
        "negative_prompt": str(request.get("negativePrompt", "")),
        "output_format": task.output_format,
        "quality": int(request.get("outputQuality", 95)),
        "seed_image": _read(task.inputs.get(("seedImage",))),
        "mask_image": _read(task.inputs.get(("maskImage",))),
        "strength": float(request.get("strength", 0.8)),
        "reference_images": tuple(
            _input(path)
            for key, path in sorted(task.inputs.items(), key=str)
            if key[0] == "referenceImages"
        ),
        "outpaint": _outpaint(outpaint) if isinstance(outpaint, dict) else None,
        "preview": is_preview(request),
    }
    return [RenderSpec(index=index, **common) for index in range(task.count)]


def _render_all(specs: list[RenderSpec]) -> list[bytes]:
    return [render(spec) for spec in specs]


def _read(path: Path | None) -> bytes | None:
    return _input(path) if path is not None else None


def _input(path: Path) -> bytes:
    """An input as a remote API would receive it: BMP and GIF become PNG."""
    return api_input(path.read_bytes())


def _outpaint(sides: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        int(sides.get("top", 0)),
        int(sides.get("right", 0)),
        int(sides.get("bottom", 0)),
        int(sides.get("left", 0)),
    )
