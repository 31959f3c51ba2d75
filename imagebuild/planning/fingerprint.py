"""The fingerprint: what determines the pixels, hashed.

sha256 of canonical JSON (sorted keys, no whitespace) of the provider and the
request with local input paths replaced by their content digests. Output
paths, task ids, delivery options and credentials stay out: renaming an
output must not cost a generation.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Bump to invalidate every fingerprint when the meaning of a request changes.
CACHE_EPOCH = 1


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def fingerprint(provider: str, request: dict[str, Any]) -> str:
    """``request`` has its local input paths already replaced by digests."""
    payload = {"epoch": CACHE_EPOCH, "provider": provider, "request": request}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
