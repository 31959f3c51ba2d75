"""Downloads into the local cache, handed on as each object lands, on S3
(moto's server), a folder and memory."""

from __future__ import annotations

from typing import Any

import pytest

from imagebuild.remote import fetch as fetch_module
from imagebuild.remote.fetch import fetch
from tests.remote.conftest import Remote, made, sha
from tests.remote.test_client import pushed, raw
from tests.remote.test_store import store_of


def test_each_verified_object_is_handed_on_once_it_is_in_the_local_cache(
    remote: Remote,
) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero", "logo", "banner")
    fresh = remote.cache("ci")
    handed: dict[str, bytes] = {}

    def stored(digest: str, data: bytes) -> None:
        assert fresh.object_path(digest).read_bytes() == data, "stored before it is handed on"
        handed[digest] = data

    store = store_of(remote)
    assert fetch(store, records, fresh, remote.warnings.append, stored) == set(records)
    digests = {record["outputs"][0]["sha256"] for record in records.values()}
    assert set(handed) == digests
    assert all(sha(data) == digest for digest, data in handed.items())
    assert all(fresh.lookup(fp) == record for fp, record in records.items())
    store.close()


def test_a_damaged_object_is_not_handed_on(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero", "logo")
    damaged = records[next(iter(records))]["outputs"][0]["sha256"]
    fs, root = raw(remote)
    fs.rm_file(f"{root}/cas/{damaged[:2]}/{damaged}")
    fs.pipe_file(f"{root}/cas/{damaged[:2]}/{damaged}", b"not the bytes")
    handed: list[str] = []
    store = store_of(remote)
    fetched = fetch(
        store, records, remote.cache("ci"), remote.warnings.append, lambda d, _: handed.append(d)
    )
    assert fetched == set(list(records)[1:])
    assert damaged not in handed and len(handed) == 1
    assert len(remote.warnings) == 1 and damaged in remote.warnings[0]
    store.close()


def test_an_object_already_here_is_not_downloaded_again(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero")
    fresh = remote.cache("ci")
    ((fp, record),) = records.items()
    here_fp, here_record = made(fresh, "hero")
    assert (here_fp, here_record["outputs"]) == (fp, record["outputs"])
    handed: list[str] = []
    store = store_of(remote)
    assert fetch(store, records, fresh, remote.warnings.append, lambda d, _: handed.append(d)) == {
        fp
    }
    assert handed == []
    store.close()


def test_a_local_disk_that_refuses_is_an_os_error_not_a_remote_problem(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero", "logo")
    fresh = remote.cache("ci")
    fresh.directory.mkdir(parents=True)
    (fresh.directory / "objects").write_bytes(b"a file where the objects' folder goes")
    store = store_of(remote)
    with pytest.raises(OSError):
        fetch(store, records, fresh, remote.warnings.append)
    store.close()
    assert remote.warnings == []
    assert all(fresh.lookup(fp) is None for fp in records)


def test_large_objects_are_asked_for_fewer_at_a_time(
    remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = [bytes([n]) * 1000 for n in range(1, 7)]
    laptop = remote.cache("laptop")
    records = dict([made(laptop, "sheet", *pixels)])
    assert remote.open(laptop).upload(records) == dict.fromkeys(records, "pushed")
    monkeypatch.setattr(fetch_module, "IN_MEMORY", 2500)
    store = store_of(remote)
    asked: list[int] = []
    read_each = store.read_each

    def watching(keys: Any, arrived: Any, stopped: Any, at_once: int, most: Any) -> None:
        asked.append(at_once)
        read_each(keys, arrived, stopped, at_once, most)

    monkeypatch.setattr(store, "read_each", watching)
    fresh = remote.cache("ci")
    assert fetch(store, records, fresh, remote.warnings.append) == set(records)
    assert asked == [2], "2,500 bytes hold two objects of 1,000"
    assert all(fresh.object_path(sha(data)).read_bytes() == data for data in pixels)
    store.close()


def test_an_object_larger_than_its_record_says_is_never_read_whole(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero")
    ((fp, record),) = records.items()
    digest, size = record["outputs"][0]["sha256"], record["outputs"][0]["size"]
    fs, root = raw(remote)
    path = f"{root}/cas/{digest[:2]}/{digest}"
    fs.rm_file(path)
    fs.pipe_file(path, b"x" * 1_000_000)
    store = store_of(remote)
    name = "_cat_file" if store._async else "cat_file"
    read = getattr(store.filesystem, name)
    lengths: list[int] = []

    if store._async:

        async def measuring(*args: Any, **kwargs: Any) -> bytes:
            data: bytes = await read(*args, **kwargs)
            lengths.append(len(data))
            return data
    else:

        def measuring(*args: Any, **kwargs: Any) -> bytes:  # type: ignore[misc]
            data: bytes = read(*args, **kwargs)
            lengths.append(len(data))
            return data

    setattr(store.filesystem, name, measuring)
    fresh = remote.cache("ci")
    assert fetch(store, records, fresh, remote.warnings.append) == set()
    assert lengths == [size + 1]
    (warning,) = remote.warnings
    assert f"is larger than the {size} bytes its record says" in warning
    assert fresh.lookup(fp) is None
    store.close()
