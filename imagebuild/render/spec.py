"""The input of the offline renderer: one frozen, validated description of an image request.

Validation happens here, at construction, so that a bad request fails where it is built (the
provider or an API emulator parsing JSON) rather than deep inside the renderer. Checking that
image bytes actually decode needs the decoder and is left to the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MIN_SIDE = 16
MAX_SIDE = 6592
MIN_QUALITY = 20
MAX_QUALITY = 99
MAX_SEED = 2**63 - 1


class OutputFormat(StrEnum):
    """The encodings the renderer produces, named as the image APIs name them (``JPG``)."""

    PNG = "PNG"
    JPG = "JPG"
    WEBP = "WEBP"

    @classmethod
    def parse(cls, name: str) -> OutputFormat:
        """Accept any case and the ``JPEG`` alias: callers copy names from APIs and files."""
        key = name.strip().upper()
        if key == "JPEG":
            return cls.JPG
        try:
            return cls(key)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown output_format {name!r}; expected one of {allowed}") from None

    @property
    def pillow_format(self) -> str:
        """The name Pillow uses to encode, and reports as ``Image.format`` after decoding."""
        return "JPEG" if self is OutputFormat.JPG else self.value

    @property
    def mime_type(self) -> str:
        """The ``Content-Type`` an HTTP emulator should send with these bytes."""
        return f"image/{self.pillow_format.lower()}"

    @property
    def extension(self) -> str:
        """The file suffix, without the dot, for writing the bytes to disk."""
        return self.value.lower()


@dataclass(frozen=True, slots=True)
class RenderSpec:
    """Everything that determines a rendered image; equal specs render byte-identical images.

    ``width``/``height`` are the final size, including any ``outpaint`` border. ``output_format``
    is normalised to an :class:`OutputFormat` member (itself a ``str``), so ``"jpeg"`` and
    ``"JPG"`` describe the same spec. ``preview`` marks a render standing in for another model:
    it must never pass for that model's output.
    """

    width: int
    height: int
    seed: int
    prompt: str
    negative_prompt: str = ""
    output_format: str = "PNG"
    quality: int = 95
    index: int = 0
    seed_image: bytes | None = None
    mask_image: bytes | None = None
    strength: float = 0.8
    reference_images: tuple[bytes, ...] = ()
    outpaint: tuple[int, int, int, int] | None = None
    preview: bool = False

    def __post_init__(self) -> None:
        """Normalise the format and reject values no real image API would accept."""
        object.__setattr__(self, "output_format", OutputFormat.parse(self.output_format))
        object.__setattr__(self, "reference_images", tuple(self.reference_images))
        _check_range("width", self.width, MIN_SIDE, MAX_SIDE)
        _check_range("height", self.height, MIN_SIDE, MAX_SIDE)
        _check_range("seed", self.seed, 0, MAX_SEED)
        _check_range("quality", self.quality, MIN_QUALITY, MAX_QUALITY)
        if self.index < 0:
            raise ValueError(f"index must be >= 0, got {self.index}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")
        if self.seed_image is None and self.mask_image is not None:
            raise ValueError("mask_image needs a seed_image to inpaint")
        if self.outpaint is not None:
            self._check_outpaint(self.outpaint)

    @property
    def format(self) -> OutputFormat:
        """The normalised output format, typed as the enum."""
        return OutputFormat(self.output_format)

    def _check_outpaint(self, outpaint: tuple[int, int, int, int]) -> None:
        """The border must be non-negative and leave room for the original image."""
        if self.seed_image is None:
            raise ValueError("outpaint needs a seed_image to extend")
        if len(outpaint) != 4 or any(side < 0 for side in outpaint):
            raise ValueError(f"outpaint must be four non-negative ints, got {outpaint!r}")
        top, right, bottom, left = outpaint
        if left + right >= self.width or top + bottom >= self.height:
            raise ValueError(
                f"outpaint {outpaint!r} leaves no room for the seed image "
                f"in a {self.width}x{self.height} output"
            )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    """One message format for every bounded integer field."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
