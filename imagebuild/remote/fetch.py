"""Downloads into the local cache, every byte re-hashed.

An object whose bytes do not hash to its name (a flipped bit, a truncated
upload, a hand-edited bucket) is a miss and one warning naming it: it never
reaches the local cache, so it never becomes an output.

Each object is verified and stored on the thread that downloaded it, as it
arrives, and handed on from there (to be written to its outputs): a build
restoring a campaign is bound by the interpreter lock, and every hand-over
of work to another thread costs the downloads a wait for it. At most the
store's ``concurrency`` objects, and about ``IN_MEMORY`` bytes of them, are
in memory at once, whatever the remote holds: each read stops one byte past
the size its record says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from imagebuild.planning.cache import Cache
from imagebuild.remote.records import Record
from imagebuild.remote.store import Store, object_key

Warn = Callable[[str], None]
# Bytes of objects in memory at once, going by their records' sizes: a stream
# of large images asks for fewer at a time (never fewer than one).
IN_MEMORY = 64 * 1024 * 1024
# Called with each verified object's sha256 and bytes once it is in the local
# cache, on the downloading thread; it must be brief and must not raise.
Stored = Callable[[str, bytes], None]


def fetch(
    store: Store,
    records: Mapping[str, Record],
    cache: Cache,
    warn: Warn,
    stored: Stored | None = None,
    stopped: Callable[[], bool] | None = None,
) -> set[str]:
    """Download the objects of ``records`` that the local cache lacks, verify
    them, store them, and file each record whose objects are all there now in
    the local index; the fingerprints so filed. Once ``stopped()`` is true,
    objects not yet asked for are left out (their records are not filed)."""
    wanted: dict[str, tuple[str, int]] = {}
    for record in records.values():
        for output in record["outputs"]:
            digest = output["sha256"]
            if not cache.object_path(digest).is_file():
                wanted[object_key(digest)] = (digest, output["size"])
    here: set[str] = set()
    failures: list[OSError] = []

    def arrived(key: str, data: bytes | None) -> None:
        digest, size = wanted[key]
        problem = _problem(digest, size, data)
        if problem is not None:
            warn(f"warning: remote cache {store.url}: object {key} {problem}; not used")
            return
        assert data is not None
        try:
            cache.store(digest, data)
        except OSError as error:
            # The local disk, not the remote: raised once the reads stop.
            failures.append(error)
            return
        here.add(digest)
        if stored is not None:
            stored(digest, data)

    def stop() -> bool:
        return bool(failures) or (stopped is not None and stopped())

    largest = max((size for _, size in wanted.values()), default=1)
    # One byte more than the record says: enough to tell a larger object,
    # never the whole of one that a remote made huge.
    most = {key: size + 1 for key, (_, size) in wanted.items()}
    store.read_each(wanted, arrived, stop, IN_MEMORY // max(largest, 1), most)
    if failures:
        raise failures[0]
    missing = {digest for digest, _ in wanted.values()} - here
    complete = {
        fingerprint: record
        for fingerprint, record in records.items()
        if not any(output["sha256"] in missing for output in record["outputs"])
    }
    cache.record_many(complete)
    return set(complete)


def _problem(digest: str, size: int, data: bytes | None) -> str | None:
    if data is None:
        return "is missing though a record names it"
    if len(data) > size:
        return f"is larger than the {size} bytes its record says"
    if len(data) < size:
        return f"has {len(data)} bytes, not {size}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        return f"is corrupt: its bytes hash to {actual[:12]}..."
    return None
