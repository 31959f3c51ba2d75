"""A remote provider's settings: the manifest's ``providers.NAME`` block, checked.

The same checks run twice: when the manifest is expanded, so that ``validate``
and ``plan`` report a typo or a bad value at its line and column, and when
the provider is made, with the URL chosen (the environment, then the
manifest, then the public API). Unknown keys are errors, so a typo never
silently leaves a default in place. Nothing here imports httpx or anyio.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from imagebuild.errors import SettingError, unknown_name

# The built-in providers whose block this module reads, and the environment
# variable each takes its credential from (never the manifest).
CREDENTIAL_VARIABLES = {"runware": "RUNWARE_API_KEY", "runcomfy": "RUNCOMFY_API_TOKEN"}
HTTP_PROVIDERS = frozenset(CREDENTIAL_VARIABLES)


def credential_problem(name: str, value: str) -> str | None:
    """Why the credential in variable ``name`` cannot be used, or None. It goes
    into an HTTP header, which takes printable ASCII only; the message names
    the variable and never shows the value."""
    if not value:
        return f"{name} is not set"
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        return (
            f"{name} holds a space, a control character or a non-ASCII character;"
            " set it to the key alone"
        )
    return None


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to ask for results: ``first`` seconds after submission, then
    ``interval`` growing by ``growth`` per poll up to ``longest``.

    The default starts like the official SDK (first poll after 1 s) but then
    polls again after 0.02 s, growing x1.5: a task that finishes just after
    the first poll is collected within a few percent of its own time, not
    half a second later. Polls are batched (one request asks for many tasks),
    so the short early intervals cost few requests; by ten seconds the
    interval is back to seconds."""

    first: float = 1.0
    interval: float = 0.02
    growth: float = 1.5
    longest: float = 10.0

    def delays(self) -> Iterator[float]:
        yield self.first
        delay = self.interval
        while True:
            yield delay
            delay = min(self.longest, delay * self.growth)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``retries`` after the first try."""

    retries: int = 3
    base: float = 1.0
    cap: float = 30.0

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(
        self,
        retry: int,
        retry_after: float | None = None,
        draw: Callable[[float, float], float] = random.uniform,
    ) -> float | None:
        """Seconds to wait before retry number ``retry`` (from 1); ``None`` when
        the server asks for a longer wait than the cap allows."""
        backoff = draw(0.0, min(self.cap, self.base * 2 ** (retry - 1)))
        if retry_after is None:
            return backoff
        if retry_after > self.cap:
            return None
        return max(retry_after, backoff)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """A remote provider's settings: the manifest's ``providers.NAME`` block."""

    url: str
    concurrency: int = 32
    rate: float | None = None
    timeout: float = 20 * 60.0
    batch_size: int = 32
    batch_window: float = 0.005
    request_timeout: float = 60.0
    output_type: str = "auto"
    max_image_bytes: int = 200 * 1024 * 1024
    poll: PollSchedule = field(default_factory=PollSchedule)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


_NUMBER_KEYS: dict[str, tuple[str, type[int] | type[float]]] = {
    "concurrency": ("concurrency", int),
    "rate": ("rate", float),
    "timeout": ("timeout", float),
    "batchSize": ("batch_size", int),
    "requestTimeout": ("request_timeout", float),
}
_POLL_KEYS = {
    "pollFirst": "first",
    "pollInterval": "interval",
    "pollGrowth": "growth",
    "pollMax": "longest",
}
OUTPUT_TYPES = ("auto", "URL", "base64Data", "dataURI")
KNOWN_KEYS = frozenset({"url", "prices", "retries", "outputType", *_NUMBER_KEYS, *_POLL_KEYS})


def parse_settings(provider: str, raw: Mapping[str, Any], url: str) -> HttpSettings:
    """The settings of a provider about to be made; ``url`` is already chosen."""
    return HttpSettings(url=_url(provider, url), **setting_values(provider, raw))


def setting_values(provider: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The block's values as ``HttpSettings`` fields, all but the URL (the
    manifest's own URL is checked all the same). Values may be numbers
    written as strings."""
    for key in raw:
        if key not in KNOWN_KEYS:
            message = unknown_name("setting", key, KNOWN_KEYS)
            raise SettingError(provider, key, message, at_key=True)
    if "url" in raw:
        _url(provider, raw["url"])
    if "prices" in raw:
        parse_prices(provider, raw["prices"])
    values: dict[str, Any] = {}
    for key, (attribute, kind) in _NUMBER_KEYS.items():
        if key in raw:
            values[attribute] = _positive(provider, key, raw[key], kind)
    poll = {
        attribute: _positive(provider, key, raw[key], float)
        for key, attribute in _POLL_KEYS.items()
        if key in raw
    }
    if poll:
        values["poll"] = PollSchedule(**poll)
    if "retries" in raw:
        values["retry"] = RetryPolicy(retries=_count(provider, "retries", raw["retries"]))
    if "outputType" in raw:
        if raw["outputType"] not in OUTPUT_TYPES:
            message = f"must be one of {', '.join(OUTPUT_TYPES)}"
            raise SettingError(provider, "outputType", message)
        values["output_type"] = raw["outputType"]
    return values


def parse_prices(provider: str, raw: Any) -> dict[str, float]:
    """``prices``: USD per image by model id, for the models the registry has
    no price for. Any provider's block may give them, not only these."""
    if not isinstance(raw, Mapping):
        raise SettingError(provider, "prices", "must map model ids to USD per image")
    prices = {}
    for model, value in raw.items():
        price = _number(value, float)
        if price is None or price < 0:
            message = f"{value!r} is not a price (USD per image, a number from 0)"
            raise SettingError(provider, "prices", message, entry=str(model))
        prices[str(model)] = float(price)
    return prices


def _url(provider: str, url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise SettingError(provider, "url", f"{url!r} is not an http(s) URL")
    return url.rstrip("/")


def _positive(provider: str, key: str, value: Any, kind: type[int] | type[float]) -> int | float:
    number = _number(value, kind)
    if number is None or number <= 0:
        raise SettingError(provider, key, f"{value!r} is not a positive {kind.__name__}")
    return number


def _count(provider: str, key: str, value: Any) -> int:
    number = _number(value, int)
    if number is None or number < 0:
        raise SettingError(provider, key, f"{value!r} is not a count")
    return int(number)


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    if isinstance(value, bool):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
