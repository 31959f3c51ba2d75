"""Warnings for the user: one line each on stderr, each said once per run.

For things imagebuild recovers from on its own (a damaged cache record is
skipped, a remote cache that does not answer is left alone) and that the user
should still hear about once, not once per target.
"""

from __future__ import annotations

import sys

_said: set[str] = set()


def warn(message: str) -> None:
    if message not in _said:
        _said.add(message)
        print(f"warning: {message}", file=sys.stderr)
