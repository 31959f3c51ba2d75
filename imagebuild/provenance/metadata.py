"""What a container writer is given to embed, and what a reader finds."""

from __future__ import annotations

from dataclasses import dataclass

from imagebuild.provenance.origin import Origin
from imagebuild.provenance.parameters import format_parameters

# Text this long is nothing imagebuild wrote: a reader leaves it alone rather
# than inflate or decode it.
MAX_TEXT = 1 << 24


@dataclass(frozen=True, slots=True)
class Metadata:
    origin: Origin
    parameters: str | None

    @classmethod
    def of(cls, origin: Origin) -> Metadata:
        return cls(origin, format_parameters(origin))


@dataclass(frozen=True, slots=True)
class Found:
    """What a file says, still as text: the imagebuild record (JSON) and the
    A1111 ``parameters``, either of which another tool may have written or
    removed."""

    format: str
    width: int
    height: int
    record: str | None = None
    parameters: str | None = None
