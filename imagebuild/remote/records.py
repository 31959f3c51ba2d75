"""An action record as the remote keeps it.

The record is the core's (``outputs: [{sha256, size, ...}]``, seed, provider
ids, cost) and opaque here but for its outputs. Stored, it also carries a
``version`` and its own ``fingerprint``, and both are checked on the way
back: a record that does not parse, or answers for another fingerprint, is
a miss, never an output.
"""

from __future__ import annotations

from typing import Any

import orjson

from imagebuild.planning.lock import is_sha256

RECORD_VERSION = 1
Record = dict[str, Any]


class BadRecord(ValueError):
    pass


def encode(fingerprint: str, record: Record) -> bytes:
    stored = {**record, "version": RECORD_VERSION, "fingerprint": fingerprint}
    return orjson.dumps(stored, option=orjson.OPT_SORT_KEYS)


def decode(fingerprint: str, data: bytes) -> Record:
    """The record as the core gave it; BadRecord says what is wrong."""
    try:
        stored = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BadRecord("is not JSON") from None
    if not isinstance(stored, dict):
        raise BadRecord("is not a JSON object")
    if stored.pop("version", None) != RECORD_VERSION:
        raise BadRecord(f"is not version {RECORD_VERSION}")
    if stored.pop("fingerprint", None) != fingerprint:
        raise BadRecord("names another fingerprint")
    outputs = stored.get("outputs")
    if not isinstance(outputs, list) or not all(_is_output(output) for output in outputs):
        raise BadRecord("has no valid outputs (sha256 and size each)")
    return stored


def _is_output(output: Any) -> bool:
    return (
        isinstance(output, dict)
        and is_sha256(output.get("sha256"))
        and isinstance(output.get("size"), int)
        and not isinstance(output["size"], bool)
        and output["size"] >= 0
    )
