"""A fresh clone's remote restores, written as their objects arrive.

The objects come in one stream; each is verified and stored in the local
cache on the downloading thread, and :meth:`Placement.stored` writes it to
the outputs that hold it right there, then lets their steps go on: they
only record. Writing on the downloading thread, not copying from the cache
on the build's own, is what keeps a restore near the speed of a plain
download: the build is bound by the interpreter lock, and every hand-over
makes the downloads wait for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from imagebuild.errors import ImageBuildError
from imagebuild.planning.files import atomic_write
from imagebuild.planning.plan import Step


class Placement:
    def __init__(
        self,
        steps: Iterable[Step],
        destination: Callable[[str], Path],
        landed: Callable[[Step], None],
    ) -> None:
        """``destination`` gives an output's checked path; ``landed`` is told,
        on the downloading thread, of each step whose objects have all come."""
        self._destination = destination
        self._landed = landed
        self._paths: dict[str, list[str]] = {}
        self._steps: dict[str, list[Step]] = {}
        self._waiting: dict[str, set[str]] = {}
        # Output path -> the sha256 written there, and the file's stat then.
        self.written: dict[str, tuple[str, os.stat_result]] = {}
        for step in steps:
            assert step.cached is not None
            digests = [output["sha256"] for output in step.cached["outputs"]]
            for path, digest in zip(step.target.outputs, digests, strict=True):
                self._paths.setdefault(digest, []).append(path)
            for digest in set(digests):
                self._steps.setdefault(digest, []).append(step)
            self._waiting[step.name] = set(digests)

    def stored(self, digest: str, data: bytes) -> None:
        """An object verified and in the local cache: into its outputs."""
        for path in self._paths.get(digest, ()):
            try:
                self.written[path] = (digest, atomic_write(self._destination(path), data))
            except (OSError, ImageBuildError):
                # Left to the step's own restore, which copies it from the
                # local cache and says what is wrong in the step's outcome.
                continue
        for step in self._steps.get(digest, ()):
            waiting = self._waiting[step.name]
            waiting.discard(digest)
            if not waiting:
                self._landed(step)

    def stat_of(self, path: str, digest: str) -> os.stat_result | None:
        """The stat of output ``path`` if ``digest``'s object was written there."""
        written = self.written.get(path)
        return written[1] if written is not None and written[0] == digest else None

    def wrote(self, step: Step) -> bool:
        """Whether every output of ``step`` holds its object already."""
        assert step.cached is not None
        return all(
            self.stat_of(path, output["sha256"]) is not None
            for path, output in zip(step.target.outputs, step.cached["outputs"], strict=True)
        )
