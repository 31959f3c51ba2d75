"""Fault injection for the emulators: the failures a client must survive, on demand.

Real image APIs answer 429 and 5xx under load, lose answers after charging for them and
cut downloads short. Clients are only trustworthy if they have been seen surviving all of
that, so the emulators draw faults per HTTP request from a :class:`Faults` policy.

A seeded policy draws the same sequence of faults in every run (one ``random.Random``,
behind a lock because the draw may happen on any server thread); which request receives
which draw still depends on arrival order.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

FAULT_KINDS = ("429", "500", "503", "drop", "malformed", "truncate")
# Answered instead of processing: nothing happens, nothing is billed.
REFUSALS = frozenset({"429", "500", "503"})
# The request is processed (and billed) and then its answer is lost or garbled.
AFTER_PROCESSING = frozenset({"drop", "malformed"})
# Faults of API requests, as opposed to image downloads.
API_FAULTS = REFUSALS | AFTER_PROCESSING
# Downloads can only be cut short.
DOWNLOAD_FAULTS = frozenset({"truncate"})


@dataclass(frozen=True)
class Faults:
    """How often, and how, an emulator misbehaves.

    ``latency`` is the time each generation takes (seconds). With probability ``fail_rate`` a
    request gets one fault drawn uniformly from those of ``kinds`` that apply to it: "429",
    "500", "503", "drop" and "malformed" to API requests, "truncate" to image downloads.
    ``retry_after`` is the ``Retry-After`` a 429 carries.
    """

    latency: float = 0.0
    fail_rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: float = 1.0
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            expected = ", ".join(FAULT_KINDS)
            raise ValueError(
                f"unknown fault kind {', '.join(unknown)}; expected some of {expected}"
            )
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, got {self.fail_rate}")
        if self.latency < 0 or self.retry_after < 0:
            raise ValueError("latency and retry_after must not be negative")
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "_random", random.Random(self.seed))
        object.__setattr__(self, "_lock", threading.Lock())

    def draw(self, applicable: frozenset[str]) -> str | None:
        """The fault for one request that could suffer ``applicable`` kinds, or None."""
        candidates = [kind for kind in self.kinds if kind in applicable]
        if not candidates or self.fail_rate <= 0.0:
            return None
        with self._lock:
            if self._random.random() >= self.fail_rate:
                return None
            return self._random.choice(candidates)
