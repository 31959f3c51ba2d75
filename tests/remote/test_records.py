"""Records as stored: version and fingerprint added, checked on the way back."""

from __future__ import annotations

import orjson
import pytest

from imagebuild.remote.records import BadRecord, decode, encode

FP = "ab" * 32
DIGEST = "cd" * 32
RECORD = {"outputs": [{"sha256": DIGEST, "size": 10, "imageUUID": "u"}], "seed": 3, "cost": 0.01}


def test_round_trip() -> None:
    stored = encode(FP, RECORD)
    assert orjson.loads(stored) == {**RECORD, "version": 1, "fingerprint": FP}
    assert decode(FP, stored) == RECORD


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"[1]", "is not a JSON object"),
        (orjson.dumps({**RECORD, "version": 2, "fingerprint": FP}), "is not version 1"),
        (
            orjson.dumps({**RECORD, "version": 1, "fingerprint": "ef" * 32}),
            "names another fingerprint",
        ),
        (
            orjson.dumps(
                {"outputs": [{"sha256": "xyz", "size": 1}], "version": 1, "fingerprint": FP}
            ),
            "has no valid outputs",
        ),
        (
            orjson.dumps(
                {"outputs": [{"sha256": DIGEST, "size": True}], "version": 1, "fingerprint": FP}
            ),
            "has no valid outputs",
        ),
    ],
)
def test_bad_records_say_what_is_wrong(data: bytes, problem: str) -> None:
    with pytest.raises(BadRecord, match=problem):
        decode(FP, data)
