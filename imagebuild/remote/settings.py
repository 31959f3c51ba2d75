"""The remote cache's settings: the manifest's ``cache`` block and IMAGEBUILD_REMOTE.

The block is checked when the manifest is expanded, so that ``validate`` and
``plan`` report a typo or a bad value at its line and column, and read again
when the remote is opened, where IMAGEBUILD_REMOTE wins over ``cache.remote``.
Credentials never come from either: storage options and URLs that carry
one are refused, and each cloud's own environment variables and config files
(for S3 the AWS CLI's) provide them. Nothing here imports fsspec.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagebuild.errors import UsageError, unknown_name
from imagebuild.remote.errors import RemoteSettingError

REMOTE_ENV = "IMAGEBUILD_REMOTE"
CREDENTIALS_COME_FROM = (
    "credentials come from the cloud's own environment variables and config files "
    "(for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws), "
    "never from the manifest"
)
_NUMBER_KEYS: dict[str, type[int] | type[float]] = {
    "timeout": float,
    "lease": float,
    "wait": float,
    "concurrency": int,
}
KNOWN_KEYS = ("remote", "options", *_NUMBER_KEYS)
# Storage option names (lower case, letters and digits only) that hold a secret.
_CREDENTIAL_NAMES = frozenset(
    {"key", "secret", "token", "password", "passwd", "sig", "signature", "apikey", "privatekey"}
)
_CREDENTIAL_ENDINGS = (
    "secret",
    "token",
    "password",
    "credential",
    "credentials",
    "accountkey",
    "accesskey",
    "accesskeyid",
    "secretkey",
    "customerkey",
    "connectionstring",
)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://.")
_PROTOCOL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(://.*)?\Z")


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    """Where the remote cache is and how long to wait for it."""

    url: str
    # fsspec storage options: endpoint, region, profile name; never a secret.
    options: Mapping[str, Any] = field(default_factory=dict)
    # One storage operation (a read, a create, a listing), in seconds.
    timeout: float = 30.0
    # A lease's life; its holder renews it every third of that.
    lease: float = 60.0
    # The longest a build waits for another machine's live lease to end.
    wait: float = 1800.0
    # Storage operations in flight at once.
    concurrency: int = 32

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0]


@dataclass(frozen=True, slots=True)
class Mode:
    """How a command uses the remote: ``--no-remote`` (not ``enabled``),
    ``--remote-read-only`` (reads records and objects, writes nothing, takes
    no leases), ``--require-remote`` (a remote problem fails the command
    instead of one warning)."""

    enabled: bool = True
    read_only: bool = False
    required: bool = False

    @classmethod
    def from_flags(cls, *, no_remote: bool, read_only: bool, required: bool) -> Mode:
        if no_remote and (read_only or required):
            raise UsageError("--no-remote cannot be combined with other remote flags")
        return cls(enabled=not no_remote, read_only=read_only, required=required)


def check_block(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``cache`` block as RemoteSettings fields (``remote``
    becomes ``url``); raises RemoteSettingError naming the bad key."""
    for key in raw:
        if key not in KNOWN_KEYS:
            raise _error((key,), unknown_name("setting", key, KNOWN_KEYS), at_key=True)
    values: dict[str, Any] = {}
    if "remote" in raw:
        values["url"] = check_url(raw["remote"], "cache.remote", ("remote",))
    if "options" in raw:
        options = raw["options"]
        if not isinstance(options, dict):
            raise _error(("options",), "must be a mapping of fsspec storage options")
        _refuse_credentials(options, ("options",))
        values["options"] = options
    for key, kind in _NUMBER_KEYS.items():
        if key in raw:
            values[key] = _positive(key, raw[key], kind)
    return values


def resolve(raw: Mapping[str, Any], environ: Mapping[str, str]) -> RemoteSettings | None:
    """The settings in force, or None when no remote is configured. The
    manifest's storage options follow its URL: they are dropped when
    IMAGEBUILD_REMOTE names another protocol."""
    values = check_block(raw)
    override = environ.get(REMOTE_ENV, "").strip()
    if override:
        url = check_url(override, REMOTE_ENV, ())
        if "url" in values and _protocol(values["url"]) != _protocol(url):
            values.pop("options", None)
        values["url"] = url
    if "url" not in values:
        return None
    return RemoteSettings(**values)


def check_url(url: Any, name: str, path: tuple[str, ...]) -> str:
    """An fsspec URL (chained ones too: ``simplecache::s3://bucket``) that
    carries no user, password or signed query."""
    from urllib.parse import parse_qsl, urlsplit

    if (
        not isinstance(url, str)
        or not _URL.match(url.split("::")[-1])
        or not all(_PROTOCOL.match(part) for part in url.split("::")[:-1])
    ):
        raise RemoteSettingError(path, f"{name}: expected a URL such as s3://bucket/prefix")
    for part in url.split("::"):
        pieces = urlsplit(part)
        if "@" in pieces.netloc or any(
            _is_credential(key) for key, _ in parse_qsl(pieces.query, keep_blank_values=True)
        ):
            message = f"{name}: the URL carries credentials; {CREDENTIALS_COME_FROM}"
            raise RemoteSettingError(path, message)
    return url.rstrip("/")


def _protocol(url: str) -> str:
    return url.split("::")[-1].split("://", 1)[0]


def _refuse_credentials(value: Any, path: tuple[str, ...]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = (*path, str(key))
            if _is_credential(str(key)):
                raise _error(where, CREDENTIALS_COME_FROM, at_key=True)
            _refuse_credentials(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_credentials(item, (*path, str(index)))


def _is_credential(name: str) -> bool:
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    return squashed in _CREDENTIAL_NAMES or squashed.endswith(_CREDENTIAL_ENDINGS)


def _positive(key: str, value: Any, kind: type[int] | type[float]) -> int | float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
        or (kind is int and value != int(value))
    ):
        raise _error((key,), f"{value!r} is not a positive {kind.__name__}")
    return kind(value)


def _error(path: tuple[str, ...], message: str, *, at_key: bool = False) -> RemoteSettingError:
    return RemoteSettingError(path, f"cache.{'.'.join(path)}: {message}", at_key=at_key)
