"""The report issue's benchmark: ``imagebuild report`` for 10,000 targets
(32x32 PNGs from the local provider), each run in a new process:

- first run: every thumbnail made;
- second run: thumbnails cached by digest, nothing decoded;
- against the lock before 100 targets changed: 100 earlier images restored
  and 100 differences made;

with wall time, peak memory (of that process alone) and the size on disk of
the report folder and the preview cache. Then, where Chromium is installed,
the page itself: time to the first cards, a filter over 10,000 cards, and a
lineage jump to the last card.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import _with_bytecode_cache, fresh_folder, imagebuild, settle

SIDE = 100  # SIDE x SIDE matrix = 10,000 targets
CHANGED_ROW = 7  # the row whose 100 targets change for the before/after run

MANIFEST = """\
version: 1
defaults:
  model: local
  width: 32
  height: 32
targets:
  - name: "tile-{{{{ row }}}}-{{{{ col }}}}"
    matrix:
      row: [{numbers}]
      col: [{numbers}]
    tags: ["row-{{{{ row }}}}"]
    prompt: "tile {{{{ row }}}} {{{{ col }}}}"
    # The seed moves the picture (at 32x32 the prompt's words do not show).
    seed: "{{{{ 1 + row * 1000 + col + (100000 * {variant} if row == {changed} else 0) }}}}"
    output: "out/{{{{ row }}}}/{{{{ col }}}}.png"
"""


def write_manifest(folder: Path, variant: int) -> None:
    numbers = ", ".join(str(n) for n in range(SIDE))
    text = MANIFEST.format(numbers=numbers, variant=variant, changed=CHANGED_ROW)
    (folder / "imagebuild.yaml").write_text(text)


def measured(folder: Path, *argv: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one ``imagebuild``
    process: ``wait4`` reports that child's own usage, where RUSAGE_CHILDREN
    keeps the largest peak of all. CPU time is the figure to compare on a
    shared host, where wall time depends on the neighbours."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "imagebuild", *argv],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=_with_bytecode_cache(),
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"imagebuild {' '.join(argv)} failed: {errors.read()[-2000:]!r}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def disk(folder: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, bytes not shared with a hard link elsewhere)."""
    files = apparent = own = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            stat = os.stat(os.path.join(directory, name))
            files += 1
            apparent += stat.st_size
            own += stat.st_size if stat.st_nlink == 1 else 0
    return files, apparent, own


def row(label: str, wall: float, cpu: float, peak: float) -> None:
    print(f"  {label:<48} {wall:6.2f} s   CPU {cpu:6.2f} s   peak {peak:4.0f} MB", flush=True)


def sizes(folder: Path) -> None:
    files, apparent, own = disk(folder / "report")
    print(
        f"  report folder: {files} files, {apparent / 2**20:.1f} MB"
        f" ({own / 2**20:.1f} MB not hard-linked to the preview cache);"
        f" index.html {(folder / 'report' / 'index.html').stat().st_size / 2**20:.1f} MB"
    )
    files, apparent, _ = disk(folder / ".imagebuild" / "thumbs")
    print(f"  preview cache .imagebuild/thumbs: {files} files, {apparent / 2**20:.1f} MB")


def main() -> None:
    folder = fresh_folder("report")
    write_manifest(folder, 0)
    first_build = imagebuild(folder, "build", "-j", "8")
    shutil.copy(folder / "imagebuild.lock.json", folder / "before.lock.json")
    write_manifest(folder, 1)
    second_build = imagebuild(folder, "build", "-j", "8")
    settle()
    print(
        f"10,000 targets, 32x32 PNG, local provider (builds {first_build:.1f} s,"
        f" then {second_build:.1f} s for the {SIDE} changed)"
    )
    row("plan, for comparison (no report)", *measured(folder, "plan"))
    row("report, first run (10,000 thumbnails made)", *measured(folder, "report"))
    sizes(folder)
    for run in range(3):
        row(f"report, thumbnails cached (run {run + 1})", *measured(folder, "report"))
    for run in range(3):
        row(
            f"report --against, {SIDE} changed (run {run + 1})",
            *measured(folder, "report", "--against", "before.lock.json"),
        )
    sizes(folder)
    browse(folder / "report" / "index.html")


def browse(index: Path) -> None:
    """The page in headless Chromium, if it is installed: what a reader waits for."""
    chromium, driver_path = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.is_file() and driver_path.is_file()):
        print("  (no /usr/bin/chromium: the page itself is not measured)")
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    profile = tempfile.mkdtemp()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver: Any = webdriver.Chrome(options=options, service=Service(str(driver_path)))
    try:
        driver.get(index.as_uri())
        loaded = driver.execute_script(
            "const t = performance.getEntriesByType('navigation')[0];"
            "return [t.domContentLoadedEventEnd, document.querySelectorAll('.card').length]"
        )
        print(f"  page: first {loaded[1]} cards rendered {loaded[0]:.0f} ms after navigation")
        timings = driver.execute_script(
            """
            function timed(action) {
              const started = performance.now();
              action();
              document.body.offsetHeight;  // include the layout it causes
              return performance.now() - started;
            }
            const change = document.getElementById('filter-change');
            const tag = document.getElementById('filter-tag');
            const filtered = timed(() => {
              change.value = 'changed'; change.dispatchEvent(new Event('change'));
            });
            const shown = document.querySelectorAll('.card').length;
            const cleared = timed(() => {
              change.value = ''; change.dispatchEvent(new Event('change'));
            });
            const tagged = timed(() => {
              tag.value = 'row-42'; tag.dispatchEvent(new Event('change'));
            });
            tag.value = ''; tag.dispatchEvent(new Event('change'));
            const jump = timed(() => { location.hash = '#t-tile-99-99';
              window.dispatchEvent(new HashChangeEvent('hashchange')); });
            return [filtered, shown, cleared, tagged, jump,
                    document.querySelectorAll('.card').length];
            """
        )
        print(
            f"  page: filter 'changed' {timings[0]:.0f} ms ({timings[1]} cards),"
            f" clear {timings[2]:.0f} ms, tag {timings[3]:.0f} ms;"
            f" jump to the last card {timings[4]:.0f} ms ({timings[5]} cards in the page)"
        )
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
