"""Provider settings: parsed, defaulted, and refused with the key that is wrong."""

from __future__ import annotations

import itertools

import pytest

from imagebuild.errors import ImageBuildError, SettingError
from imagebuild.providers.runcomfy import RunComfyProvider
from imagebuild.providers.runware import RunwareProvider
from imagebuild.providers.settings import (
    HTTP_PROVIDERS,
    PollSchedule,
    RetryPolicy,
    parse_prices,
    parse_settings,
    setting_values,
)


def test_settings_accept_templated_strings() -> None:
    settings = parse_settings(
        "runware",
        {"concurrency": "8", "rate": "2.5", "timeout": 90, "batchSize": "4", "pollFirst": "0.5"},
        "http://127.0.0.1:1/v1/",
    )
    assert (settings.concurrency, settings.rate, settings.timeout) == (8, 2.5, 90.0)
    assert settings.batch_size == 4
    assert settings.poll.first == 0.5
    assert settings.url == "http://127.0.0.1:1/v1"


def test_settings_defaults() -> None:
    settings = parse_settings("runware", {"prices": {"m": 0.1}}, "https://api.runware.ai/v1")
    assert settings.concurrency == 32
    assert settings.rate is None
    assert settings.timeout == 1200.0
    assert settings.batch_size == 32
    assert settings.retry.attempts == 4


def test_settings_name_a_typo() -> None:
    with pytest.raises(ImageBuildError, match="did you mean 'concurrency'"):
        parse_settings("runware", {"concurrancy": 4}, "https://x")


@pytest.mark.parametrize(
    ("key", "value"),
    [("concurrency", 0), ("rate", "fast"), ("timeout", -1), ("batchSize", True), ("rate", "nan")],
)
def test_settings_refuse_non_positive_numbers(key: str, value: object) -> None:
    with pytest.raises(ImageBuildError, match=f"providers.runware.{key}"):
        parse_settings("runware", {key: value}, "https://x")


def test_settings_refuse_non_http_url() -> None:
    with pytest.raises(ImageBuildError, match="not an http"):
        parse_settings("runware", {}, "ftp://x")


def test_errors_name_the_key_and_whether_the_key_itself_is_wrong() -> None:
    with pytest.raises(SettingError) as typo:
        setting_values("runcomfy", {"batchSise": 4})
    assert (typo.value.key, typo.value.at_key) == ("batchSise", True)
    with pytest.raises(SettingError) as value:
        setting_values("runcomfy", {"url": "ftp://x"})
    assert (value.value.key, value.value.at_key) == ("url", False)


def test_the_providers_whose_block_is_checked_are_the_http_providers() -> None:
    assert {RunwareProvider.name, RunComfyProvider.name} == HTTP_PROVIDERS


def test_poll_schedule_starts_fixed_then_grows_to_a_cap() -> None:
    delays = list(itertools.islice(PollSchedule(1.0, 0.5, 1.5, 10.0).delays(), 12))
    assert delays[:4] == [1.0, 0.5, 0.75, 1.125]
    assert max(delays) == 10.0
    assert delays[-1] == 10.0


def test_backoff_is_full_jitter_capped() -> None:
    policy = RetryPolicy(retries=10, base=1.0, cap=30.0)
    highest = [policy.delay(n, draw=lambda low, high: high) for n in range(1, 8)]
    assert highest == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay(3, draw=lambda low, high: low) == 0.0


def test_backoff_honours_retry_after_within_the_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=30.0)
    assert policy.delay(1, retry_after=5.0, draw=lambda low, high: high) == 5.0
    assert policy.delay(6, retry_after=5.0, draw=lambda low, high: high) == 30.0
    assert policy.delay(1, retry_after=31.0) is None


def test_prices_are_numbers_by_model_id() -> None:
    assert parse_prices("runware", {"imagineart:1@5": "0.03", "other:1@1": 0}) == {
        "imagineart:1@5": 0.03,
        "other:1@1": 0.0,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (5, "providers.runware.prices: must map model ids to USD per image"),
        (["m"], "providers.runware.prices: must map model ids to USD per image"),
        (
            {"m": "abc"},
            "providers.runware.prices.m: 'abc' is not a price (USD per image, a number from 0)",
        ),
        ({"m": -0.01}, "providers.runware.prices.m: -0.01 is not a price"),
        ({"m": "nan"}, "providers.runware.prices.m: 'nan' is not a price"),
        ({"m": True}, "providers.runware.prices.m: True is not a price"),
        ({"m": None}, "providers.runware.prices.m: None is not a price"),
    ],
)
def test_prices_that_are_not_a_mapping_of_prices_are_refused(raw: object, message: str) -> None:
    with pytest.raises(SettingError) as caught:
        setting_values("runware", {"prices": raw})
    assert str(caught.value).startswith(message)
    assert caught.value.key == "prices"


def test_a_bad_price_points_at_its_model() -> None:
    with pytest.raises(SettingError) as caught:
        parse_prices("local", {"good": 1, "bad": "x"})
    assert caught.value.path == ("prices", "bad")
