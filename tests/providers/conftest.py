"""Shared by the provider tests: they run on asyncio, as the command line does."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
