"""HTTP emulators of the Runware and RunComfy image APIs, for tests, benchmarks and offline CI.

Each is a real HTTP server on loopback that speaks the API's protocol, renders with the
deterministic renderer, validates requests against the model schemas, counts what it charges
and misbehaves on demand (:class:`Faults`), so clients are exercised without spending::

    with serve(RunwareEmulator(faults=Faults(latency=0.1))) as url:
        ...  # point a client at f"{url}/v1"
"""

from imagebuild.emulators.common import EmulatorStats
from imagebuild.emulators.faults import Faults
from imagebuild.emulators.runcomfy import RunComfyEmulator
from imagebuild.emulators.runware import RunwareEmulator
from imagebuild.emulators.server import run_forever, serve

__all__ = [
    "EmulatorStats",
    "Faults",
    "RunComfyEmulator",
    "RunwareEmulator",
    "run_forever",
    "serve",
]
