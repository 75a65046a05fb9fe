"""`Job`: one request on the queue, from submit to output, sync or async, by one plan.

The wait is `_engine.wait` (no I/O); the two drivers here perform its actions — network
calls through `_transport`, journal steps through `_journal` — the sync one with blocking
calls in slices (so Ctrl-C lands quickly), the async one with `await` and every journal
write off the event loop. Ctrl-C, a cancelled task or the deadline cancel the remote job and
say what the service answered (`_engine`: confirmed, requested, unsupported). Clocks, sleeps
and the retry jitter's random source are injectable so tests drive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import Connection, current_connection
from ._engine import (
    SLICE,
    Action,
    CancelJob,
    CancelOutcome,
    Deadline,
    Fetch,
    Interrupted,
    JobFacts,
    Listen,
    NextEvent,
    Plan,
    Poll,
    Record,
    StreamEnded,
    Watch,
    stop,
    wait,
)
from ._errors import (
    KlingCancelledError,
    KlingConnectionError,
    KlingError,
    KlingJobError,
    KlingSubmitUnknownError,
)
from ._journal import Journal, journal_for
from ._progress import Progress, make_progress
from ._request import KlingO1Request
from ._transport import QueueClient, client_for
from ._waiters import Hold, marked_waiting, owner_tag
from ._wire import ENDPOINT, Handle, JobStatus, Output, Transient

if TYPE_CHECKING:
    from ._price import Cost

DEFAULT_TIMEOUT = 900.0  # s; Kling O1 jobs take about a minute, a busy queue longer
T = TypeVar("T")
# What a caller passes as `progress`: on (a line), off, a Progress, or a callback.
ProgressArg = bool | Progress | Callable[[JobStatus, float], None]


def check_timeout(timeout: object) -> None:
    """Refuse a timeout that is not a positive number of seconds (or None), before submitting."""
    from ._errors import KlingValidationError
    from ._rules import Violation

    ok = timeout is None or (
        isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
    )
    if not ok or (timeout is not None and timeout != timeout):  # NaN
        raise KlingValidationError([Violation(("timeout",), "engine_timeout", {"value": timeout})])


@dataclass(frozen=True)
class Cancellation:
    """What `Job.cancel()` did: the service's outcome, and the sentence that says it.

    True when the service took the request (confirmed or requested); only "confirmed"
    means the job will not run and will not be billed."""

    outcome: CancelOutcome
    text: str

    def __bool__(self) -> bool:
        return self.outcome in ("confirmed", "requested")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cancellation({self.outcome!r}): {self.text}"


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
        rng: random.Random | None = None,
        caches_images: bool = False,
    ):
        self.connection = connection
        self.endpoint = endpoint
        self.handle = handle
        self.client = client or client_for(connection)
        self.clock = clock
        self.sleeper = sleeper
        self.rng = rng or random.Random()
        self.last_status: JobStatus | None = None
        self.journal_id: int | None = None  # its row in the journal, once journaled
        self.cost: Cost | None = None  # its estimated cost, once admitted
        # An edit's images are cached when the wait ends, so its wait ends the row at
        # "downloading"; fixed when the job is made, never changed by a caller later.
        self.caches_images = caches_images
        # Why its wait was stopped (Ctrl-C, a cancelled task, the deadline), once it was:
        # the error that says what the cancel did, also when the task ends as CancelledError.
        self.stopped: KlingJobError | None = None
        self._interrupt = threading.Event()  # set by interrupt(): the sync wait stops

    @property
    def request_id(self) -> str:
        return self.handle.request_id

    @property
    def journal(self) -> Journal:
        return journal_for(self.connection.home)

    def __repr__(self) -> str:
        from ._i18n import message

        state = self.last_status.state if self.last_status else "SUBMITTED"
        return message(
            "job.repr",
            request_id=self.request_id,
            endpoint=self.endpoint,
            where=self.connection.spoken_label(),
            state=message(f"job.state.{state}"),
        )

    @classmethod
    def submit(
        cls,
        endpoint: str,
        arguments: Mapping[str, Any],
        *,
        connection: Connection | None = None,
        webhook_url: str | None = None,
    ) -> Job:
        """Validate (for Kling O1), check the budget, then submit once (never a replay)."""
        from ._money import reservation

        conn = connection or current_connection()
        body = checked_body(conn, endpoint, arguments)
        pay = reservation(conn, endpoint, body)
        return send(conn, endpoint, body, pay, webhook_url=webhook_url)

    @classmethod
    async def submit_async(
        cls,
        endpoint: str,
        arguments: Mapping[str, Any],
        *,
        connection: Connection | None = None,
        webhook_url: str | None = None,
    ) -> Job:
        """`submit` without blocking the event loop (the one POST runs off the loop)."""
        return await off_loop(
            lambda: cls.submit(endpoint, arguments, connection=connection, webhook_url=webhook_url),
            lambda job: job,
        )

    def status(self) -> JobStatus:
        """Ask once; a passing fault raises KlingJobError here (waits retry those themselves)."""
        try:
            self.last_status = self.client.status(self.handle, self.endpoint, 60.0)
        except Transient as exc:
            raise KlingJobError(
                str(exc), request_id=self.request_id, endpoint=self.endpoint
            ) from None
        return self.last_status

    def cancel(self) -> Cancellation:
        """Ask the server to cancel, and learn whether it did: a `Cancellation` (true when
        the service took the request; only `.outcome == "confirmed"` means not billed)."""
        error = _SyncDriver(self).run(stop(self.facts(), "call", self.watch()))
        return Cancellation(error.cancel, str(error))

    async def cancel_async(self) -> Cancellation:
        """`cancel` on the running event loop."""
        error = await _AsyncDriver(self).run(stop(self.facts(), "call", self.watch()))
        return Cancellation(error.cancel, str(error))

    def interrupt(self) -> None:
        """Stop this job's wait from another thread, as Ctrl-C would: it cancels the job on
        the server and ends with the KlingCancelledError that says what the service did."""
        self._interrupt.set()

    def wait(
        self,
        timeout: float | None = DEFAULT_TIMEOUT,
        poll_interval: float | None = None,
        progress: ProgressArg = True,
    ) -> dict[str, Any]:
        """Wait for the result: stream if offered, else poll; Ctrl-C or deadline cancels."""
        return self.wait_output(timeout, poll_interval, progress).raw

    async def wait_async(
        self,
        timeout: float | None = DEFAULT_TIMEOUT,
        poll_interval: float | None = None,
        progress: ProgressArg = True,
    ) -> dict[str, Any]:
        """`wait` on the running event loop; cancelling the task cancels the remote job."""
        return (await self.wait_output_async(timeout, poll_interval, progress)).raw

    def wait_output(
        self, timeout: float | None, poll_interval: float | None, progress: ProgressArg
    ) -> Output:
        """`wait`, returning the parsed `Output`."""
        check_timeout(timeout)
        with marked_waiting(self.journal.path, self.journal_id):
            output: Output = _SyncDriver(self).run(self._plan(timeout, poll_interval, progress))
        _fresh.job = None  # waited to the end: a later Ctrl-C is not this job's
        return output

    async def wait_output_async(
        self, timeout: float | None, poll_interval: float | None, progress: ProgressArg
    ) -> Output:
        """`wait_async`, returning the parsed `Output`."""
        check_timeout(timeout)
        with marked_waiting(self.journal.path, self.journal_id):
            # No await before the driver runs: a cancel that lands from here on is the
            # driver's, which cancels the job on the server (the owner note is its first step).
            plan = self._plan(timeout, poll_interval, progress)
            output: Output = await _AsyncDriver(self).run(plan)
            return output

    def facts(self) -> JobFacts:
        """What the engine's messages say about this job."""
        return JobFacts(
            self.request_id,
            self.endpoint,
            self.connection.host,
            caches_images=self.caches_images,
            parse_images=self.endpoint == ENDPOINT,
            cost_line=self.cost.line() if self.cost is not None else "",
        )

    def _waiting_facts(self) -> JobFacts:
        """`facts`, with the owner note the wait writes first (a journaled job only)."""
        facts = self.facts()
        if self.journal_id is None:
            return facts
        return replace(facts, owner=owner_tag())

    def watch(self) -> Watch:
        return Watch(self.client.stream_ok, last_status=self.last_status, rng=self.rng)

    def _plan(
        self, timeout: float | None, poll_interval: float | None, progress: ProgressArg
    ) -> Plan:
        watch = self.watch()
        try:
            deadline = Deadline(timeout, self.clock)
            output = yield from wait(
                self._waiting_facts(), deadline, watch, make_progress(progress), poll_interval
            )
        finally:
            self.client.stream_ok = watch.stream_ok
            self.last_status = watch.last_status
        return output


def send(
    conn: Connection,
    endpoint: str,
    body: Mapping[str, Any],
    pay: Any,
    *,
    webhook_url: str | None = None,
    inputs: tuple[str, ...] | list[str] = (),
    caches_images: bool = False,
    region: Mapping[str, Any] | None = None,
    hold: bool = False,
) -> Job:
    """Submit `body` as it is, once, journaled: the row (the budget's reservation: `pay`, a
    `_money.Reservation`, checks and holds the cost in the same transaction) is written
    before the POST; a refused budget raises KlingBudgetError and nothing is sent."""
    from ._i18n import message
    from ._uploads import mode_for

    mode_for(conn, body)  # a transport this connection cannot use is refused before any row
    journal = journal_for(conn.home)
    row = journal.begin(
        conn,
        endpoint,
        body,
        inputs,
        cost=pay.cost_columns(),
        fingerprint=pay.fingerprint,
        region=region,
        check=pay.check,
    )
    held: Hold | None = None
    try:  # until the POST: nothing is submitted yet (uploads, if any, happen here)
        client = client_for(conn)
        held = Hold(journal.path, row) if hold else None
        wire = _transported(conn, body)
    except BaseException as exc:
        if held is not None:
            held.release()
        journal.rejected(row, f"{type(exc).__name__}: {exc}")  # not sent: nothing to bill
        raise
    try:
        handle = client.submit(endpoint, wire, webhook_url)
    except BaseException as exc:
        if held is not None:
            held.release()
        explained = _data_uris_refused(conn, wire, exc)
        _record_submit_failure(journal, row, explained or exc)
        if explained is not None:
            raise explained from None
        if isinstance(exc, KeyboardInterrupt):  # the POST may have reached the service
            text = message("job.submit_interrupted", host=conn.host)
            raise KlingSubmitUnknownError(text, host=conn.host, journal_id=row) from None
        raise
    job = Job(conn, endpoint, handle, client=client, caches_images=caches_images)
    job.journal_id, job.cost = row, pay.cost
    _fresh.job = job  # from here a Ctrl-C its wait does not take cancels it (`cancels_fresh_job`)
    journal.submitted(row, handle)
    if held is not None:  # its caller waits on it next
        held.hand_to(job)
    return job


_fresh = threading.local()  # the job this thread submitted, until its wait takes a Ctrl-C or ends


@contextlib.contextmanager
def cancels_fresh_job(timeout: float | None = DEFAULT_TIMEOUT) -> Iterator[None]:
    """A Ctrl-C that lands after a submit and that its wait did not take (before the wait
    began, or between two of its steps) does what a Ctrl-C in the wait does: the job is
    cancelled on the server, that is recorded, and KlingCancelledError says what the
    service did."""
    _fresh.job = None
    try:
        yield
    except KeyboardInterrupt:
        job, _fresh.job = getattr(_fresh, "job", None), None
        if job is None:
            raise
        job._interrupt.set()  # the wait's first step that is not a journal write stops it
        job.wait_output(timeout, None, False)
        raise  # not reached: an interrupted wait raises KlingCancelledError
    finally:
        _fresh.job = None


@contextlib.contextmanager
def kept_if_interrupted(request_id: str, endpoint: str, words: str = "") -> Iterator[None]:
    """A Ctrl-C once the job has finished (its pictures being fetched, cached or saved):
    nothing is cancelled and nothing is lost; say so (`words`, else as a cancel that came
    too late says it), with how to get the result."""
    try:
        yield
    except KeyboardInterrupt:
        from ._i18n import message

        text = words or message("job.cancel_too_late", request_id=request_id)
        raise KlingCancelledError(
            text, request_id=request_id, endpoint=endpoint, cancel="too_late"
        ) from None


def _transported(conn: Connection, body: Mapping[str, Any]) -> dict[str, Any]:
    from ._uploads import transported

    return transported(conn, body)


def _data_uris_refused(
    conn: Connection, wire: Mapping[str, Any], exc: BaseException
) -> KlingConnectionError | None:
    """A refusal that names `image_urls` after data: URIs were sent, said with its likely
    cause and the `upload=` fix (None for any other failure)."""
    from ._i18n import message
    from ._uploads import sent_data_uris

    status = getattr(exc, "status_code", None)
    if not isinstance(exc, KlingConnectionError) or status not in (400, 413, 415, 422):
        return None
    if "image_url" not in str(exc).lower() or not sent_data_uris(wire):
        return None
    text = message("upload.data_refused", host=conn.host, detail=str(exc))
    return KlingConnectionError(text, host=conn.host, status_code=status)


def _record_submit_failure(journal: Journal, row: int, exc: BaseException) -> None:
    """The row of a submit that raised: rejected when the service refused it, else unknown
    (the job may exist: never guessed away, never resent)."""
    if isinstance(exc, KlingSubmitUnknownError):
        exc.journal_id = row
        journal.unknown(row, str(exc))
    elif isinstance(exc, KlingError):
        journal.rejected(row, str(exc))
    else:  # Ctrl-C (or anything else) mid-POST: the job may exist; never guess it away
        journal.unknown(row, f"{type(exc).__name__}: {exc}")


def checked_body(conn: Connection, endpoint: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The body to send: for Kling O1 checked and encoded (raises before sending)."""
    if endpoint != ENDPOINT:
        return dict(arguments)
    return dict(KlingO1Request.from_arguments(arguments, endpoint).prepare(conn.profile)[0])


def write_record(journal: Journal, row: int | None, record: Record) -> None:
    """Perform one journal step of a plan."""
    if row is None:
        return
    if record.state is None:
        journal.note(row, **record.facts)
    else:
        journal.advance(row, record.state, **record.facts)


class _SyncDriver:
    """Performs a plan's actions with blocking calls, in slices so Ctrl-C lands quickly."""

    def __init__(self, job: Job):
        self.job = job
        self.events: Iterator[JobStatus | None] | None = None

    def run(self, plan: Plan) -> Any:
        outcome: Any = None
        error: BaseException | None = None
        while True:
            try:
                action = plan.throw(error) if error is not None else plan.send(outcome)
            except StopIteration as stop:
                return stop.value
            outcome, error = None, None
            try:
                if self.job._interrupt.is_set() and not isinstance(action, (CancelJob, Record)):
                    self.job._interrupt.clear()
                    raise KeyboardInterrupt
                outcome = self.perform(action)
            except KeyboardInterrupt:
                _fresh.job = None  # this Ctrl-C is the wait's: its plan cancels the job
                error = Interrupted()
            except Exception as exc:  # the plan decides what each failure means
                error = exc

    def perform(self, action: Action) -> Any:
        job, client = self.job, self.job.client
        if isinstance(action, Record):
            return write_record(job.journal, job.journal_id, action)
        if isinstance(action, Poll):
            return client.status(job.handle, job.endpoint, action.budget)
        if isinstance(action, Listen):
            events = client.stream(job.handle, job.endpoint, action.read_timeout)
            self.events = _interruptible(events, SLICE)
            return None
        if isinstance(action, NextEvent):
            assert self.events is not None
            try:
                return next(self.events)
            except StopIteration:
                raise StreamEnded("status stream closed") from None
        if isinstance(action, Fetch):
            return client.result(job.handle, job.endpoint, action.budget)
        if isinstance(action, CancelJob):
            return client.cancel(job.handle, action.budget)
        end = job.clock() + action.seconds
        while (left := end - job.clock()) > 0 and not job._interrupt.is_set():
            job.sleeper(min(SLICE, left))
        return None


class _AsyncDriver:
    """Performs a plan's actions with `await`: no thread per job; journal writes off the loop;
    a cancelled task cancels the job."""

    def __init__(self, job: Job, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.job = job
        self.sleep = sleep
        self.events: AsyncIterator[JobStatus | None] | None = None
        self.pending: asyncio.Future[JobStatus | None] | None = None

    async def run(self, plan: Plan) -> Any:
        outcome: Any = None
        error: BaseException | None = None
        cancelled = False
        try:
            while True:
                try:
                    action = plan.throw(error) if error is not None else plan.send(outcome)
                except StopIteration as stop:
                    return stop.value
                except KlingCancelledError as exc:
                    if cancelled:  # the remote job is handled; the task ends as asked
                        self.job.stopped = exc
                        raise asyncio.CancelledError(str(exc)) from None
                    raise
                outcome, error = None, None
                try:
                    outcome = await self.perform(action)
                except asyncio.CancelledError:
                    cancelled, error = True, Interrupted()
                except Exception as exc:  # the plan decides what each failure means
                    error = exc
        finally:
            await self.close_stream()

    async def perform(self, action: Action) -> Any:
        job, client = self.job, self.job.client
        if isinstance(action, Record):
            journal = job.journal
            return await asyncio.to_thread(write_record, journal, job.journal_id, action)
        if isinstance(action, Poll):
            return await client.astatus(job.handle, job.endpoint, action.budget)
        if isinstance(action, Listen):
            await self.close_stream()
            self.events = client.astream(job.handle, job.endpoint, action.read_timeout)
            return None
        if isinstance(action, NextEvent):
            assert self.events is not None
            if self.pending is None:
                self.pending = asyncio.ensure_future(anext(self.events))
            done, _ = await asyncio.wait({self.pending}, timeout=action.tick)
            if not done:
                return None  # a quiet tick
            pending, self.pending = self.pending, None
            try:
                return pending.result()
            except StopAsyncIteration:
                raise StreamEnded("status stream closed") from None
        if isinstance(action, Fetch):
            return await client.aresult(job.handle, job.endpoint, action.budget)
        if isinstance(action, CancelJob):
            return await client.acancel(job.handle, action.budget)
        await self.sleep(action.seconds)
        return None

    async def close_stream(self) -> None:
        """Close the status stream now (its read first, then the generator), so that nothing
        of it is left for the garbage collector to finish on a later turn of the loop."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        events, self.events = self.events, None
        if events is not None:
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]


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


async def off_loop(submit: Callable[[], T], job_of: Callable[[T], Job]) -> T:
    """Run a blocking submit (encode, journal, one POST through fal_client) on a worker
    thread. If the task is cancelled meanwhile, the POST still ends, and the job it made is
    cancelled on the server (and that recorded) before CancelledError goes on."""
    task = asyncio.ensure_future(asyncio.to_thread(submit))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            job = job_of(await task)
            await job.cancel_async()
        raise
