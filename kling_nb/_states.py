"""The states of a journal row and the moves between them: one table, no I/O.

    submitting ─► queued ─► running ─► downloading ─► completed
        │            │         │  └──────────────────► completed   (a dict was returned)
        │            └─────────┴─────► failed | cancelled
        ├─► unknown     the submit was sent but its answer was lost: never resent
        └─► rejected    the service refused the submit (nothing was created)

`cancelled` means the service confirmed that the job will not run. A cancel the service
only took note of (a running job, a gateway without cancel) leaves the row where it was, so
that `resume()` still collects the pictures that were paid for; the row's `cancel` column
says what was asked and answered. `downloading` may still end `failed` when the service no
longer keeps the result. Every state write goes through `Journal.advance`, which applies a
move only from a state this table allows — a late cancel can never rewrite a completed row.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """Where a journaled job stands."""

    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


S = JobState
# state → the states it may come from (a state may also be written again over itself).
MOVES: dict[JobState, frozenset[JobState]] = {
    S.SUBMITTING: frozenset(),
    S.QUEUED: frozenset({S.SUBMITTING}),
    S.RUNNING: frozenset({S.QUEUED}),
    S.DOWNLOADING: frozenset({S.QUEUED, S.RUNNING}),
    S.COMPLETED: frozenset({S.QUEUED, S.RUNNING, S.DOWNLOADING}),
    S.FAILED: frozenset({S.QUEUED, S.RUNNING, S.DOWNLOADING}),
    S.CANCELLED: frozenset({S.QUEUED, S.RUNNING}),
    S.REJECTED: frozenset({S.SUBMITTING}),
    S.UNKNOWN: frozenset({S.SUBMITTING}),
}

ACTIVE_STATES = (S.SUBMITTING, S.QUEUED, S.RUNNING, S.DOWNLOADING)
FINAL_STATES = (S.COMPLETED, S.FAILED, S.CANCELLED, S.REJECTED, S.UNKNOWN)
STATES = ACTIVE_STATES + FINAL_STATES
# States a waiting process can still bring to an end: it has a request id to ask about.
RESUMABLE_STATES = (S.QUEUED, S.RUNNING, S.DOWNLOADING)
# The wire's running states, as journal states.
WIRE_STATES = {"IN_QUEUE": S.QUEUED, "IN_PROGRESS": S.RUNNING}


def sources(target: JobState) -> frozenset[JobState]:
    """The states a row may be in for a move to `target` (itself included)."""
    return MOVES[target] | {target}


def allowed(current: str, target: JobState) -> bool:
    """True when a row in `current` may move to `target`."""
    return current in {s.value for s in sources(target)}
