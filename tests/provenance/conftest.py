"""Encoded images of every shape the containers meet, and an origin to embed."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image

from imagebuild.provenance.blob import Blob
from imagebuild.provenance.containers import container_of
from imagebuild.provenance.metadata import Found, Metadata
from imagebuild.provenance.origin import Origin

ORIGIN = Origin(
    target="hero-tokyo",
    provider="runware",
    fingerprint="9f" * 32,
    output=2,
    manifest="manifests/campaign.yaml",
    model="runware:101@1",
    prompt="a glass teapot, studio light, neon, 東京",
    negative_prompt="blurry, text",
    seed=42,
    width=96,
    height=64,
    steps=30,
    scheduler="Euler a",
    cfg_scale=7.5,
    task_uuid="6f1c2d3e-4a5b-4c6d-8e7f-901234567890",
    image_uuid="0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
)
LATIN_ORIGIN = Origin(
    target="poster", provider="local", fingerprint="ab" * 32, prompt="café crème, à Paris"
)


def picture(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Structure in every channel, so a shifted or recoded pixel shows."""
    gradient = Image.linear_gradient("L").resize(size)
    noise = random.Random(1).randbytes(size[0] * size[1])
    bands = [gradient, gradient.rotate(90).resize(size), Image.frombytes("L", size, noise)]
    if mode == "RGBA":
        bands.append(gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    return Image.merge(mode, bands)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# Every case a writer must handle: simple and extended WEBP, JPEGs with and
# without JFIF, PNGs with a palette and with alpha.
IMAGES: dict[str, Callable[[], bytes]] = {
    "png": lambda: encode(picture(), "PNG"),
    "png-rgba": lambda: encode(picture("RGBA"), "PNG"),
    "png-palette": lambda: encode(picture().convert("P"), "PNG"),
    "jpeg": lambda: encode(picture(), "JPEG", quality=90),
    "jpeg-progressive": lambda: encode(picture(), "JPEG", progressive=True),
    "webp-lossy": lambda: encode(picture(), "WEBP", quality=80),
    "webp-lossless": lambda: encode(picture("RGBA"), "WEBP", lossless=True),
    "webp-extended": lambda: encode(picture("RGBA"), "WEBP", quality=80),
}


def embedded(data: bytes, origin: Origin = ORIGIN) -> bytes:
    blob = Blob(data)
    return blob.join(container_of(blob).embed(blob, Metadata.of(origin)))


def found(data: bytes) -> Found:
    blob = Blob(data)
    return container_of(blob).read(blob)


def pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, image.size, image.tobytes()
