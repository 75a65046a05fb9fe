"""Jobs on the queue: submit, wait (stream or adaptive polling), cancel, deadlines.

`run_fal_task` is the guide's helper done properly; `edit` is the one-liner that returns
an `EditResult`. Every wait has a deadline and a cancel path; Ctrl-C cancels the remote
job. Clocks and sleeps are injectable so tests can drive time.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import Connection, current_connection
from ._errors import (
    KlingCancelledError,
    KlingError,
    KlingJobError,
    KlingSubmitUnknownError,
    KlingTimeoutError,
)
from ._i18n import message
from ._images import ImageInput, PreparedImage
from ._journal import WIRE_STATES, journal_for, waiting
from ._progress import Progress, make_progress
from ._request import KlingO1Request
from ._transport import (
    TRANSIENT_CODES,
    Handle,
    JobStatus,
    QueueClient,
    StreamUnavailable,
    Transient,
    client_for,
)
from ._wire import ENDPOINT, KlingO1Input

if TYPE_CHECKING:
    from ._results import EditResult

DEFAULT_TIMEOUT = 900.0  # s; Kling O1 jobs take about a minute, a busy queue longer
RESULT_RETRIES = 8  # passing faults while fetching a finished job's result
STREAM_READ_TIMEOUT = 30.0
SLICE = 0.2  # s; the longest an interrupt or a deadline waits to be noticed

T = TypeVar("T")  # s; the server sends a keep-alive every ~15 s


class _DeadlineReached(Exception):
    pass


def check_timeout(timeout: object) -> None:
    """Refuse a timeout that is not a positive number of seconds (or None), before submitting."""
    from ._errors import KlingValidationError
    from ._rules import Violation

    ok = timeout is None or (
        isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
    )
    if not ok or (timeout is not None and timeout != timeout):  # NaN
        raise KlingValidationError([Violation(("timeout",), "engine_timeout", {"value": timeout})])


@dataclass
class Deadline:
    """A point in time that every wait respects."""

    seconds: float | None
    clock: Callable[[], float] = time.monotonic
    sleeper: Callable[[float], None] = time.sleep
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return float("inf") if self.seconds is None else self.seconds - self.elapsed()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise _DeadlineReached

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or until the deadline, whichever is first.

        In slices, so that an interrupt raised between bytecodes (Jupyter's, or
        `_thread.interrupt_main`) lands within one slice rather than after the whole sleep.
        """
        self.check()
        end = self.clock() + max(0.0, min(seconds, self.remaining()))
        while (left := end - self.clock()) > 0:
            self.sleeper(min(SLICE, left))
        self.check()


def _interruptible(items: Iterator[T], tick: float) -> Iterator[T | None]:
    """`items`, read on a helper thread; None every `tick` seconds while nothing arrives.

    A socket read blocks the thread that makes it until data comes (up to a keep-alive
    15 s away); reading on another thread keeps the waiting thread free to take Ctrl-C
    and to check its deadline. The helper ends when the server closes the stream.
    """
    box: queue.Queue[tuple[str, Any]] = queue.Queue()

    def pump() -> None:
        try:
            for item in items:
                box.put(("item", item))
            box.put(("end", None))
        except BaseException as exc:  # handed to the waiting thread, which decides
            box.put(("error", exc))

    threading.Thread(target=pump, name="kling_nb-status-stream", daemon=True).start()
    while True:
        try:
            kind, value = box.get(timeout=tick)
        except queue.Empty:
            yield None
            continue
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


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


def _jittered(attempt: int) -> float:
    """Retry delay for transient errors: exponential with full jitter, capped at 5 s."""
    return random.uniform(0.05, min(5.0, 0.2 * 2**attempt))


class Job:
    """One request on the queue, from submit to result."""

    def __init__(
        self,
        connection: Connection,
        endpoint: str,
        handle: Handle,
        *,
        client: QueueClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
    ):
        self.connection = connection
        self.endpoint = endpoint
        self.handle = handle
        self.client = client or client_for(connection)
        self.clock = clock
        self.sleeper = sleeper
        self.last_status: JobStatus | None = None
        self.journal_id: int | None = None  # its row in the journal, once journaled
        self._last_fault: str | None = None  # the last passing fault, to explain a deadline
        self.keep_images = False  # the caller caches the images after the wait (edit, batch)

    @property
    def request_id(self) -> str:
        return self.handle.request_id

    def __repr__(self) -> str:
        state = self.last_status.state if self.last_status else "SUBMITTED"
        return f"<Job {self.request_id} {self.endpoint} on {self.connection.label}: {state}>"

    @classmethod
    def submit(
        cls,
        endpoint: str,
        arguments: Mapping[str, Any],
        *,
        connection: Connection | None = None,
        webhook_url: str | None = None,
    ) -> Job:
        """Validate (for Kling O1), then submit once. Raises before sending if invalid."""
        conn = connection or current_connection()
        body = dict(arguments)
        if endpoint == ENDPOINT:
            body = dict(KlingO1Request.from_arguments(arguments, endpoint).prepare(conn.profile)[0])
        return cls.send(conn, endpoint, body, webhook_url=webhook_url)

    @classmethod
    def send(
        cls,
        conn: Connection,
        endpoint: str,
        body: dict[str, Any],
        *,
        webhook_url: str | None = None,
        inputs: Sequence[str] = (),
    ) -> Job:
        """Submit `body` as it is, once, journaled: the row is written before the POST."""
        journal = journal_for(conn.home)
        row = journal.begin(conn, endpoint, body, inputs)
        client = client_for(conn)
        try:
            handle = client.submit(endpoint, body, webhook_url)
        except KlingSubmitUnknownError as exc:
            exc.journal_id = row
            journal.record(row, state="unknown", error=str(exc))
            raise
        except KlingError as exc:
            journal.record(row, state="rejected", error=str(exc))
            raise
        except BaseException as exc:
            # Ctrl-C (or anything else) mid-POST: the job may exist; never guess it away.
            journal.record(row, state="unknown", error=f"{type(exc).__name__}: {exc}")
            raise
        journal.submitted(row, handle)
        job = cls(conn, endpoint, handle, client=client)
        job.journal_id = row
        return job

    def status(self) -> JobStatus:
        """Ask once; a passing fault raises KlingJobError here (waits retry those themselves)."""
        try:
            self.last_status = self.client.status(self.handle, self.endpoint, 60.0)
        except Transient as exc:
            raise KlingJobError(
                str(exc), request_id=self.request_id, endpoint=self.endpoint
            ) from None
        return self.last_status

    def cancel(self) -> bool:
        """Ask the server to cancel; True if it accepted (the job had not finished)."""
        accepted = self.client.cancel(self.handle) == "requested"
        if accepted:
            self._record(state="cancelled", error=message("job.cancelled_by_call"))
        return accepted

    def _record(self, **values: Any) -> None:
        """Update this job's journal row, if it has one."""
        if self.journal_id is not None:
            journal_for(self.connection.home).record(self.journal_id, **values)

    def wait(
        self,
        timeout: float | None = DEFAULT_TIMEOUT,
        poll_interval: float | None = None,
        progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    ) -> dict[str, Any]:
        """Wait for the result: stream if offered, else poll; Ctrl-C or deadline cancels."""
        check_timeout(timeout)
        deadline = Deadline(timeout, self.clock, self.sleeper)
        bar = make_progress(progress)
        bar.submitted(self.request_id)
        try:
            with waiting(journal_for(self.connection.home), self.journal_id):
                final = self._until_completed(deadline, poll_interval, bar)
                output = self._fetch(final, deadline)
        except KeyboardInterrupt:
            bar.finished("CANCELLED", deadline.elapsed())
            raise self._cancelled("interrupt") from None
        except _DeadlineReached:
            bar.finished("CANCELLED", deadline.elapsed())
            raise self._cancelled("deadline", timeout, self._last_fault) from None
        except KlingError as exc:
            bar.finished("FAILED", deadline.elapsed())
            self._record_error(exc)
            raise
        self._record(state="downloading" if self.keep_images else "completed", result=output)
        count = len(output.get("images", [])) if isinstance(output, dict) else 0
        bar.finished(
            "COMPLETED",
            deadline.elapsed(),
            message("progress.images", count=count) if count else "",
        )
        return output

    def _until_completed(
        self, deadline: Deadline, poll_interval: float | None, bar: Progress
    ) -> JobStatus:
        use_stream = poll_interval is None and self.client.stream_ok
        backoff = Backoff(fixed=poll_interval)
        failures = 0
        while True:
            deadline.check()
            try:
                if use_stream:
                    events = self.client.stream(
                        self.handle, self.endpoint, self._read_timeout(deadline)
                    )
                    for status in _interruptible(events, SLICE):
                        deadline.check()
                        if status is not None:
                            self._seen(status, deadline, bar)
                            if status.state == "COMPLETED":
                                return status
                else:
                    status = self._seen(
                        self.client.status(self.handle, self.endpoint, self._budget(deadline)),
                        deadline,
                        bar,
                    )
                    if status.state == "COMPLETED":
                        return status
                    deadline.sleep(backoff.next())
                    failures = 0
                    self._last_fault = None
            except StreamUnavailable as exc:
                # A 4xx means this host has no stream; a connection error, only this wait.
                if str(exc).startswith("HTTP"):
                    self.client.stream_ok = False
                use_stream = False
            except Transient as exc:
                self._last_fault = str(exc)
                failures += 1
                deadline.sleep(_jittered(failures))

    def _seen(self, status: JobStatus, deadline: Deadline, bar: Progress) -> JobStatus:
        changed = self.last_status is None or self.last_status.state != status.state
        if changed and status.state in WIRE_STATES:
            state = WIRE_STATES[status.state]
            self._record(state=state, **({"started_at": time.time()} if state == "running" else {}))
        self.last_status = status
        bar.update(status, deadline.elapsed())
        return status

    @staticmethod
    def _read_timeout(deadline: Deadline) -> float:
        return min(STREAM_READ_TIMEOUT, deadline.remaining() + 0.5)

    @staticmethod
    def _budget(deadline: Deadline) -> float | None:
        """How long one request may take: until just after the deadline."""
        left = deadline.remaining()
        return None if left == float("inf") else max(0.05, left + 0.5)

    def _fetch(self, final: JobStatus, deadline: Deadline) -> dict[str, Any]:
        if final.failed_as:  # FAILED, ERROR, …: the service's words are all there is
            raise self._failure(final, final.error or final.failed_as, None)
        if final.result is not None:  # sent inline (Qiniu): no second request
            return final.result
        failures = 0
        while True:
            deadline.check()
            try:
                output = self.client.result(self.handle, self.endpoint, self._budget(deadline))
            except Transient:
                failures += 1
                deadline.sleep(_jittered(failures))
                continue
            except KlingJobError as exc:
                # The job succeeded, so a 429/5xx here is the fetch failing, not the job.
                passing = not final.error and exc.status_code in TRANSIENT_CODES
                if exc.status_code == 404 and not final.error:
                    raise self._expired() from None
                if passing and failures < RESULT_RETRIES:
                    failures += 1
                    deadline.sleep(_jittered(failures))
                    continue
                raise self._failure(final, exc.detail or final.error or "", exc) from None
            if final.error:
                raise self._failure(final, final.error, None)
            return output

    def _expired(self) -> KlingJobError:
        text = message(
            "engine.result_expired", request_id=self.request_id, host=self.connection.host
        )
        return KlingJobError(
            text,
            request_id=self.request_id,
            endpoint=self.endpoint,
            detail=text,
            error_type="result_expired",
            status_code=404,
        )

    def _failure(self, final: JobStatus, detail: str, exc: KlingJobError | None) -> KlingJobError:
        error_type = (exc.error_type if exc else None) or final.error_type
        kind = KlingCancelledError if error_type == "cancelled" else KlingJobError
        text = message(
            "job.failed", request_id=self.request_id, endpoint=self.endpoint, detail=detail
        )
        return kind(
            text,
            request_id=self.request_id,
            endpoint=self.endpoint,
            detail=detail,
            error_type=error_type,
            status_code=exc.status_code if exc else None,
        )

    def _cancelled(
        self, why: str, timeout: float | None = None, fault: str | None = None
    ) -> KlingJobError:
        fields: dict[str, Any] = {"request_id": self.request_id, "endpoint": self.endpoint}
        try:
            # After a deadline, the cancel gets little time: the wait must end within 2 s.
            outcome = self.client.cancel(self.handle, 1.2 if why == "deadline" else 10.0)
        except KlingError as exc:
            # Not cancelled: the row stays unfinished, so resume() can still fetch it.
            if why == "deadline":
                text = message(
                    "engine.deadline_uncancelled",
                    request_id=self.request_id,
                    timeout=timeout,
                    detail=fault or exc,
                )
                self._record(error=text)
                return KlingTimeoutError(text, **fields)
            text = message("job.cancel_failed", request_id=self.request_id, detail=exc)
            self._record(error=text)
            return KlingCancelledError(text, **fields)
        if outcome == "already_completed" and why == "deadline":
            text = message("engine.deadline_too_late", request_id=self.request_id, timeout=timeout)
            self._record(error=text)
            return KlingTimeoutError(text, **fields)
        if outcome == "already_completed":
            text = message("job.cancel_too_late", request_id=self.request_id)
            self._record(error=text)  # finished and paid for: resume() fetches it
            return KlingCancelledError(text, **fields)
        if why == "deadline":
            text = message("job.timeout", request_id=self.request_id, timeout=timeout)
            self._record(state="cancelled", error=text, error_type="timeout")
            return KlingTimeoutError(text, **fields)
        text = message("job.cancelled", request_id=self.request_id)
        self._record(state="cancelled", error=text, error_type="cancelled")
        return KlingCancelledError(text, **fields)

    def _record_error(self, exc: KlingError) -> None:
        """A job error ends the row; any other error (a refused key, a result that succeeded
        but could not be fetched) leaves it resumable."""
        last = self.last_status
        fetch_failed = last is not None and last.state == "COMPLETED" and not last.error
        if isinstance(exc, KlingJobError) and not fetch_failed:
            state = "cancelled" if isinstance(exc, KlingCancelledError) else "failed"
            self._record(state=state, error=str(exc), error_type=exc.error_type)
        else:
            self._record(error=str(exc))


def run_fal_task(
    endpoint: str,
    arguments: Mapping[str, Any],
    poll_interval: float | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    connection: Connection | None = None,
) -> dict[str, Any]:
    """The guide's helper done properly: validate, submit, wait with progress, return the dict."""
    check_timeout(timeout)
    job = Job.submit(endpoint, arguments, connection=connection)
    return job.wait(timeout=timeout, poll_interval=poll_interval, progress=progress)


def edit(
    prompt: str,
    images: ImageInput | Sequence[ImageInput],
    *,
    resolution: str = "1K",
    num_images: int = 1,
    aspect_ratio: str = "auto",
    output_format: str | None = None,
    elements: Sequence[Mapping[str, Any]] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    connection: Connection | None = None,
) -> EditResult:
    """Edit images with a prompt and return an EditResult (displays as a gallery)."""
    from ._results import EditResult

    check_timeout(timeout)
    extra: dict[str, Any] = {} if elements is None else {"elements": elements}
    request = KlingO1Request(
        prompt,
        images,
        resolution,
        num_images,
        aspect_ratio,
        output_format,
        **extra,  # type: ignore[arg-type]
    )
    job, prepared = submit_edit(request, connection)
    output = job.wait(timeout=timeout, progress=progress)
    return EditResult.from_output(output, job=job, request=request, inputs=prepared)


def submit_edit(
    request: KlingO1Request, connection: Connection | None = None
) -> tuple[Job, list[PreparedImage]]:
    """Check, encode and submit once; return the Job (to wait on or cancel) and its inputs."""
    conn = connection or current_connection()
    body, prepared = request.prepare(conn.profile)
    return send_edit(conn, request, body, prepared), prepared


def send_edit(
    conn: Connection, request: KlingO1Request, body: KlingO1Input, prepared: list[PreparedImage]
) -> Job:
    """Submit an edit already checked and encoded, once; its caller caches the images."""
    labels = [p.source_label for p in prepared]
    job = Job.send(conn, request.endpoint, dict(body), inputs=labels)
    job.keep_images = True
    return job
