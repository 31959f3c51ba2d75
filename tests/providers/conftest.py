"""Shared by the provider tests: they run on asyncio, as the command line does,
and poll and retry at test speed."""

import pytest

from imagebuild.providers.settings import PollSchedule, RetryPolicy

FAST_POLL = PollSchedule(first=0.05, interval=0.05, growth=1.5, longest=0.2)
FAST_RETRY = RetryPolicy(retries=6, base=0.01, cap=2.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
