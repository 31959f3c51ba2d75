"""The store's create-only writes and batched reads, on each kind of storage."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from imagebuild.remote.settings import resolve
from imagebuild.remote.store import Store, connect, lease_key, object_key, record_key
from tests.remote.conftest import Remote


def store_of(remote: Remote) -> Store:
    settings = resolve({"remote": remote.url}, os.environ)
    assert settings is not None
    return connect(settings)


def test_the_layout() -> None:
    digest = "ab" + "0" * 62
    assert record_key(digest) == f"ac/ab/{digest}.json"
    assert object_key(digest) == f"cas/ab/{digest}"
    assert lease_key(digest, 3) == f"leases/{digest}/3.json"


def test_create_is_create_only(remote: Remote) -> None:
    store = store_of(remote)
    assert store.create({"ac/aa/one.json": b"first", "ac/aa/two.json": b"two"}) == {
        "ac/aa/one.json": True,
        "ac/aa/two.json": True,
    }
    assert store.create({"ac/aa/one.json": b"second", "ac/aa/three.json": b"3"}) == {
        "ac/aa/one.json": False,
        "ac/aa/three.json": True,
    }
    assert store.read(["ac/aa/one.json", "ac/aa/missing.json", "ac/aa/three.json"]) == {
        "ac/aa/one.json": b"first",
        "ac/aa/three.json": b"3",
    }
    store.close()


def test_names_and_delete(remote: Remote) -> None:
    store = store_of(remote)
    assert store.names("leases/nothing") == []
    store.create({"leases/fp/0.json": b"{}", "leases/fp/1.json": b"{}"})
    assert sorted(store.names("leases/fp")) == ["0.json", "1.json"]
    store.delete(["leases/fp/0.json", "leases/fp/never.json"])
    assert store.names("leases/fp") == ["1.json"]
    store.close()


def test_many_reads_at_once_keep_their_keys(remote: Remote) -> None:
    store = store_of(remote)
    items = {f"cas/{n:02x}/{n}": bytes([n]) * n for n in range(100)}
    assert all(store.create(items).values())
    assert store.read([*items, "cas/ff/absent"]) == items
    store.close()


def test_reads_are_handed_on_one_by_one_as_they_arrive(remote: Remote) -> None:
    store = store_of(remote)
    items = {f"cas/{n:02x}/{n}": bytes([n]) * (n + 1) for n in range(20)}
    store.create(items)
    arrived: list[tuple[str, bytes | None]] = []
    store.read_each([*items, "cas/ff/absent"], lambda key, data: arrived.append((key, data)))
    assert len(arrived) == 21
    assert dict(arrived) == {**items, "cas/ff/absent": None}
    store.close()


def test_a_stopped_read_asks_for_no_more(remote: Remote) -> None:
    settings = resolve({"remote": remote.url, "concurrency": 1}, os.environ)
    assert settings is not None
    store = connect(settings)
    items = {f"cas/{n:02x}/{n}": bytes([n]) for n in range(10)}
    store.create(items)
    arrived: list[str] = []
    store.read_each(items, lambda key, data: arrived.append(key), lambda: len(arrived) >= 3)
    assert arrived == list(items)[:3]
    store.close()


def test_reads_at_once_stay_within_the_limit(remote: Remote) -> None:
    store = store_of(remote)
    items = {f"cas/{n:02x}/{n}": bytes([n]) for n in range(24)}
    store.create(items)
    fs = store.filesystem
    running: list[int] = [0]
    most: list[int] = [0]
    name = "_cat_file" if store._async else "cat_file"
    read = getattr(fs, name)

    def start() -> None:
        running[0] += 1
        most[0] = max(most[0], running[0])

    if store._async:

        async def counting(path: str) -> bytes:
            start()
            try:
                await asyncio.sleep(0.01)
                data: bytes = await read(path)
                return data
            finally:
                running[0] -= 1
    else:

        def counting(path: str) -> bytes:  # type: ignore[misc]
            with lock:
                start()
            try:
                time.sleep(0.01)
                data: bytes = read(path)
                return data
            finally:
                with lock:
                    running[0] -= 1

    lock = threading.Lock()
    setattr(fs, name, counting)
    found: dict[str, bytes | None] = {}
    store.read_each(items, found.__setitem__, at_once=3)
    assert found == items
    assert 1 < most[0] <= 3
    store.close()
