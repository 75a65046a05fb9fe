"""The wait for one job, written once and without I/O: a generator that yields actions.

`wait` decides what to do next — open the status stream, read its next event, poll,
sleep, fetch the result, retry, record a step in the journal, give up at the deadline,
cancel and learn what the cancel did — and receives each action's outcome (or has its
exception thrown in). A driver (`_job.py`) performs the actions: the sync one with blocking
calls, the async one with `await` (and journal writes off the event loop). Time comes from
an injected clock and retry jitter from an injected random source, so tests drive both.

A cancel has three honest outcomes, and only the first lets anyone say "not billed":
**confirmed** (the service reports the job cancelled), **requested** (it took note, but
the job may still finish and be billed: a running job, on fal), **unsupported/failed** (the
service has no cancel, as Qiniu documents, or could not be asked). The last two leave the
journal row resumable, so that `resume()` collects what was paid for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._errors import KlingCancelledError, KlingError, KlingJobError, KlingTimeoutError
from ._i18n import message
from ._progress import Progress
from ._states import WIRE_STATES, JobState
from ._wire import TRANSIENT_CODES, JobStatus, Output, StreamUnavailable, Transient

STREAM_READ_TIMEOUT = 30.0  # s; the server sends a keep-alive every ~15 s
SLICE = 0.2  # s; the longest an interrupt or a deadline waits to be noticed
EPSILON = 1e-3  # s; less than this left counts as none (a clock may not move by less)
TICK = 0.5  # s; the longest between two progress redraws while nothing happens
RESULT_RETRIES = 8  # passing faults while fetching a finished job's result
CANCEL_BUDGET = 10.0  # s for a cancel the user asked for
DEADLINE_CANCEL_BUDGET = 1.2  # s: after a deadline, the wait must end within 2 s
CONFIRM_BUDGET = 0.6  # s for the status that tells whether a cancel took effect

CancelOutcome = Literal["confirmed", "requested", "unsupported", "failed", "too_late"]
Why = Literal["interrupt", "deadline", "call"]


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
    """Get the finished job's output (an `Output`), within `budget` seconds."""

    budget: float | None


@dataclass(frozen=True)
class Sleep:
    """Do nothing for `seconds`."""

    seconds: float


@dataclass(frozen=True)
class CancelJob:
    """Ask the server to cancel; the answer is "accepted", "already_completed" or
    "unsupported" (a KlingError when it could not be asked)."""

    budget: float


@dataclass(frozen=True)
class Record:
    """Write a step in the job's journal row: a state (`JobState`), or None for facts only."""

    state: JobState | None
    facts: Mapping[str, Any] = field(default_factory=dict)


Action = Poll | Listen | NextEvent | Fetch | Sleep | CancelJob | Record
Plan = Generator[Action, Any, Any]


class Interrupted(Exception):
    """Thrown into a plan when the user stopped the wait (Ctrl-C, or a cancelled task)."""


class DeadlineReached(Exception):
    """The wait's time is up; the plan cancels the job."""


class StreamEnded(Exception):
    """The driver's stream ended; the engine reconnects or polls."""


@dataclass(frozen=True)
class JobFacts:
    """What the engine's messages say about the job it waits for."""

    request_id: str
    endpoint: str
    host: str
    caches_images: bool = False  # the row ends `downloading`: its owner caches the images
    parse_images: bool = True  # a Kling O1 output: images parsed where the body enters
    cost_line: str = ""
    owner: str = ""  # who waits on it (process and kernel): the row's first note, if any


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


def jittered(attempt: int, rng: random.Random) -> float:
    """Retry delay for passing faults: exponential with full jitter, capped at 5 s."""
    return rng.uniform(0.05, min(5.0, 0.2 * 2**attempt))


@dataclass
class Watch:
    """What the wait learnt on the way: for the next wait, and for its owner's messages."""

    stream_ok: bool
    last_fault: str | None = None
    last_status: JobStatus | None = None
    rng: random.Random = field(default_factory=random.Random)


def sleep_for(deadline: Deadline, seconds: float, tick: Callable[[], None]) -> Plan:
    """Sleep `seconds` in progress ticks, never past the deadline."""
    end = deadline.elapsed() + seconds
    while (left := end - deadline.elapsed()) > EPSILON:
        yield deadline.nap(left)
        tick()
    deadline.check()


class _Seen:
    """Each status (or quiet tick): a journal step when the state changes, a progress redraw."""

    def __init__(self, deadline: Deadline, watch: Watch, progress: Progress):
        self.deadline, self.watch, self.progress = deadline, watch, progress
        self.last_draw = float("-inf")

    def status(self, status: JobStatus | None) -> Plan:
        if status is not None:
            last = self.watch.last_status
            if (last is None or last.state != status.state) and status.state in WIRE_STATES:
                state = WIRE_STATES[status.state]
                if state is JobState.RUNNING:
                    yield Record(state)  # the journal stamps when it started
            self.watch.last_status = status
        elif self.deadline.elapsed() - self.last_draw < TICK:
            return  # a quiet tick: redraw the elapsed time at most twice a second
        self.last_draw = self.deadline.elapsed()
        self.progress.update(
            self.watch.last_status or JobStatus("IN_QUEUE"), self.deadline.elapsed()
        )

    def tick(self) -> None:
        if self.deadline.elapsed() - self.last_draw >= TICK:
            self.last_draw = self.deadline.elapsed()
            status = self.watch.last_status or JobStatus("IN_QUEUE")
            self.progress.update(status, self.deadline.elapsed())


def until_completed(
    deadline: Deadline, poll_interval: float | None, watch: Watch, seen: _Seen
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
                    yield from seen.status(status)
                    if status is not None and status.state == "COMPLETED":
                        return status
            status = yield Poll(deadline.budget())
            yield from seen.status(status)
            if status.state == "COMPLETED":
                return status
            failures, watch.last_fault = 0, None
            yield from sleep_for(deadline, backoff.next(), seen.tick)
        except StreamUnavailable as exc:
            # A 4xx means this host has no stream (for this key); a connection error, only
            # this wait. Polls go on, and a poll is what checks the key.
            watch.stream_ok = watch.stream_ok and not str(exc).startswith("HTTP")
            use_stream = False
        except (Transient, StreamEnded) as exc:
            watch.last_fault = str(exc)
            failures += 1
            yield from sleep_for(deadline, jittered(failures, watch.rng), seen.tick)


def fetch_output(deadline: Deadline, job: JobFacts, final: JobStatus, watch: Watch) -> Plan:
    """The output of a finished job: inline if sent, else fetched with bounded retries."""
    if final.failed_as:  # FAILED, ERROR, …: the service's words are all there is
        raise failure(job, final, None)
    if final.result is not None:  # sent inline (Qiniu): no second request
        return parsed(job, final.result)
    failures = 0
    while True:
        deadline.check()
        try:
            output = yield Fetch(deadline.budget())
        except Transient:
            failures += 1
            yield from sleep_for(deadline, jittered(failures, watch.rng), lambda: None)
            continue
        except KlingJobError as exc:
            # The job succeeded, so a 429/5xx here is the fetch failing, not the job.
            if exc.status_code in TRANSIENT_CODES and not final.error:
                if failures < RESULT_RETRIES:
                    failures += 1
                    yield from sleep_for(deadline, jittered(failures, watch.rng), lambda: None)
                    continue
            raise failure(job, final, exc) from None
        if final.error:
            raise failure(job, final, None)
        return output if isinstance(output, Output) else parsed(job, output)


def parsed(job: JobFacts, body: Any) -> Output:
    """A result body as an `Output`, or the KlingJobError that says why it is unusable."""
    try:
        return Output.parse(body, images=job.parse_images)
    except ValueError as exc:
        detail = message("engine.malformed_result", host=job.host, detail=exc)
        raise _job_error(job, detail) from None


def wait(
    job: JobFacts,
    deadline: Deadline,
    watch: Watch,
    progress: Progress,
    poll_interval: float | None = None,
) -> Plan:
    """The whole wait: statuses until a terminal one, then the output; on Ctrl-C, a cancelled
    task or the deadline, the cancel step and the error that says what it did."""
    progress.submitted(job.request_id)
    seen = _Seen(deadline, watch, progress)
    try:
        if job.owner:  # inside the try: an interrupt during this write still cancels the job
            yield Record(None, {"owner": job.owner})
        final = yield from until_completed(deadline, poll_interval, watch, seen)
        output = yield from fetch_output(deadline, job, final, watch)
    except (KeyboardInterrupt, Interrupted):
        progress.finished("CANCELLED", deadline.elapsed())
        raise (yield from stop(job, "interrupt", watch)) from None
    except DeadlineReached:
        progress.finished("CANCELLED", deadline.elapsed())
        raise (yield from stop(job, "deadline", watch, deadline.seconds)) from None
    except KlingError as exc:
        progress.finished("FAILED", deadline.elapsed())
        yield _error_record(exc, watch)
        raise
    step = JobState.DOWNLOADING if job.caches_images else JobState.COMPLETED
    yield Record(step, {"result": output.raw})
    count = len(output.images)
    notes = [message("progress.images", count=count) if count else "", job.cost_line]
    progress.finished("COMPLETED", deadline.elapsed(), " · ".join(filter(None, notes)))
    return output


def stop(
    job: JobFacts, why: Why, watch: Watch, timeout: float | None = None
) -> Generator[Action, Any, KlingJobError]:
    """Cancel on the server, learn what that did, record it; the error that says so."""
    outcome, code = yield from cancel_outcome(why, watch)
    text = stop_message(job, why, outcome, timeout, code or watch.last_fault)
    if outcome == "confirmed":
        kind = "timeout" if why == "deadline" else "cancelled"
        yield Record(JobState.CANCELLED, {"error": text, "error_type": kind, "cancel": outcome})
    else:  # the job may still run, or has finished: the row stays for resume() to collect
        yield Record(None, {"error": text, "cancel": outcome})
    error = KlingTimeoutError if why == "deadline" else KlingCancelledError
    return error(text, request_id=job.request_id, endpoint=job.endpoint, cancel=outcome)


def cancel_outcome(why: Why, watch: Watch) -> Generator[Action, Any, tuple[CancelOutcome, str]]:
    """Ask for the cancel, then one status to see whether it took effect: the outcome, and
    what the service said when it did not cancel (for the message)."""
    budget = DEADLINE_CANCEL_BUDGET if why == "deadline" else CANCEL_BUDGET
    try:
        answer = yield CancelJob(budget)
    except KlingError as exc:
        return "failed", str(exc)
    if answer == "already_completed":
        return "too_late", ""
    if answer != "accepted":
        return "unsupported", str(answer)
    try:
        status = yield Poll(CONFIRM_BUDGET)
    except (KlingError, Transient) as exc:
        return "requested", str(exc)
    watch.last_status = status
    if status.state != "COMPLETED":
        return "requested", ""
    if is_cancelled(status):
        return "confirmed", ""
    return ("too_late", "") if not status.error else ("requested", status.error)


def is_cancelled(status: JobStatus) -> bool:
    """True for a terminal status by which the service says the job was cancelled."""
    said = f"{status.error_type or ''} {status.error or ''} {status.failed_as or ''}".lower()
    return status.state == "COMPLETED" and "cancel" in said


def stop_message(
    job: JobFacts, why: Why, outcome: CancelOutcome, timeout: float | None, detail: str | None
) -> str:
    """Why the wait stopped, then what the cancel did and how nothing paid for is lost."""
    head = message(f"stop.{why}", request_id=job.request_id, timeout=timeout)
    tail = message(
        f"cancel.{outcome}",
        request_id=job.request_id,
        host=job.host,
        detail=detail or "",
    )
    return f"{head} {tail}"


def failure(job: JobFacts, final: JobStatus, exc: KlingJobError | None) -> KlingJobError:
    """The error for a job that did not succeed, or whose output could not be had."""
    if exc is not None and exc.status_code == 404 and not final.error:
        text = message("engine.result_expired", request_id=job.request_id, host=job.host)
        return KlingJobError(
            text,
            request_id=job.request_id,
            endpoint=job.endpoint,
            detail=text,
            error_type="result_expired",
            status_code=404,
        )
    detail = (exc.detail if exc else None) or final.error or final.failed_as or ""
    error_type = (exc.error_type if exc else None) or final.error_type
    kind = KlingCancelledError if is_cancelled(final) else KlingJobError
    return kind(
        message("job.failed", request_id=job.request_id, endpoint=job.endpoint, detail=detail),
        request_id=job.request_id,
        endpoint=job.endpoint,
        detail=detail,
        error_type=error_type,
        status_code=exc.status_code if exc else None,
        cancel="confirmed" if kind is KlingCancelledError else None,
    )


def _job_error(job: JobFacts, detail: str) -> KlingJobError:
    text = message("job.failed", request_id=job.request_id, endpoint=job.endpoint, detail=detail)
    return KlingJobError(text, request_id=job.request_id, endpoint=job.endpoint, detail=detail)


def _error_record(exc: KlingError, watch: Watch) -> Record:
    """A job error ends the row; any other error (a refused key, a result that succeeded but
    could not be fetched) leaves it resumable."""
    last = watch.last_status
    fetch_failed = last is not None and last.state == "COMPLETED" and not last.error
    if isinstance(exc, KlingJobError) and not fetch_failed:
        if isinstance(exc, KlingCancelledError):
            facts = {"error": str(exc), "error_type": exc.error_type, "cancel": "confirmed"}
            return Record(JobState.CANCELLED, facts)
        return Record(JobState.FAILED, {"error": str(exc), "error_type": exc.error_type})
    if isinstance(exc, KlingJobError) and exc.error_type == "result_expired":
        return Record(JobState.FAILED, {"error": str(exc), "error_type": exc.error_type})
    return Record(None, {"error": str(exc)})
