"""The seam to the network: the only place in the client that imports fal_client or httpx.

Everything kling_nb sends or fetches goes through here, and every failure comes back as a
kling_nb error (or a signal the engine handles): nobody else sees an httpx exception.

- `_queue`: the queue client (submit, status, stream, result, cancel, downloads).
- `_fal`: fal_client pointed at the chosen host (the guide's raw cells use it too).
- `_probes`: `doctor()`'s free questions, each under a total deadline.
"""

from __future__ import annotations

from ._fal import check_fal_client_host, point_fal_client
from ._probes import Probe, ProbeAnswer, ProbeFailure, probe_all
from ._queue import CancelAnswer, QueueClient, client_for, fetch_public

__all__ = [
    "CancelAnswer",
    "Probe",
    "ProbeAnswer",
    "ProbeFailure",
    "QueueClient",
    "check_fal_client_host",
    "client_for",
    "fetch_public",
    "point_fal_client",
    "probe_all",
]
