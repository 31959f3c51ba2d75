"""Downloads into the local cache, every byte re-hashed.

An object whose bytes do not hash to its name (a flipped bit, a truncated
upload, a hand-edited bucket) is a miss and one warning naming it: it never
reaches the local cache, so it never becomes an output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from imagebuild.planning.cache import Cache
from imagebuild.remote.records import Record
from imagebuild.remote.store import Store, object_key

Warn = Callable[[str], None]


# Bytes downloaded per batch (and objects, for small ones): memory stays
# bounded whatever the images' size, and the next batch downloads while this
# one is verified and written to disk.
BATCH_BYTES = 64 * 1024 * 1024
BATCH_OBJECTS = 2048


def fetch(store: Store, records: Mapping[str, Record], cache: Cache, warn: Warn) -> set[str]:
    """Download the objects of ``records`` that the local cache lacks, verify
    them, store them, and file each record whose objects are all there now in
    the local index; the fingerprints so filed."""
    wanted: dict[str, int] = {}
    for record in records.values():
        for output in record["outputs"]:
            if not cache.object_path(output["sha256"]).is_file():
                wanted[output["sha256"]] = output["size"]
    batches = _batches(wanted)
    bad: set[str] = set()
    with ThreadPoolExecutor(1, thread_name_prefix="imagebuild-fetch") as downloader:
        coming = [downloader.submit(_download, store, batch) for batch in batches[:1]]
        for index, batch in enumerate(batches):
            arrived = coming[index].result()
            if index + 1 < len(batches):
                coming.append(downloader.submit(_download, store, batches[index + 1]))
            for digest in batch:
                key = object_key(digest)
                data = arrived.get(key)
                problem = _problem(digest, wanted[digest], data)
                if problem is None:
                    assert data is not None
                    cache.store(digest, data)
                else:
                    bad.add(digest)
                    warn(f"warning: remote cache {store.url}: object {key} {problem}; not used")
    complete = {
        fingerprint: record
        for fingerprint, record in records.items()
        if not any(output["sha256"] in bad for output in record["outputs"])
    }
    cache.record_many(complete)
    return set(complete)


def _batches(sizes: dict[str, int]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    load = 0
    for digest, size in sizes.items():
        if batches[-1] and (load + size > BATCH_BYTES or len(batches[-1]) >= BATCH_OBJECTS):
            batches.append([])
            load = 0
        batches[-1].append(digest)
        load += size
    return [batch for batch in batches if batch]


def _download(store: Store, digests: list[str]) -> dict[str, bytes]:
    return store.read(object_key(digest) for digest in digests)


def _problem(digest: str, size: int, data: bytes | None) -> str | None:
    if data is None:
        return "is missing though a record names it"
    if len(data) != size:
        return f"has {len(data)} bytes, not {size}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        return f"is corrupt: its bytes hash to {actual[:12]}..."
    return None
