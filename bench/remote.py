"""The remote cache issue's benchmark: 1,000 images of 256x256 in an S3 server
(moto's, in its own process on 127.0.0.1).

- fresh clone: ``imagebuild build`` in a clone holding only the manifest and
  the lock (1,000 Runware targets built and pushed once against the
  emulator), against a plain s3fs download of the same objects by a script
  in a new process, alternating; both pay for an interpreter and s3fs's
  import, and both download with 32 connections. Goal: within 1.2x.

- push: the client CPU time (all threads) that pushing 1,000 recorded images
  costs, per image: ``RemoteCache.push`` for each, then ``flush``.
- restore into a fresh local cache, in the same run, alternating, against
  the same objects: ``RemoteCache.fetch`` (download, re-hash, store, index)
  given the lock's records, and the same after ``records`` (reading the 1,000
  action records first, as a fresh clone's plan would); versus plain s3fs:
  ``fs.get`` of the object keys into a folder, and a bare gather of
  ``_cat_file`` writing each file (the floor). Goal: within 1.2x of plain
  s3fs. Every client gets the same connection pool (32), and every restore
  a new client, as a fresh clone has: none starts with a session or open
  connections that an earlier round made.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import fresh_folder

IMAGES = 1000
SIZE = 256
ROUNDS = 3
CLONE_ROUNDS = 5
CONNECTIONS = 32
GOAL = 1.2


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto server did not start")


def images() -> list[bytes]:
    """Noisy gradients: PNGs of generated-image size (about 150 KB each)."""
    from PIL import Image

    made = []
    for n in range(IMAGES):
        noise = random.Random(n).randbytes(SIZE * SIZE * 3)
        image = Image.frombytes("RGB", (SIZE, SIZE), noise)
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=1)
        made.append(buffer.getvalue())
    return made


def main() -> None:
    from imagebuild.planning.cache import Cache
    from imagebuild.remote.client import RemoteCache
    from imagebuild.remote.settings import Mode, RemoteSettings

    work = fresh_folder("remote")
    server, endpoint = start_server()
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        plain = plain_filesystem()
        plain.mkdir("bench")
        settings = RemoteSettings("s3://bench/cache", concurrency=CONNECTIONS)
        made = Cache(work / "builder")
        records: dict[str, dict[str, Any]] = {}
        for n, data in enumerate(images()):
            digest = hashlib.sha256(data).hexdigest()
            made.store(digest, data)
            fingerprint = hashlib.sha256(f"target {n}".encode()).hexdigest()
            records[fingerprint] = {"outputs": [{"sha256": digest, "size": len(data)}], "seed": n}
            made.record(fingerprint, records[fingerprint])
        megabytes = sum(r["outputs"][0]["size"] for r in records.values()) / 1e6
        print(f"{IMAGES} images of {SIZE}x{SIZE}, {megabytes:.0f} MB, moto S3 at {endpoint}")

        pusher = RemoteCache(settings, made, Mode(), print)
        pusher.records(list(records)[:1])
        cpu, wall = time.process_time(), time.perf_counter()
        for fingerprint, record in records.items():
            pusher.push(fingerprint, record)
        queued_cpu = time.process_time() - cpu
        assert pusher.flush() == 0
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pusher.close()
        print(
            f"push: {wall:.2f} s wall; client CPU {cpu / IMAGES * 1000:.2f} ms per image "
            f"({queued_cpu / IMAGES * 1e6:.0f} us of it on the caller's thread)"
        )

        keys = [
            f"bench/cache/cas/{r['outputs'][0]['sha256'][:2]}/{r['outputs'][0]['sha256']}"
            for r in records.values()
        ]
        timings: dict[str, list[float]] = {name: [] for name in RESTORES}
        cpus: dict[str, list[float]] = {name: [] for name in RESTORES}
        for round_ in range(ROUNDS):
            for name, restore in RESTORES.items():
                folder = work / f"{name}-{round_}"
                cpu, started = time.process_time(), time.perf_counter()
                restore(folder, settings, records, keys)
                timings[name].append(time.perf_counter() - started)
                cpus[name].append(time.process_time() - cpu)
        floor = min(statistics.median(timings[name]) for name in ("s3fs get", "s3fs gather"))
        for name, times in timings.items():
            median = statistics.median(times)
            cpu = statistics.median(cpus[name]) / IMAGES * 1000
            print(
                f"restore, {name:<28} best {min(times):6.2f} s  median {median:6.2f} s  "
                f"{median / floor:4.2f}x plain s3fs; client CPU {cpu:.2f} ms per image"
            )
        ours = statistics.median(timings["imagebuild fetch"])
        verdict = "met" if ours <= GOAL * floor else "MISSED"
        print(f"goal: imagebuild fetch within {GOAL}x of plain s3fs: {verdict}")
        fresh_clone(work, plain)
    finally:
        server.terminate()
        server.wait(timeout=10)


def plain_filesystem() -> Any:
    """A new s3fs client with the same connection pool as imagebuild's."""
    import s3fs

    return s3fs.S3FileSystem(
        skip_instance_cache=True,
        max_concurrency=1,
        config_kwargs={"max_pool_connections": CONNECTIONS},
    )


def _fetch(folder: Path, settings: Any, records: dict[str, Any], keys: list[str]) -> None:
    from imagebuild.planning.cache import Cache
    from imagebuild.remote.client import RemoteCache
    from imagebuild.remote.settings import Mode

    remote = RemoteCache(settings, Cache(folder), Mode(read_only=True), print)
    assert len(remote.fetch(records)) == IMAGES
    remote.close()


def _records_then_fetch(
    folder: Path, settings: Any, records: dict[str, Any], keys: list[str]
) -> None:
    from imagebuild.planning.cache import Cache
    from imagebuild.remote.client import RemoteCache
    from imagebuild.remote.settings import Mode

    remote = RemoteCache(settings, Cache(folder), Mode(read_only=True), print)
    assert len(remote.fetch(remote.records(records))) == IMAGES
    remote.close()


def _s3fs_get(folder: Path, settings: Any, records: Any, keys: list[str]) -> None:
    folder.mkdir(parents=True)
    plain_filesystem().get(keys, [str(folder / key.rsplit("/", 1)[-1]) for key in keys])


def _s3fs_gather(folder: Path, settings: Any, records: Any, keys: list[str]) -> None:
    import asyncio

    from fsspec.asyn import sync

    plain = plain_filesystem()
    folder.mkdir(parents=True)
    slots = asyncio.Semaphore(CONNECTIONS)

    async def one(key: str) -> None:
        async with slots:
            data = await plain._cat_file(key)
        (folder / key.rsplit("/", 1)[-1]).write_bytes(data)

    async def everything() -> None:
        await asyncio.gather(*(one(key) for key in keys))

    sync(plain.loop, everything)


CLONE_MANIFEST = """\
version: 1
cache:
  remote: s3://team/cache
providers:
  runware: {{pollFirst: 0.05, pollInterval: 0.05}}
defaults: {{model: "runware:101@1", width: {size}, height: {size}}}
targets:
  - name: "tile-{{{{ n }}}}"
    matrix: {{n: [{numbers}]}}
    prompt: "tile {{{{ n }}}}"
    output: "out/{{{{ n }}}}.png"
"""
PLAIN_DOWNLOAD = """\
import asyncio, json, pathlib, sys
import s3fs
from fsspec.asyn import sync
keys = json.loads(pathlib.Path(sys.argv[1]).read_text())
folder = pathlib.Path(sys.argv[2]); folder.mkdir()
fs = s3fs.S3FileSystem(max_concurrency=1, config_kwargs={{"max_pool_connections": {connections}}})
async def main():
    slots = asyncio.Semaphore({connections})
    async def one(key):
        async with slots:
            data = await fs._cat_file(key)
        (folder / key.rsplit("/", 1)[-1]).write_bytes(data)
    await asyncio.gather(*(one(key) for key in keys))
sync(fs.loop, main)
"""


def fresh_clone(work: Path, plain: Any) -> None:
    """``imagebuild build`` restoring a whole campaign into a fresh clone."""
    from imagebuild.emulators import Faults, RunwareEmulator, serve

    key = "bench-key-0123456789abcdef0123456789abcdef"
    plain.mkdir("team")
    built = work / "built"
    built.mkdir()
    numbers = ", ".join(map(str, range(IMAGES)))
    (built / "imagebuild.yaml").write_text(CLONE_MANIFEST.format(size=SIZE, numbers=numbers))
    emulator = RunwareEmulator(api_key=key, faults=Faults())
    with serve(emulator) as url:
        paying = {**os.environ, "RUNWARE_API_URL": f"{url}/v1", "RUNWARE_API_KEY": key}
        started = time.perf_counter()
        _run([sys.executable, "-m", "imagebuild", "build", "-j", "64"], built, paying)
        first = time.perf_counter() - started
    lock = orjson.loads((built / "imagebuild.lock.json").read_bytes())["targets"]
    digests = [output["sha256"] for entry in lock.values() for output in entry["outputs"]]
    megabytes = sum(o["size"] for e in lock.values() for o in e["outputs"]) / 1e6
    keys = work / "keys.json"
    keys.write_text(orjson.dumps([f"team/cache/cas/{d[:2]}/{d}" for d in digests]).decode())
    script = work / "plain_download.py"
    script.write_text(PLAIN_DOWNLOAD.format(connections=CONNECTIONS))
    print(
        f"fresh clone: {IMAGES} targets of {SIZE}x{SIZE} ({megabytes:.0f} MB), built and"
        f" pushed in {first:.1f} s against the Runware emulator"
    )
    timings: dict[str, list[float]] = {"plain s3fs, new process": [], "imagebuild build": []}
    for round_ in range(CLONE_ROUNDS):
        started = time.perf_counter()
        _run([sys.executable, str(script), str(keys), str(work / f"plain-{round_}")], work)
        timings["plain s3fs, new process"].append(time.perf_counter() - started)
        clone = work / f"clone-{round_}"
        clone.mkdir()
        for name in ("imagebuild.yaml", "imagebuild.lock.json"):
            shutil.copy2(built / name, clone / name)
        started = time.perf_counter()
        report = _run([sys.executable, "-m", "imagebuild", "build", "--json"], clone)
        timings["imagebuild build"].append(time.perf_counter() - started)
        assert orjson.loads(report)["summary"]["restored"] == IMAGES
    floor = statistics.median(timings["plain s3fs, new process"])
    for name, times in timings.items():
        median = statistics.median(times)
        print(
            f"fresh clone, {name:<24} best {min(times):6.2f} s  median {median:6.2f} s"
            f"  {median / floor:4.2f}x"
        )
    ours = statistics.median(timings["imagebuild build"])
    print(
        f"goal: fresh-clone build within {GOAL}x of plain s3fs:"
        f" {'met' if ours <= GOAL * floor else 'MISSED'}"
    )


def _run(argv: list[str], folder: Path, environ: dict[str, str] | None = None) -> bytes:
    done = subprocess.run(argv, cwd=folder, env=environ or dict(os.environ), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()[-2000:]}")
    return done.stdout


RESTORES = {
    "s3fs get": _s3fs_get,
    "s3fs gather": _s3fs_gather,
    "imagebuild fetch": _fetch,
    "imagebuild records + fetch": _records_then_fetch,
}
