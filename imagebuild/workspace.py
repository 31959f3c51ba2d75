"""Where a manifest's state lives: lock beside it, the rest under ``.imagebuild/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imagebuild.errors import ConcurrentBuildError
from imagebuild.planning.cache import Cache
from imagebuild.planning.files import make_state_dir
from imagebuild.planning.lock import lock_path_for
from imagebuild.planning.statcache import StatCache

CACHE_ENV = "IMAGEBUILD_CACHE_DIR"


@dataclass(frozen=True, slots=True)
class Workspace:
    manifest: Path

    @property
    def root(self) -> Path:
        return self.manifest.parent

    @property
    def state_dir(self) -> Path:
        return self.root / ".imagebuild"

    @property
    def lock_path(self) -> Path:
        return lock_path_for(self.manifest)

    @property
    def journal_path(self) -> Path:
        return self.state_dir / f"{self.manifest.stem}.journal"

    def stat_cache(self) -> StatCache:
        return StatCache(self.state_dir / "stat.json", self.root)

    def cache(self) -> Cache:
        shared = os.environ.get(CACHE_ENV)
        return Cache(Path(shared) if shared else self.state_dir / "cache")

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """One build per manifest at a time: two would pay for the same targets.
        filelock is the portable lock (flock on Unix, msvcrt on Windows); the
        operating system releases it when the process dies, even by kill -9."""
        import filelock  # only where a build runs: it brings logging and more

        path = make_state_dir(self.state_dir) / f"{self.manifest.stem}.build-lock"
        lock = filelock.FileLock(path, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ConcurrentBuildError(
                f"{self.manifest.name}: another build of this manifest is running"
            ) from None
        try:
            yield
        finally:
            lock.release()
