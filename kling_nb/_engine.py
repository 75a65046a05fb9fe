"""The wait for one job, written once and without I/O: a generator that yields actions.

`wait_for_output` decides what to do next — open the status stream, read its next event,
poll, sleep, fetch the result, retry, give up at the deadline — and receives each
action's outcome (or has its exception thrown in). A driver performs the actions: the
sync one in `_tasks.py` with blocking calls, the async one with `await`. Time comes from
an injected clock, so tests drive it without sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from ._errors import KlingJobError
from ._transport import TRANSIENT_CODES, JobStatus, StreamUnavailable, Transient

STREAM_READ_TIMEOUT = 30.0  # s; the server sends a keep-alive every ~15 s
SLICE = 0.2  # s; the longest an interrupt or a deadline waits to be noticed
EPSILON = 1e-3  # s; less than this left counts as none (a clock may not move by less)
TICK = 0.5  # s; the longest between two progress redraws while nothing happens
RESULT_RETRIES = 8  # passing faults while fetching a finished job's result


@dataclass(frozen=True)
class Poll:
    """Ask the status once, within `budget` seconds."""

    budget: float | None


@dataclass(frozen=True)
class Listen:
    """Open the status stream (reads time out after `read_timeout`)."""

    read_timeout: float


@dataclass(frozen=True)
class NextEvent:
    """The stream's next status, or None if nothing came within `tick` seconds."""

    tick: float


@dataclass(frozen=True)
class Fetch:
    """Get the finished job's output, within `budget` seconds."""

    budget: float | None


@dataclass(frozen=True)
class Sleep:
    """Do nothing for `seconds`."""

    seconds: float


@dataclass(frozen=True)
class CancelJob:
    """Ask the server to cancel the job, within `budget` seconds."""

    budget: float


Action = Poll | Listen | NextEvent | Fetch | Sleep | CancelJob


class Interrupted(Exception):
    """Thrown into a plan when the user stopped the wait (Ctrl-C, or a cancelled task)."""


class DeadlineReached(Exception):
    """The wait's time is up; its owner cancels the job."""


class StreamEnded(Exception):
    """The driver's stream ended; the engine reconnects or polls."""


class Deadline:
    """A point in time that every wait respects, on an injected clock."""

    def __init__(self, seconds: float | None, clock: Callable[[], float]):
        self.seconds = seconds
        self.clock = clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return float("inf") if self.seconds is None else self.seconds - self.elapsed()

    def check(self) -> None:
        if self.remaining() <= EPSILON:
            raise DeadlineReached

    def budget(self) -> float | None:
        """How long one request may take: until just after the deadline."""
        left = self.remaining()
        return None if left == float("inf") else max(0.05, left + 0.5)

    def nap(self, seconds: float) -> Sleep:
        """A sleep cut to the deadline and to one progress tick."""
        self.check()
        return Sleep(max(0.0, min(seconds, self.remaining(), TICK)))


class Backoff:
    """Poll intervals: fast at first, then backing off to a ceiling (or fixed)."""

    def __init__(
        self,
        first: float = 0.25,
        factor: float = 1.5,
        ceiling: float = 3.0,
        fixed: float | None = None,
    ):
        self.next_value = fixed if fixed is not None else first
        self.factor = 1.0 if fixed is not None else factor
        self.ceiling = fixed if fixed is not None else ceiling

    def next(self) -> float:
        value = self.next_value
        self.next_value = min(self.ceiling, value * self.factor)
        return value


def jittered(attempt: int) -> float:
    """Retry delay for passing faults: exponential with full jitter, capped at 5 s."""
    return random.uniform(0.05, min(5.0, 0.2 * 2**attempt))


@dataclass
class Watch:
    """What the wait learnt on the way, for its owner's messages."""

    stream_ok: bool
    last_fault: str | None = None


Plan = Generator[Action, Any, Any]


def sleep_for(deadline: Deadline, seconds: float, tick: Callable[[], None]) -> Plan:
    """Sleep `seconds` in progress ticks, never past the deadline."""
    end = deadline.elapsed() + seconds
    while (left := end - deadline.elapsed()) > EPSILON:
        yield deadline.nap(left)
        tick()
    deadline.check()


def until_completed(
    deadline: Deadline,
    poll_interval: float | None,
    watch: Watch,
    seen: Callable[[JobStatus | None], None],
) -> Plan:
    """Stream if offered, else poll adaptively, until a terminal status; returns it."""
    use_stream = poll_interval is None and watch.stream_ok
    backoff = Backoff(fixed=poll_interval)
    failures = 0
    while True:
        deadline.check()
        try:
            if use_stream:
                yield Listen(min(STREAM_READ_TIMEOUT, deadline.remaining() + 0.5))
                while True:
                    deadline.check()
                    status = yield NextEvent(SLICE)
                    seen(status)
                    if status is not None and status.state == "COMPLETED":
                        return status
            status = yield Poll(deadline.budget())
            seen(status)
            if status.state == "COMPLETED":
                return status
            failures, watch.last_fault = 0, None
            yield from sleep_for(deadline, backoff.next(), lambda: seen(None))
        except StreamUnavailable as exc:
            # A 4xx means this host has no stream; a connection error, only this wait.
            watch.stream_ok = watch.stream_ok and not str(exc).startswith("HTTP")
            use_stream = False
        except (Transient, StreamEnded) as exc:
            watch.last_fault = str(exc)
            failures += 1
            yield from sleep_for(deadline, jittered(failures), lambda: seen(None))


def fetch_output(
    deadline: Deadline, final: JobStatus, failed: Callable[[JobStatus, KlingJobError | None], Any]
) -> Plan:
    """The output of a finished job: inline if sent, else fetched with bounded retries.
    `failed(final, exc)` builds the error to raise for a job that did not succeed."""
    if final.failed_as:  # FAILED, ERROR, …: the service's words are all there is
        raise failed(final, None)
    if final.result is not None:  # sent inline (Qiniu): no second request
        return final.result
    failures = 0
    while True:
        deadline.check()
        try:
            output = yield Fetch(deadline.budget())
        except Transient:
            failures += 1
            yield from sleep_for(deadline, jittered(failures), lambda: None)
            continue
        except KlingJobError as exc:
            # The job succeeded, so a 429/5xx here is the fetch failing, not the job.
            if exc.status_code in TRANSIENT_CODES and not final.error:
                if failures < RESULT_RETRIES:
                    failures += 1
                    yield from sleep_for(deadline, jittered(failures), lambda: None)
                    continue
            raise failed(final, exc) from None
        if final.error:
            raise failed(final, None)
        return output


def wait_for_output(
    deadline: Deadline,
    poll_interval: float | None,
    watch: Watch,
    seen: Callable[[JobStatus | None], None],
    failed: Callable[[JobStatus, KlingJobError | None], Any],
) -> Plan:
    """The whole wait: until a terminal status, then the output; DeadlineReached on time."""
    final = yield from until_completed(deadline, poll_interval, watch, seen)
    return (yield from fetch_output(deadline, final, failed))
