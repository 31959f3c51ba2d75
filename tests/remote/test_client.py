"""The remote cache as a build uses it, on S3 (moto's server), a folder and memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from fsspec.core import url_to_fs
from moto.server import ThreadedMotoServer

from imagebuild.planning.cache import Cache
from imagebuild.remote.client import RemoteCache, open_remote
from imagebuild.remote.errors import LeaseWaitError, RemoteError
from imagebuild.remote.lease import Held, Recorded, TakenBy
from imagebuild.remote.pushlog import PushLog
from imagebuild.remote.settings import Mode
from imagebuild.remote.store import lease_folder, object_key, record_key
from tests.remote.conftest import (
    SECRET,
    Remote,
    fingerprint,
    made,
    make_bucket,
    sha,
    start_moto,
    use_aws,
)


def raw(remote: Remote) -> tuple[Any, str]:
    """The remote's filesystem and root, to look at what is stored as it is."""
    local = {"auto_mkdir": True} if remote.kind == "file" else {}
    fs, root = url_to_fs(remote.url, skip_instance_cache=True, **local)
    fs.invalidate_cache()
    return fs, root.rstrip("/")


def pushed(remote: Remote, cache: Cache, *names: str) -> dict[str, dict[str, Any]]:
    client = remote.open(cache)
    records = dict(made(cache, name) for name in names)
    for fp, record in records.items():
        client.push(fp, record)
    assert client.flush() == 0
    client.close()
    return records


def test_a_pushed_result_is_restored_in_another_clone(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero", "logo")
    fresh = remote.cache("ci")
    client = remote.open(fresh)
    found = client.records([*records, fingerprint("never built")])
    assert found == records
    assert client.fetch(found) == set(records)
    for fp, record in records.items():
        assert fresh.lookup(fp) == record
        destination = remote.tmp_path / "ci" / f"{fp[:8]}.png"
        fresh.restore(record["outputs"][0]["sha256"], destination)
        assert sha(destination.read_bytes()) == record["outputs"][0]["sha256"]
    assert remote.warnings == []


def test_records_are_created_once_and_the_first_writer_wins(remote: Remote) -> None:
    first = pushed(remote, remote.cache("one"), "hero")
    fs, root = raw(remote)
    key = f"{root}/{record_key(fingerprint('hero'))}"
    stored = fs.cat_file(key)
    second_cache = remote.cache("two")
    client = remote.open(second_cache)
    fp, record = made(second_cache, "hero", b"other pixels for the same request")
    assert client.upload({fp: record}) == {fp: "present"}
    client.close()
    assert fs.cat_file(key) == stored
    assert remote.open(remote.cache("three")).records([fp]) == first


def test_objects_go_up_before_their_record(remote: Remote) -> None:
    cache = remote.cache()
    client = remote.open(cache)
    assert client._store is not None
    order: list[str] = []
    create = client._store.create

    def watched(items: dict[str, bytes]) -> dict[str, bool]:
        order.extend(items)
        return create(items)

    client._store.create = watched  # type: ignore[method-assign]
    fp, record = made(cache, "hero", b"first image", b"second image")
    assert client.upload({fp: record}) == {fp: "pushed"}
    objects = [object_key(sha(b"first image")), object_key(sha(b"second image"))]
    assert order == [*objects, record_key(fp)]


def test_a_result_missing_locally_is_not_pushed(remote: Remote) -> None:
    cache = remote.cache()
    client = remote.open(cache)
    fp, record = made(cache, "hero")
    (cache.directory / "objects" / record["outputs"][0]["sha256"][:2]).rename(
        cache.directory / "moved"
    )
    assert client.upload({fp: record}) == {fp: "unavailable"}
    assert client.records([fp]) == {}
    assert remote.warnings == [
        f"warning: cannot push {fp[:12]}: object {record['outputs'][0]['sha256'][:12]} "
        "is not in the local cache"
    ]


def test_a_flipped_bit_is_a_miss_and_one_warning_never_an_output(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero")
    ((fp, record),) = records.items()
    digest = record["outputs"][0]["sha256"]
    fs, root = raw(remote)
    path = f"{root}/{object_key(digest)}"
    damaged = bytearray(fs.cat_file(path))
    damaged[3] ^= 0x01
    fs.rm_file(path)
    fs.pipe_file(path, bytes(damaged))
    fresh = remote.cache("ci")
    client = remote.open(fresh)
    assert client.fetch(client.records([fp])) == set()
    assert fresh.lookup(fp) is None
    assert not (fresh.directory / "objects" / digest[:2] / digest).exists()
    (warning,) = remote.warnings
    assert warning.startswith(f"warning: remote cache {remote.url}: object {object_key(digest)}")
    assert "is corrupt" in warning
    assert warning.endswith("; not used")


def test_a_record_that_does_not_parse_or_names_another_fingerprint_is_a_miss(
    remote: Remote,
) -> None:
    fs, root = raw(remote)
    torn, foreign = fingerprint("torn"), fingerprint("foreign")
    fs.pipe_file(f"{root}/{record_key(torn)}", b'{"outputs": [')
    other = {"version": 1, "fingerprint": fingerprint("x"), "outputs": []}
    fs.pipe_file(f"{root}/{record_key(foreign)}", orjson.dumps(other))
    assert remote.open().records([torn, foreign]) == {}
    assert remote.warnings == [
        f"warning: remote cache {remote.url}: record {record_key(torn)} is not JSON; not used",
        f"warning: remote cache {remote.url}: record {record_key(foreign)} "
        "names another fingerprint; not used",
    ]


def test_a_live_lease_makes_the_second_build_wait_and_restore(remote: Remote) -> None:
    laptop_cache = remote.cache("laptop")
    laptop = remote.open(laptop_cache)
    ci = remote.open(remote.cache("ci"))
    fp, record = made(laptop_cache, "hero")
    claimed = laptop.lease(fp)
    assert isinstance(claimed, Held) and claimed.generation == 0
    taken = ci.lease(fp)
    assert isinstance(taken, TakenBy)
    assert taken.expires > time.time()
    outcome: list[Held | Recorded] = []
    waiter = threading.Thread(target=lambda: outcome.append(ci.wait(fp)))
    waiter.start()
    time.sleep(0.3)
    assert outcome == []
    laptop.push(fp, record)
    assert laptop.flush() == 0
    waiter.join(timeout=10)
    assert outcome == [Recorded(record)]
    fs, root = raw(remote)
    assert not fs.exists(f"{root}/{lease_folder(fp)}/0.json")
    laptop.close()
    ci.close()


def test_an_expired_lease_is_taken_over(remote: Remote) -> None:
    dead = remote.open(remote.cache("dead"))
    fp = fingerprint("hero")
    assert dead.lease(fp) == Held(fp, 0)
    dead._heartbeat.stop()
    later = remote.open(remote.cache("ci"), clock=lambda: time.time() + 3600)
    assert later.lease(fp) == Held(fp, 1)
    assert isinstance(remote.open(remote.cache("third")).lease(fp), TakenBy)


def test_a_waiter_takes_over_when_the_holder_dies(remote: Remote) -> None:
    fp = fingerprint("hero")
    waiter = remote.open(remote.cache("ci"), lease=1.5)
    dead = remote.open(remote.cache("dead"), lease=1.5)
    waiter.records([fp])
    dead.records([fp])
    dead.lease(fp)
    dead._heartbeat.stop()
    assert isinstance(waiter.lease(fp), TakenBy)
    assert waiter.wait(fp) == Held(fp, 1)


def test_of_racers_for_a_dead_holders_lease_exactly_one_wins(remote: Remote) -> None:
    fps = [fingerprint(f"target-{n}") for n in range(2)]
    dead = remote.open(remote.cache("dead"))
    for fp in fps:
        dead.lease(fp)
    dead._heartbeat.stop()
    racers = [
        remote.open(remote.cache(f"racer-{n}"), clock=lambda: time.time() + 3600) for n in range(4)
    ]
    for fp in fps:
        start = threading.Barrier(len(racers))
        claims: list[object] = []

        def race(
            client: RemoteCache,
            fp: str = fp,
            start: threading.Barrier = start,
            claims: list[object] = claims,
        ) -> None:
            start.wait()
            claims.append(client.lease(fp))

        threads = [threading.Thread(target=race, args=(client,)) for client in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [claim for claim in claims if isinstance(claim, Held)]
        assert winners == [Held(fp, 1)]
        assert len(claims) == len(racers)


def test_a_holder_renews_its_lease_while_it_generates(remote: Remote) -> None:
    fp = fingerprint("hero")
    holder = remote.open(remote.cache("holder"), lease=1.2)
    other = remote.open(remote.cache("other"), lease=1.2)
    other.records([fp])
    holder.lease(fp)
    time.sleep(2.5)
    assert isinstance(other.lease(fp), TakenBy)
    fs, root = raw(remote)
    generations = [
        int(name.rsplit("/", 1)[-1].split(".")[0])
        for name in fs.ls(f"{root}/{lease_folder(fp)}", detail=False)
    ]
    assert max(generations) >= 2
    assert len(generations) <= 2


def test_a_released_lease_is_free_at_once(remote: Remote) -> None:
    holder = remote.open(remote.cache("holder"))
    fp = fingerprint("hero")
    holder.lease(fp)
    holder.release(fp)
    assert remote.open(remote.cache("ci")).lease(fp) == Held(fp, 0)


def test_a_lease_won_after_the_record_arrived_gives_the_record(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero")
    ((fp, record),) = records.items()
    assert remote.open(remote.cache("ci")).lease(fp) == Recorded(record)
    fs, root = raw(remote)
    assert fs.find(f"{root}/{lease_folder(fp)}") == []


def test_waiting_is_bounded(remote: Remote) -> None:
    holder = remote.open(remote.cache("holder"))
    fp = fingerprint("hero")
    holder.lease(fp)
    waiter = remote.open(remote.cache("ci"), wait=0.5)
    started = time.monotonic()
    with pytest.raises(LeaseWaitError, match=r"still holds the lease on .* after 0.5 s"):
        waiter.wait(fp)
    assert time.monotonic() - started < 5
    holder.close()


def test_read_only_reads_and_never_writes(remote: Remote) -> None:
    records = pushed(remote, remote.cache("laptop"), "hero")
    fs, root = raw(remote)
    before = sorted(fs.find(root))
    cache = remote.cache("pull-request")
    client = remote.open(cache, Mode(read_only=True))
    assert client.records(records) == records
    assert client.fetch(records) == set(records)
    fp, record = made(cache, "new")
    assert client.lease(fp) == Held(fp, None)
    client.push(fp, record)
    assert client.upload({fp: record}) == {}
    assert client.flush() == 0
    client.close()
    fs.invalidate_cache()
    assert sorted(fs.find(root)) == before
    assert not (cache.directory / "remote").exists()


def test_no_remote_touches_nothing(remote: Remote) -> None:
    pushed(remote, remote.cache("laptop"), "hero")
    cache = remote.cache("offline")
    client = open_remote({"remote": remote.url}, cache, Mode(enabled=False))
    fp, record = made(cache, "hero")
    assert not client.enabled
    assert client.records([fp]) == {}
    assert client.lease(fp) == Held(fp, None)
    client.push(fp, record)
    assert client.flush() == 0


def test_a_crashed_builds_pushes_are_made_by_the_next(remote: Remote) -> None:
    cache = remote.cache()
    fp, record = made(cache, "hero")
    assert remote.url is not None
    PushLog(cache.directory, remote.url).queued({fp: record})
    client = remote.open(cache)
    assert client.resume_pushes() == 1
    assert client.flush() == 0
    client.close()
    assert remote.open(remote.cache("ci")).records([fp]) == {fp: record}
    assert remote.open(cache).resume_pushes() == 0


@pytest.fixture
def doomed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Remote, ThreadedMotoServer, str]]:
    """An S3 server of this test's own, for it to stop."""
    server, endpoint = start_moto()
    use_aws(monkeypatch, endpoint)
    monkeypatch.delenv("IMAGEBUILD_REMOTE", raising=False)
    bucket = make_bucket(endpoint)
    remote = Remote("s3", f"s3://{bucket}/team-cache", tmp_path)
    yield remote, server, bucket
    remote.close()


def test_a_remote_that_goes_down_is_one_warning_and_nothing_is_lost(
    doomed: tuple[Remote, ThreadedMotoServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, server, bucket = doomed
    records = pushed(remote, remote.cache("laptop"), "hero")
    server.stop()
    cache = remote.cache("ci")
    client = remote.open(cache)
    fp, record = made(cache, "logo")
    assert client.records(records) == {}
    assert not client.enabled
    assert client.fetch(records) == set()
    assert client.lease(fp) == Held(fp, None)
    client.push(fp, record)
    assert client.flush() == 1
    client.close()
    (warning,) = remote.warnings
    assert warning.startswith(f"warning: remote cache {remote.url}: cannot read ac/")
    assert warning.endswith("; going on without the remote cache")
    assert SECRET not in warning

    revived, endpoint = start_moto()
    try:
        use_aws(monkeypatch, endpoint)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        later = remote.open(cache)
        assert later.resume_pushes() == 1
        assert later.flush() == 0
        assert remote.open(remote.cache("other")).records([fp]) == {fp: record}
    finally:
        remote.close()
        revived.stop()


def test_a_required_remote_that_is_down_is_a_one_line_error(
    doomed: tuple[Remote, ThreadedMotoServer, str],
) -> None:
    remote, server, _ = doomed
    server.stop()
    client = remote.open(mode=Mode(required=True))
    fp = fingerprint("hero")
    with pytest.raises(RemoteError) as failure:
        client.records([fp])
    message = str(failure.value)
    assert message.startswith(f"remote cache {remote.url}: cannot read ac/")
    assert "\n" not in message
    assert SECRET not in message
    with pytest.raises(RemoteError):
        client.lease(fp)
    assert remote.warnings == []


def test_a_missing_storage_package_is_one_warning(remote: Remote) -> None:
    client = open_remote(
        {"remote": "nosuchprotocol://bucket/prefix"},
        remote.cache(),
        Mode(),
        warn=remote.warnings.append,
    )
    assert client.records([fingerprint("hero")]) == {}
    (warning,) = remote.warnings
    assert warning.startswith("warning: remote cache nosuchprotocol://bucket/prefix: cannot open")
