"""The core issue's benchmark: a 10,000-target manifest on the local provider.

Measures, each in a new process as a user runs it:
- ``plan`` when everything is up to date;
- ``build`` when exactly one target changed (plan + one render + lock write);
and then where the time of the no-op plan goes, phase by phase, in-process.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from bench.common import fresh_folder, imagebuild, repeat, report, settle

SIDE = 100  # SIDE x SIDE matrix = 10,000 targets

MANIFEST = """\
version: 1
vars:
  brand: Acme
defaults:
  model: local
  width: 16
  height: 16
targets:
  - name: "tile-{{{{ row }}}}-{{{{ col }}}}"
    matrix:
      row: [{numbers}]
      col: [{numbers}]
      include: [{{row: 7, col: 7, variant: "{variant}"}}]
    prompt: "{{{{ brand }}}} tile {{{{ row }}}} {{{{ col }}}} {{{{ variant | default('') }}}}"
    output: "out/{{{{ row }}}}/{{{{ col }}}}.png"
"""


def write_manifest(folder: Path, variant: str) -> None:
    numbers = ", ".join(str(n) for n in range(SIDE))
    (folder / "imagebuild.yaml").write_text(MANIFEST.format(numbers=numbers, variant=variant))


def phases(folder: Path) -> str:
    from imagebuild.manifest.expand import load_manifest
    from imagebuild.planning.lock import LockFile
    from imagebuild.planning.plan import PlanOptions, make_plan
    from imagebuild.registry.models import builtin_registry
    from imagebuild.targets import resolve_targets
    from imagebuild.workspace import Workspace

    gc.disable()
    marks = [time.perf_counter()]
    manifest = load_manifest(folder / "imagebuild.yaml")
    marks.append(time.perf_counter())
    targets = resolve_targets(manifest, builtin_registry())
    marks.append(time.perf_counter())
    workspace = Workspace(manifest.path)
    lock = LockFile.read(workspace.lock_path)
    stats = workspace.stat_cache()
    marks.append(time.perf_counter())
    make_plan(targets, lock, stats, workspace.cache(), PlanOptions())
    marks.append(time.perf_counter())
    gc.enable()
    names = (
        "load+expand (YAML, matrix, Jinja)",
        "resolve (registry, outputs)",
        "read lock + stat cache",
        "plan (fingerprint, stat, reasons)",
    )
    return "\n".join(
        f"    {name:<40} {(b - a) * 1000:7.1f} ms"
        for name, a, b in zip(names, marks[:-1], marks[1:], strict=True)
    )


def main() -> None:
    folder = fresh_folder("plan_10k")
    write_manifest(folder, "a")
    first = imagebuild(folder, "build", "-j", "8")
    settle()
    print(f"10,000 targets, 16x16 PNG, local provider; first full build {first:.1f} s")
    best, median = repeat(5, lambda: imagebuild(folder, "plan"))
    report("plan, everything up to date (new process each)", best, median, goal=0.5)
    variants = iter(f"v{n}" for n in range(100))

    def one_changed() -> float:
        write_manifest(folder, next(variants))
        return imagebuild(folder, "build")

    best, median = repeat(5, one_changed)
    report("build, one target changed (new process each)", best, median, goal=0.5)
    started = time.perf_counter()
    imagebuild(folder, "--version")
    print(
        f"    interpreter start + argument parsing: {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    print("  where a no-op plan's time goes (in-process):")
    print(phases(folder))
