"""Where the bytes of earlier outputs come from.

The report shows an output as it was at another revision; those bytes live in
a content-addressed store. The local cache (``imagebuild.planning.cache.Cache``)
already has the one method needed, so it is a source as it is; a remote cache
becomes one by fetching into the local cache before restoring from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from imagebuild.errors import ImageBuildError
from imagebuild.planning.files import hash_file


class ObjectSource(Protocol):
    def restore(self, digest: str, destination: Path) -> None:
        """Write object ``digest`` to ``destination`` atomically; raise
        FileNotFoundError when the source does not have it, and an
        ImageBuildError when it finds the object damaged."""


class CorruptObjectError(Exception):
    """An object's bytes do not hash to its name."""


def restore_verified(source: ObjectSource, digest: str, destination: Path) -> bool:
    """``destination`` holds the object, re-hashed, or False when the source
    lacks it. A file already there was verified when it was written: its name
    is its digest. Raises CorruptObjectError (and leaves nothing) on a mismatch."""
    if destination.is_file():
        return True
    try:
        source.restore(digest, destination)
    except FileNotFoundError:
        return False
    except ImageBuildError as error:  # a source that checks its objects itself
        raise CorruptObjectError(str(error)) from None
    if hash_file(destination) != digest:
        destination.unlink()
        raise CorruptObjectError(f"cache object {digest} does not match its digest")
    return True
