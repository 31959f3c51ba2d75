"""Generated and uploaded images, kept by id and rendered once, off the event loop.

An emulator accepts thousands of tasks; rendering them all at acceptance would make the CPU,
not the simulated latency, the bottleneck of a benchmark. So a generated image is kept as
its :class:`RenderSpec` and rendered once, in a thread pool sized to the CPUs, when the
emulator asks for it (:meth:`ImageStore.prepare`, while the task's latency runs) or the
first time its bytes are needed (a download, a base64 answer, use as an input), then kept.

Image inputs arrive as an id of a stored image, a URL of this emulator, a data URI or raw
base64; :meth:`ImageStore.load` turns any of them into bytes and decodes them whole, as the
API would before accepting a task, so that a guide image that is not an image is refused
with the task rather than never noticed. Other URLs are refused: the emulator is offline by
design.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TypeVar
from urllib.parse import urlsplit

from PIL import Image

from imagebuild.render import RenderSpec, render

# What the renderer decodes as seed, mask and reference images.
RENDER_FORMATS = ("PNG", "JPEG", "WEBP")
# What Runware accepts as uploads; other formats are stored re-encoded as PNG.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
# Runware stores uploads at most this long on the long side.
MAX_UPLOAD_SIDE = 2048
IMAGES_PREFIX = "/images/"
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_SHOWN_CHARS = 60
T = TypeVar("T")


class ImageError(ValueError):
    """An image input that cannot be used; the message says why in one line."""


def image_url(base_url: str, image_id: str, extension: str) -> str:
    """Where the emulator at ``base_url`` serves an image."""
    return f"{base_url}{IMAGES_PREFIX}{image_id}.{extension}"


def image_id_of(path: str) -> str:
    """The image id in an image URL's path; the extension does not matter."""
    return path.removeprefix(IMAGES_PREFIX).partition(".")[0]


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID in its canonical 8-4-4-4-12 hex form."""
    return _UUID.match(text) is not None


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image input's bytes and its size in pixels."""

    data: bytes
    size: tuple[int, int]


@dataclass
class _Entry:
    content_type: str
    data: bytes | None = None
    spec: RenderSpec | None = None
    pending: asyncio.Future[bytes] | None = None


class ImageStore:
    """Images by id: bytes as given, or a spec rendered on first read."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._entries

    def add_bytes(self, image_id: str, data: bytes, content_type: str) -> None:
        self._entries[image_id] = _Entry(content_type, data=data)

    def add_spec(self, image_id: str, spec: RenderSpec) -> None:
        self._entries[image_id] = _Entry(spec.format.mime_type, spec=spec)

    def clear(self) -> None:
        self._entries.clear()

    def prepare(self, image_id: str) -> None:
        """Start rendering the image in the background; ``read`` then waits for it."""
        entry = self._entries.get(image_id)
        if entry is not None and entry.data is None and entry.pending is None:
            assert entry.spec is not None
            entry.pending = _submit(render, entry.spec)

    async def read(self, image_id: str) -> tuple[bytes, str] | None:
        """The image's bytes and content type, rendering it if nobody has yet."""
        entry = self._entries.get(image_id)
        if entry is None:
            return None
        if entry.data is None:
            self.prepare(image_id)
            assert entry.pending is not None
            # Shielded: a client hanging up must not cancel a render others wait for.
            entry.data = await asyncio.shield(entry.pending)
            entry.spec = entry.pending = None
        return entry.data, entry.content_type

    async def load(self, value: str, formats: tuple[str, ...] = RENDER_FORMATS) -> InputImage:
        """The image an input refers to, decoded to check it is one of ``formats``."""
        data = await self._fetch(value)
        return InputImage(data, await in_pool(_decoded_size, data, formats))

    async def _fetch(self, value: str) -> bytes:
        if is_uuid(value):
            return await self._stored(value, f"no image with imageUUID {value}")
        if value.startswith(("http://", "https://")):
            path = urlsplit(value).path
            if not path.startswith(IMAGES_PREFIX):
                raise ImageError(f"cannot fetch {_shown(value)}: the emulator is offline")
            return await self._stored(image_id_of(path), f"no image at {_shown(value)}")
        return _decode_inline(value)

    async def _stored(self, image_id: str, missing: str) -> bytes:
        image = await self.read(image_id)
        if image is None:
            raise ImageError(missing)
        return image[0]


async def in_pool(function: Callable[..., T], *arguments: object) -> T:
    """Run CPU-bound image work off the event loop, in the shared render pool."""
    return await _submit(function, *arguments)


def _submit(function: Callable[..., T], *arguments: object) -> asyncio.Future[T]:
    return asyncio.get_running_loop().run_in_executor(_pool(), function, *arguments)


def _decode_inline(value: str) -> bytes:
    """Decode a data URI or raw base64 string."""
    payload = value
    if value.startswith("data:"):
        header, comma, payload = value.partition(",")
        if not comma or not header.endswith(";base64"):
            raise ImageError(f"not a base64 data URI: {_shown(value)}")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(
            f"not an imageUUID, URL, data URI or base64 image: {_shown(value)}"
        ) from None


def _decoded_size(data: bytes, formats: tuple[str, ...]) -> tuple[int, int]:
    """The size of ``data``, which must decode whole as one of ``formats`` (Pillow's names)."""
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            image.load()
            width, height = image.size
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise ImageError(f"not a {', '.join(formats)} image") from error
    return width, height


def normalise_upload(data: bytes) -> tuple[bytes, str]:
    """An upload as stored: as given when the renderer reads it and it is small enough,
    else re-encoded as PNG of at most ``MAX_UPLOAD_SIDE`` on the long side."""
    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as image:
            if image.format in RENDER_FORMATS and max(image.size) <= MAX_UPLOAD_SIDE:
                return data, Image.MIME[str(image.format)]
            image.thumbnail((MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE))
            buffer = io.BytesIO()
            image.convert("RGBA").save(buffer, "PNG")
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"not a {', '.join(UPLOAD_FORMATS)} image") from error
    return buffer.getvalue(), "image/png"


def _shown(value: str) -> str:
    """A long input value, shortened for an error message."""
    return value if len(value) <= _SHOWN_CHARS else f"{value[:_SHOWN_CHARS]}..."


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="emulator-render")
