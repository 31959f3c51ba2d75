"""What a manifest may read and write: its own folder, real paths resolved.

A manifest may come from a pull request, so every file it names is resolved to
its real path (symlinks followed) before it is read or written: reads stay
inside the manifest's folder or under a folder listed in
``IMAGEBUILD_INPUT_ROOTS`` (set by whoever runs the build, never by the
manifest), and writes stay inside the manifest's folder. A symlinked output
folder pointing elsewhere is refused; an output that is itself a symlink is
replaced, not followed.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

INPUT_ROOTS_ENV = "IMAGEBUILD_INPUT_ROOTS"


class Confinement:
    def __init__(self, root: Path, environ: Mapping[str, str] = os.environ) -> None:
        self.root = root.resolve()
        extra = environ.get(INPUT_ROOTS_ENV, "")
        self.input_roots = (
            self.root,
            *(Path(folder).resolve() for folder in extra.split(os.pathsep) if folder),
        )
        self._manifest_folder = root
        # Ten thousand outputs share a few folders: each is resolved once.
        self._writable_folders: dict[str, bool] = {}

    def readable(self, path: Path) -> bool:
        """Whether ``path``, symlinks followed, lies in a folder inputs may come from."""
        real = path.resolve()
        return any(real.is_relative_to(folder) for folder in self.input_roots)

    def writable(self, relative: str) -> bool:
        """Whether writing ``relative`` (a posix path from the manifest's folder,
        replaced atomically beside itself) stays inside the manifest's folder."""
        return self._inside(posixpath.dirname(relative))

    def _inside(self, folder: str) -> bool:
        """Whether ``folder`` (relative, without ``..``) resolves inside the
        manifest's folder: its parent does, and it is no symlink leading out.
        One ``lstat`` per folder, each remembered."""
        if folder in ("", "."):
            return True
        known = self._writable_folders.get(folder)
        if known is None:
            path = self._manifest_folder / folder
            known = self._inside(posixpath.dirname(folder)) and (
                not path.is_symlink() or path.resolve().is_relative_to(self.root)
            )
            self._writable_folders[folder] = known
        return known
