"""The providers issue's benchmark: 1,000 small images (128x128) from the
Runware emulator with 1.0 s latency per task, the emulator in its own process.

For each concurrency (16, 64, 256) it runs, against the same emulator, reset
before each pair:
- a plain threaded client (one thread per slot, urllib, one sync task per
  POST, then the download): the ceiling on this machine;
- ``imagebuild build -j N`` in a new process: makespan, client CPU time per
  image, peak memory, and the HTTP requests batching saved.
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import orjson

from bench.common import fresh_folder

IMAGES = 1000
LATENCY = 1.0
KEY = "bench-key"
# Runs per concurrency: on a shared host a four-second run moves by a tenth of
# a second from one minute to the next, so the short row takes the median of
# five pairs (threaded, then imagebuild, each pair against a fresh emulator).
PAIRS = {16: 1, 64: 1, 256: 5}

MANIFEST = """\
version: 1
providers:
  runware: {{concurrency: 32}}
defaults:
  model: "runware:101@1"
  width: 128
  height: 128
targets:
  - name: "tile-{{{{ n }}}}-{run}"
    matrix:
      n: [{numbers}]
    prompt: "benchmark tile {{{{ n }}}} {run}"
"""


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagebuild",
            "emulate",
            "runware",
            "--port",
            "0",
            "--latency",
            str(LATENCY),
            "--api-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert emulator.stdout is not None
    line = emulator.stdout.readline().decode()
    url = line.strip().split("=", 1)[1]
    return emulator, url


def reset(url: str) -> None:
    """A fresh emulator for each run: the tasks and images it keeps from
    earlier rows would otherwise slow its answers in later ones."""
    base = url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(f"{base}/_emulator/reset", data=b"", method="POST")
    with urllib.request.urlopen(request) as answer:
        answer.read()


def stats(url: str) -> dict[str, int]:
    base = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{base}/_emulator/stats") as answer:
        result: dict[str, int] = orjson.loads(answer.read())
    return result


def threaded_client(url: str, concurrency: int, run: str) -> float:
    """The ceiling: threads, a new connection per request, sync delivery."""
    counter = iter(range(IMAGES))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            task = {
                "taskType": "imageInference",
                "taskUUID": str(uuid.uuid4()),
                "model": "runware:101@1",
                "positivePrompt": f"threaded tile {n} {run}",
                "width": 128,
                "height": 128,
            }
            request = urllib.request.Request(
                url,
                data=orjson.dumps([task]),
                headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request) as answer:
                item = orjson.loads(answer.read())["data"][0]
            with urllib.request.urlopen(item["imageURL"]) as image:
                image.read()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def imagebuild_client(url: str, concurrency: int, run: str) -> tuple[float, float, float, int]:
    """(makespan, CPU ms per image, peak RSS MB, HTTP requests) of one build."""
    folder = fresh_folder(f"providers_{run}")
    numbers = ", ".join(str(n) for n in range(IMAGES))
    (folder / "imagebuild.yaml").write_text(MANIFEST.format(numbers=numbers, run=run))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests_before = stats(url)["requests"]
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "imagebuild", "build", "-j", str(concurrency)],
        cwd=folder,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "RUNWARE_API_URL": url, "RUNWARE_API_KEY": KEY},
    )
    makespan = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.decode()[-2000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (
        makespan,
        cpu / IMAGES * 1000,
        after.ru_maxrss / 1024,
        stats(url)["requests"] - requests_before,
    )


def main() -> None:
    emulator, url = start_emulator()
    try:
        print(f"{IMAGES} images of 128x128, latency {LATENCY:.1f} s, emulator in its own process")
        columns = ("concurrency", "ideal", "threaded", "imagebuild", "vs threaded")
        widths = (11, 7, 9, 11, 12)
        header = " ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))
        print(f"{header} {'CPU/image':>10} {'peak RSS':>9} {'HTTP requests':>14}")
        for concurrency, pairs in PAIRS.items():
            ideal = math.ceil(IMAGES / concurrency) * LATENCY
            runs = []
            for pair in range(pairs):
                reset(url)
                ceiling = threaded_client(url, concurrency, f"t{concurrency}-{pair}")
                runs.append(
                    (ceiling, *imagebuild_client(url, concurrency, f"i{concurrency}-{pair}"))
                )
            runs.sort(key=lambda run: run[1] / run[0])
            ceiling, makespan, cpu_ms, rss_mb, requests = runs[len(runs) // 2]
            spread = (
                f"; median of {pairs} pairs, {(runs[0][1] / runs[0][0] - 1) * 100:+.1f}%"
                f" to {(runs[-1][1] / runs[-1][0] - 1) * 100:+.1f}%"
                if pairs > 1
                else ""
            )
            print(
                f"{concurrency:>11} {ideal:>6.1f}s {ceiling:>8.2f}s {makespan:>10.2f}s"
                f" {(makespan / ceiling - 1) * 100:>+11.1f}% {cpu_ms:>8.2f}ms {rss_mb:>7.0f}MB"
                f" {requests:>6} (vs {2 * IMAGES} unbatched{spread})",
                flush=True,
            )
    finally:
        emulator.terminate()
        emulator.wait()


if __name__ == "__main__":
    main()
