"""The provenance benchmark: what writing an output's origin costs, per output.

For PNG, JPEG and WEBP renders at 1024x1024 and 4096x4096 it times, in-process:
- ``splice``: the container writer on bytes in memory (parse, build EXIF/XMP or
  text chunks, join), what a small inline result pays;
- ``stamp``: what the executor pays per in-memory output: the splice plus the
  sha256 of the delivered bytes, which dependents are fingerprinted with;
- ``staged``: the same for a result staged in a file (large downloads): hash,
  then a streamed rewrite of the file;
- ``re-encode``: for comparison, what Pillow takes to decode the image and save
  it again with the same metadata (``quality="keep"`` for JPEG, the cheapest
  faithful re-encode; WEBP at quality 90), which would also change the bytes.
Medians in microseconds.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, PngImagePlugin

from bench.common import fresh_folder
from imagebuild.provenance.blob import Blob
from imagebuild.provenance.containers import container_of
from imagebuild.provenance.exif import exif_block, xmp_packet
from imagebuild.provenance.metadata import Metadata
from imagebuild.provenance.origin import Origin
from imagebuild.provenance.stamp import stamp
from imagebuild.providers.base import GeneratedImage
from imagebuild.render import RenderSpec, render

SIZES = (1024, 4096)
FORMATS = ("PNG", "JPG", "WEBP")
RUNS = {1024: 41, 4096: 11}
RE_ENCODE_RUNS = {1024: 5, 4096: 1}
PROMPT = (
    "Aurora Tea poster, a rain-slick street in Tokyo at night, neon reflections, a glass teapot "
    "glowing on a counter, cinematic light, clean typography, teal and amber palette"
)
ORIGIN = Origin(
    target="poster-tokyo-square",
    provider="runware",
    fingerprint="894a6cf24daeadcc09af28e26ead2cb52634a01107e42229768b32c5ebf0e211",
    manifest="manifests/campaign.yaml",
    model="runware:101@1",
    prompt=PROMPT,
    negative_prompt="blurry, watermark, low contrast",
    seed=415582279,
    width=1024,
    height=1024,
    steps=30,
    scheduler="DPM++ 2M Karras",
    cfg_scale=7.5,
    task_uuid="6f1c2d3e-4a5b-4c6d-8e7f-901234567890",
    image_uuid="0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
)


def median_us(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def splice(data: bytes, metadata: Metadata) -> bytes:
    blob = Blob(data)
    return blob.join(container_of(blob).embed(blob, metadata))


def re_encode(data: bytes, fmt: str, metadata: Metadata) -> bytes:
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("parameters", metadata.parameters or "")
            info.add_itxt("imagebuild", metadata.origin.canonical().decode())
            image.save(buffer, "PNG", pnginfo=info)
        else:
            options: dict[str, object] = {"quality": "keep"} if fmt == "JPG" else {"quality": 90}
            image.save(
                buffer,
                "JPEG" if fmt == "JPG" else "WEBP",
                exif=b"Exif\0\0" + exif_block(None, metadata),
                xmp=xmp_packet(None, metadata),
                **options,
            )
    return buffer.getvalue()


def photo_like(side: int, fmt: str) -> bytes:
    """A render with grain, so files weigh what generated photos weigh (a smooth
    render compresses ten times better than a model's output)."""
    with Image.open(io.BytesIO(render(RenderSpec(side, side, seed=7, prompt=PROMPT)))) as image:
        grain = Image.merge("RGB", [Image.effect_noise((side, side), 48)] * 3)
        textured = Image.blend(image.convert("RGB"), grain, 0.3)
    buffer = io.BytesIO()
    if fmt == "PNG":
        textured.save(buffer, "PNG", compress_level=1)
    else:
        textured.save(buffer, "JPEG" if fmt == "JPG" else "WEBP", quality=90)
    return buffer.getvalue()


def measure(side: int, fmt: str, staged: Path) -> list[float]:
    data = photo_like(side, fmt)
    metadata = Metadata.of(ORIGIN)

    def staged_stamp() -> None:
        staged.write_bytes(data)
        stamp(GeneratedImage(staged=staged), ORIGIN)

    write_only = median_us(RUNS[side], lambda: staged.write_bytes(data))
    return [
        len(data) / 1e6,
        median_us(RUNS[side], lambda: splice(data, metadata)),
        median_us(RUNS[side], lambda: stamp(GeneratedImage(data=data), ORIGIN)),
        median_us(RUNS[side], staged_stamp) - write_only,
        median_us(RE_ENCODE_RUNS[side], lambda: re_encode(data, fmt, metadata)),
    ]


def main() -> None:
    folder = fresh_folder("provenance")
    print(
        f"{'format':<6} {'size':>9} {'file':>8} {'splice':>8} {'stamp':>8} {'staged':>8}"
        f" {'re-encode':>10}  (median µs)"
    )
    for side in SIZES:
        for fmt in FORMATS:
            megabytes, *figures = measure(side, fmt, folder / f"staged.{fmt.lower()}")
            print(
                f"{fmt:<6} {side:>4}x{side:<4} {megabytes:6.2f}MB"
                + "".join(f" {figure:>8.0f}" for figure in figures[:3])
                + f" {figures[3]:>10.0f}",
                flush=True,
            )
