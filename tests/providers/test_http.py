"""The shared HTTP machinery, without a server: settings, backoff, retries,
pacing, coalescing, single flight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path

import anyio
import pytest

from imagebuild.errors import AuthenticationError, ProviderError, TransientError
from imagebuild.providers.http import (
    SHARD_CONNECTIONS,
    ClientPool,
    Coalescer,
    Pacer,
    Redactor,
    RequestFailed,
    SingleFlight,
    choose_url,
    decode_base64,
    gather,
    require_env,
    retry_after_seconds,
    staged_path,
    with_retries,
    within_deadline,
)
from imagebuild.providers.settings import RetryPolicy

FAST = RetryPolicy(retries=3, base=0.001, cap=0.01)


# -- credentials and URLs ----------------------------------------------------------


def test_environment_beats_manifest_url() -> None:
    settings = {"url": "http://manifest"}
    assert choose_url({"X_URL": "http://env"}, "X_URL", settings, "http://default") == "http://env"
    assert choose_url({}, "X_URL", settings, "http://default") == "http://manifest"
    assert choose_url({}, "X_URL", {}, "http://default") == "http://default"


def test_missing_credential() -> None:
    with pytest.raises(AuthenticationError, match=r"^RUNWARE_API_KEY is not set$"):
        require_env({"RUNWARE_API_KEY": "  "}, "RUNWARE_API_KEY")


@pytest.mark.parametrize("key", ["abc\ndef", "abc def", "abc\tdef", "abcé", "ab\x00c", "ab\u200bc"])
def test_a_credential_no_http_header_can_carry_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        require_env({"RUNWARE_API_KEY": key}, "RUNWARE_API_KEY")
    assert str(caught.value) == (
        "RUNWARE_API_KEY holds a space, a control character or a non-ASCII character;"
        " set it to the key alone"
    )


def test_a_credential_is_read_without_surrounding_whitespace() -> None:
    assert require_env({"RUNWARE_API_KEY": " k-1_2.3/4+5=\n"}, "RUNWARE_API_KEY") == "k-1_2.3/4+5="


def test_redactor() -> None:
    assert Redactor("s3cret")("bad key s3cret!") == "bad key [redacted]!"


# -- Retry-After -----------------------------------------------------------------


def test_retry_after_forms() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    seconds = retry_after_seconds(when)
    assert seconds is not None
    assert 15 < seconds <= 20


# -- retries -------------------------------------------------------------------------


def failing(times: int, error: Callable[[], Exception]) -> Callable[[], Awaitable[str]]:
    calls = {"n": 0}

    async def attempt() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error()
        return f"ok after {calls['n']}"

    return attempt


@pytest.mark.anyio
async def test_transient_failures_are_retried() -> None:
    assert await with_retries(FAST, failing(3, lambda: RequestFailed("503"))) == "ok after 4"


@pytest.mark.anyio
async def test_retries_end() -> None:
    with pytest.raises(TransientError, match="gave up after 4 attempts") as caught:
        await with_retries(FAST, failing(4, lambda: RequestFailed("HTTP 503")))
    assert not isinstance(caught.value, RequestFailed)


@pytest.mark.anyio
async def test_permanent_errors_are_not_retried() -> None:
    with pytest.raises(ProviderError, match="nope"):
        await with_retries(FAST, failing(1, lambda: ProviderError("nope")))


@pytest.mark.anyio
async def test_non_idempotent_requests_retry_only_what_never_ran() -> None:
    refused = failing(2, lambda: RequestFailed("refused", may_have_run=False))
    assert await with_retries(FAST, refused, idempotent=False) == "ok after 3"
    dropped = failing(1, lambda: RequestFailed("dropped", may_have_run=True))
    with pytest.raises(RequestFailed, match="dropped"):
        await with_retries(FAST, dropped, idempotent=False)


@pytest.mark.anyio
async def test_a_retry_after_beyond_the_cap_ends_at_once() -> None:
    started = anyio.current_time()
    with pytest.raises(TransientError, match="asks to wait 60 s") as caught:
        await with_retries(FAST, failing(1, lambda: RequestFailed("429", retry_after=60.0)))
    assert caught.value.retry_after == 60.0
    assert anyio.current_time() - started < 1.0


@pytest.mark.anyio
async def test_deadline_becomes_a_transient_error() -> None:
    async def forever() -> None:
        await anyio.sleep(10)

    with pytest.raises(TransientError, match=r"no result within 0\.05 s"):
        await within_deadline(0.05, "Svc", forever)


# -- pacing and pools ----------------------------------------------------------------


@pytest.mark.anyio
async def test_pacer_spaces_request_starts() -> None:
    pacer = Pacer(concurrency=10, rate=50.0)
    starts: list[float] = []

    async def one() -> None:
        async with pacer.slot():
            starts.append(anyio.current_time())

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(one)
    # Starts are scheduled 20 ms apart; a late wake-up may shorten one gap, not the span.
    assert max(starts) - min(starts) >= 5 * 0.02 - 0.002


@pytest.mark.anyio
async def test_pacer_limits_concurrency() -> None:
    pacer = Pacer(concurrency=3)
    inside = peak = 0

    async def one() -> None:
        nonlocal inside, peak
        async with pacer.slot():
            inside += 1
            peak = max(peak, inside)
            await anyio.sleep(0.01)
            inside -= 1

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(one)
    assert peak == 3


@pytest.mark.anyio
async def test_large_pools_are_sharded() -> None:
    pool = ClientPool(30, timeout=5.0)
    try:
        shards = pool._clients
        assert len(shards) == 8
        assert all(
            client._transport._pool._max_connections <= SHARD_CONNECTIONS  # type: ignore[attr-defined]
            for client in shards
        )
    finally:
        await pool.aclose()


# -- coalescing -----------------------------------------------------------------------


class Recorder:
    """A ``send`` that records its batches and answers each item doubled."""

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.error = error

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await anyio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return [item * 2 for item in items]


async def call_all(coalescer: Coalescer[int, int], items: list[int]) -> dict[int, int]:
    results: dict[int, int] = {}

    async def one(item: int) -> None:
        results[item] = await coalescer.call(item)

    async with anyio.create_task_group() as group:
        for item in items:
            group.start_soon(one, item)
    return results


@pytest.mark.anyio
async def test_concurrent_calls_share_batches_up_to_the_size() -> None:
    send = Recorder(delay=0.01)
    results = await call_all(Coalescer(send, size=4, window=0.05), list(range(10)))
    assert results == {item: item * 2 for item in range(10)}
    assert sorted(len(batch) for batch in send.batches) == [2, 4, 4]
    assert sorted(item for batch in send.batches for item in batch) == list(range(10))


@pytest.mark.anyio
async def test_full_batches_do_not_wait_for_the_window() -> None:
    send = Recorder()
    started = anyio.current_time()
    await call_all(Coalescer(send, size=5, window=5.0), list(range(10)))
    assert anyio.current_time() - started < 1.0
    assert [len(batch) for batch in send.batches] == [5, 5]


@pytest.mark.anyio
async def test_batches_are_sent_concurrently() -> None:
    send = Recorder(delay=0.2)
    started = anyio.current_time()
    await call_all(Coalescer(send, size=2, window=0.001), list(range(8)))
    assert len(send.batches) == 4
    assert anyio.current_time() - started < 0.5


@pytest.mark.anyio
async def test_a_send_failure_answers_every_item() -> None:
    coalescer = Coalescer(Recorder(error=RequestFailed("down")), size=4, window=0.01)
    failures: list[str] = []

    async def one(item: int) -> None:
        try:
            await coalescer.call(item)
        except RequestFailed as error:
            failures.append(str(error))

    async with anyio.create_task_group() as group:
        for item in range(3):
            group.start_soon(one, item)
    assert failures == ["down"] * 3


@pytest.mark.anyio
async def test_a_cancelled_sender_hands_its_batch_back() -> None:
    send = Recorder(delay=0.2)
    coalescer = Coalescer(send, size=10, window=0.01)
    results: dict[int, int] = {}

    async def sibling(item: int) -> None:
        results[item] = await coalescer.call(item)

    async with anyio.create_task_group() as group:
        with anyio.move_on_after(0.05):
            group.start_soon(sibling, 1)
            group.start_soon(sibling, 2)
            await coalescer.call(0)
    assert results == {1: 2, 2: 4}
    assert sorted(send.batches[0]) == [0, 1, 2]
    assert sorted(send.batches[1]) == [1, 2]


@pytest.mark.anyio
async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    send = Recorder()
    coalescer = Coalescer(send, size=10, window=0.1)
    with anyio.move_on_after(0.02):
        await coalescer.call(1)
    assert await coalescer.call(2) == 4
    assert send.batches == [[2]]


# -- single flight and gather ------------------------------------------------------------


@pytest.mark.anyio
async def test_single_flight_shares_one_computation() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    runs = 0

    async def compute() -> int:
        nonlocal runs
        runs += 1
        await anyio.sleep(0.02)
        return 7

    results: list[int] = []

    async def one() -> None:
        results.append(await flights.get("k", compute))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(one)
    results.append(await flights.get("k", compute))
    assert results == [7] * 6
    assert runs == 1


@pytest.mark.anyio
async def test_single_flight_forgets_failures() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ProviderError("first")
        return 3

    with pytest.raises(ProviderError, match="first"):
        await flights.get("k", compute)
    assert await flights.get("k", compute) == 3


@pytest.mark.anyio
async def test_gather_keeps_order_and_raises_the_error_itself() -> None:
    async def value(number: int) -> int:
        await anyio.sleep(0.01 * (3 - number))
        return number

    assert await gather([partial(value, number) for number in range(3)]) == [0, 1, 2]

    async def broken() -> int:
        raise ProviderError("one failed")

    operations: list[Callable[[], Awaitable[int]]] = [partial(value, 1), broken]
    with pytest.raises(ProviderError, match="one failed"):
        await gather(operations)


# -- small helpers ---------------------------------------------------------------------------


def test_decode_base64_accepts_data_uris() -> None:
    assert decode_base64("aGk=", "Svc") == b"hi"
    assert decode_base64("data:image/png;base64,aGk=", "Svc") == b"hi"
    with pytest.raises(ProviderError, match="not valid base64"):
        decode_base64("***", "Svc")


def test_staged_paths_are_unique_per_task_and_result(tmp_path: Path) -> None:
    assert staged_path(tmp_path, "t1", 0, "PNG") == tmp_path / "t1-0.png"
    assert staged_path(tmp_path, "t1", 1, "JPG") == tmp_path / "t1-1.jpg"
