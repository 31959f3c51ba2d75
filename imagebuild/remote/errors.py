"""What the remote cache reports, never carrying a credential.

    ImageBuildError (imagebuild.errors)
    └── RemoteError                 the remote cache failed; one line
        ├── RemoteSettingError      a bad ``cache`` setting or IMAGEBUILD_REMOTE
        ├── StorageError            one storage operation failed (unreachable, refused,
        │                           timed out); the failure policy decides what follows
        └── LeaseWaitError          another machine's live lease outlasted ``cache.wait``

Storage libraries put URLs, headers and sometimes signed query strings into
their messages. Every message made here goes through :func:`scrub` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from imagebuild.errors import ImageBuildError

# Environment variables whose values are secrets, for the clouds fsspec reaches.
SECRET_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_QUERY = re.compile(r"(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^\s?\"']*)\?[^\s\"']*")
_HIDDEN = "***"


class RemoteError(ImageBuildError):
    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class RemoteSettingError(RemoteError):
    """One bad setting at ``path`` inside the ``cache`` block (empty for
    IMAGEBUILD_REMOTE); ``at_key``: the key itself is wrong, not its value."""

    def __init__(self, path: tuple[str, ...], message: str, *, at_key: bool = False) -> None:
        self.path = path
        self.at_key = at_key
        super().__init__(message)


class StorageError(RemoteError):
    pass


class LeaseWaitError(RemoteError):
    pass


def scrub(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """``text`` without user:password in URLs, query strings (where signed URLs
    carry their signatures) and the values of the secret variables."""
    text = _USERINFO.sub(r"\g<scheme>", text)
    text = _QUERY.sub(r"\g<url>", text)
    for name in SECRET_VARIABLES:
        value = environ.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, _HIDDEN)
    return text
