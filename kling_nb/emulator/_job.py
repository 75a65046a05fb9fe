"""One emulated request: what the emulator remembers about it, and its status's shape."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from typing_extensions import NotRequired

from .._wire import StatusBody, StatusName
from ._failure import Failure, FailureKind
from ._logs import LogLine

# What a cancel did to a job (per-request stats): removed from the queue, stopped while
# running, signalled while running (it runs on), refused as unsupported, or too late.
CancelOutcome = Literal["removed", "stopped", "signalled", "unsupported", "too_late"]


class StatusAnswer(StatusBody):
    """A status body with Qiniu's `detail` (a failure's reason, or null)."""

    detail: NotRequired[object]


@dataclass(eq=False)
class Job:
    """One submitted request and everything the emulator remembers about it."""

    request_id: str
    endpoint: str
    body: dict[str, Any]
    file_base: str
    submitted_at: float
    seq: int
    low_priority: bool = False
    webhook: str | None = None
    planned: FailureKind | None = None
    state: StatusName = "IN_QUEUE"
    started_at: float | None = None
    completed_at: float | None = None
    cancelled: bool = False  # ended by a cancel (removed or stopped): nothing billed
    cancel_outcome: CancelOutcome | None = None  # what the last cancel did
    cancel_requests: int = 0
    logs: list[LogLine] = field(default_factory=list)
    output: dict[str, object] | None = None
    failure: Failure | None = None
    detail: object = None  # qiniu: the failure as its COMPLETED status words it
    detail_shape: Literal["string", "object"] = "string"  # qiniu: how `detail` words it
    status_polls: int = 0
    status_streams: int = 0
    num_images: int = 1
    billed_images: int = 0
    inline: bool = False  # output held as data: URIs (result_urls=data, or sync_mode)
    output_bytes: int = 0
    planned_seconds: float | None = None  # the drawn service time: compared, never timed
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    webhook_chain: asyncio.Task[None] | None = field(default=None, repr=False)
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def touch(self) -> None:
        """Wake everyone waiting for this job to change (SSE streams)."""
        self.changed.set()
        self.changed = asyncio.Event()

    def stats(self) -> dict[str, object]:
        return {
            "state": self.state,
            "endpoint": self.endpoint,
            "num_images": self.num_images,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "cancelled": self.cancelled,
            "cancel_outcome": self.cancel_outcome,
            "cancel_requests": self.cancel_requests,
            "status_polls": self.status_polls,
            "status_streams": self.status_streams,
            "billed_images": self.billed_images,
            "planned_seconds": self.planned_seconds,
            "error_type": self.failure.error_type if self.failure else None,
        }
