"""Jobs on the queue: submit, then wait, sync or async, by one plan (`_engine`).

`run_fal_task` is the guide's helper done properly; `edit` is the one-liner that returns
an `EditResult`; each has an `_async` twin. Every wait has a deadline and a cancel path;
Ctrl-C, or cancelling the task, cancels the remote job. Clocks and sleeps are injectable
so tests can drive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import Connection, current_connection
from ._engine import (
    SLICE,
    TICK,
    Action,
    CancelJob,
    Deadline,
    DeadlineReached,
    Fetch,
    Interrupted,
    Listen,
    NextEvent,
    Plan,
    Poll,
    StreamEnded,
    Watch,
    wait_for_output,
)
from ._errors import (
    KlingCancelledError,
    KlingError,
    KlingJobError,
    KlingSubmitUnknownError,
    KlingTimeoutError,
)
from ._files import safe_name
from ._i18n import message
from ._images import ImageInput, PreparedImage
from ._journal import THUMBS, WIRE_STATES, journal_for, waiting, write_thumbnail
from ._progress import Progress, make_progress
from ._request import KlingO1Request
from ._text import clip
from ._transport import Handle, JobStatus, QueueClient, Transient, client_for
from ._wire import ENDPOINT, KlingO1Input

if TYPE_CHECKING:
    from ._money import Admission, Cost, Replay
    from ._results import EditResult, ResultImage

DEFAULT_TIMEOUT = 900.0  # s; Kling O1 jobs take about a minute, a busy queue longer

T = TypeVar("T")
# An edit checked, encoded and admitted: its body, its prepared inputs, its admission.
Admitted = tuple[KlingO1Input, list[PreparedImage], "Admission"]


def check_timeout(timeout: object) -> None:
    """Refuse a timeout that is not a positive number of seconds (or None), before submitting."""
    from ._errors import KlingValidationError
    from ._rules import Violation

    ok = timeout is None or (
        isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
    )
    if not ok or (timeout is not None and timeout != timeout):  # NaN
        raise KlingValidationError([Violation(("timeout",), "engine_timeout", {"value": timeout})])


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
        caches_images: bool = False,
    ):
        self.connection = connection
        self.endpoint = endpoint
        self.handle = handle
        self.client = client or client_for(connection)
        self.clock = clock
        self.sleeper = sleeper
        self.last_status: JobStatus | None = None
        self.journal_id: int | None = None  # its row in the journal, once journaled
        self.cost: Cost | None = None  # its estimated cost, once admitted
        # An edit's images are cached by `finish_edit`, so its wait ends the row at
        # "downloading"; fixed when the job is made, never changed by a caller later.
        self.caches_images = caches_images

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
        body = checked_body(conn, endpoint, arguments)
        return cls.send(conn, endpoint, body, webhook_url=webhook_url)

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

    @classmethod
    def send(
        cls,
        conn: Connection,
        endpoint: str,
        body: dict[str, Any],
        *,
        webhook_url: str | None = None,
        inputs: Sequence[str] = (),
        caches_images: bool = False,
        admission: Admission | None = None,
    ) -> Job:
        """Submit `body` as it is, once, journaled: the row is written before the POST.

        Without an `admission` (see `_money.admit`) the budget is checked here: a request
        that would pass it raises KlingBudgetError and is never sent."""
        from ._money import admit, record_charge

        money = admission or admit(conn, endpoint, body, fresh=True)
        journal = journal_for(conn.home)
        row = journal.begin(conn, endpoint, body, inputs)
        record_charge(journal, row, money.cost, money.fingerprint)
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
        job = cls(conn, endpoint, handle, client=client, caches_images=caches_images)
        job.journal_id, job.cost = row, money.cost
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

    def cancel_as_error(self) -> KlingCancelledError:
        """Cancel now (the caller stopped before waiting) and the error that says so."""
        fields: dict[str, Any] = {"request_id": self.request_id, "endpoint": self.endpoint}
        try:
            self.cancel()
        except KlingError as exc:
            text = message("job.cancel_failed", request_id=self.request_id, detail=exc)
            return KlingCancelledError(text, **fields)
        return KlingCancelledError(message("job.cancelled", request_id=self.request_id), **fields)

    def finish_edit(
        self, output: dict[str, Any], request: KlingO1Request, inputs: list[PreparedImage]
    ) -> EditResult:
        """The edit's last step: cache its images, record the row completed, return the
        result (a value: displaying or saving it writes no journal row)."""
        from ._results import EditResult

        images = self.cache_output(output)
        return EditResult.of(
            output,
            images,
            request_id=self.request_id,
            endpoint=self.endpoint,
            connection=self.connection,
            request=request,
            inputs=inputs,
            on_saved=journal_for(self.connection.home).add_saved,
        )

    def cache_output(self, output: dict[str, Any]) -> list[ResultImage]:
        """Cache a finished job's images (result URLs expire) and record the row completed;
        a failure is a KlingJobError and leaves the row for resume() to try again."""
        import httpx

        from ._files import cache_folder
        from ._results import cache_images, image_entries

        try:
            image_entries(output)
        except ValueError as exc:
            detail = message("engine.malformed_result", host=self.connection.host, detail=exc)
            error = KlingJobError(
                message(
                    "job.failed", request_id=self.request_id, endpoint=self.endpoint, detail=detail
                ),
                request_id=self.request_id,
                endpoint=self.endpoint,
                detail=detail,
            )
            self._record(error=str(error))
            raise error from None
        try:
            folder = cache_folder(self.connection.home, self.request_id)
            images = cache_images(output, folder, self.client.download)
        except (httpx.HTTPError, OSError, ValueError, KlingError) as exc:
            error = KlingJobError(
                message(
                    "job.download_failed",
                    request_id=self.request_id,
                    url=clip(_first_url(output)),
                    detail=exc,
                ),
                request_id=self.request_id,
                endpoint=self.endpoint,
                detail=str(exc),
            )
            self._record(error=str(error))  # stays "downloading": resume() tries again
            raise error from None
        if images:  # history()'s tile, made now so that reading the history writes nothing
            target = self.connection.home / THUMBS / f"out-{safe_name(self.request_id, 'job')}.jpg"
            with contextlib.suppress(OSError):
                write_thumbnail(images[0].path.read_bytes(), target)
        self._record(state="completed", cached=[str(im.path) for im in images])
        return images

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
        with waiting(journal_for(self.connection.home), self.journal_id):
            return _SyncDriver(self).run(self._plan(timeout, poll_interval, progress))

    async def wait_async(
        self,
        timeout: float | None = DEFAULT_TIMEOUT,
        poll_interval: float | None = None,
        progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    ) -> dict[str, Any]:
        """`wait` on the running event loop; cancelling the task cancels the remote job."""
        check_timeout(timeout)
        with waiting(journal_for(self.connection.home), self.journal_id):
            return await _AsyncDriver(self).run(self._plan(timeout, poll_interval, progress))

    def _plan(
        self,
        timeout: float | None,
        poll_interval: float | None,
        progress: bool | Progress | Callable[[JobStatus, float], None],
    ) -> Plan:
        """The wait as actions (see `_engine`), with this job's journal and progress line."""
        deadline = Deadline(timeout, self.clock)
        watch = Watch(self.client.stream_ok)
        bar = make_progress(progress)
        bar.submitted(self.request_id)
        seen = self._watcher(deadline, bar)
        try:
            output = yield from wait_for_output(deadline, poll_interval, watch, seen, self._failure)
        except (KeyboardInterrupt, Interrupted):
            bar.finished("CANCELLED", deadline.elapsed())
            raise (yield from self._cancelled("interrupt")) from None
        except DeadlineReached:
            bar.finished("CANCELLED", deadline.elapsed())
            raise (yield from self._cancelled("deadline", timeout, watch.last_fault)) from None
        except KlingError as exc:
            bar.finished("FAILED", deadline.elapsed())
            self._record_error(exc)
            raise
        finally:
            self.client.stream_ok = watch.stream_ok
        self._record(state="downloading" if self.caches_images else "completed", result=output)
        count = len(output.get("images", [])) if isinstance(output, dict) else 0
        notes = [message("progress.images", count=count) if count else ""]
        notes.append(self.cost.line() if self.cost is not None else "")
        bar.finished("COMPLETED", deadline.elapsed(), " · ".join(filter(None, notes)))
        return output

    def _watcher(self, deadline: Deadline, bar: Progress) -> Callable[[JobStatus | None], None]:
        """What to do with each status (or each quiet tick): journal, progress line."""
        last_draw = [float("-inf")]

        def seen(status: JobStatus | None) -> None:
            if status is not None:
                changed = self.last_status is None or self.last_status.state != status.state
                if changed and status.state in WIRE_STATES:
                    state = WIRE_STATES[status.state]
                    extra = {"started_at": time.time()} if state == "running" else {}
                    self._record(state=state, **extra)
                self.last_status = status
            elif deadline.elapsed() - last_draw[0] < TICK:
                return  # a quiet tick: redraw the elapsed time at most twice a second
            last_draw[0] = deadline.elapsed()
            bar.update(self.last_status or JobStatus("IN_QUEUE"), deadline.elapsed())

        return seen

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

    def _failure(self, final: JobStatus, exc: KlingJobError | None) -> KlingJobError:
        """The error for a job that did not succeed, or whose output could not be had."""
        if exc is not None and exc.status_code == 404 and not final.error:
            return self._expired()
        detail = (exc.detail if exc else None) or final.error or final.failed_as or ""
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
    ) -> Generator[CancelJob, Any, KlingJobError]:
        """Cancel on the server, then the error that tells the user what happened."""
        fields: dict[str, Any] = {"request_id": self.request_id, "endpoint": self.endpoint}
        try:
            # After a deadline, the cancel gets little time: the wait must end within 2 s.
            outcome = yield CancelJob(1.2 if why == "deadline" else 10.0)
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
        if outcome == "already_completed":
            key = "engine.deadline_too_late" if why == "deadline" else "job.cancel_too_late"
            text = message(key, request_id=self.request_id, timeout=timeout)
            self._record(error=text)  # finished and paid for: resume() fetches it
            kind = KlingTimeoutError if why == "deadline" else KlingCancelledError
            return kind(text, **fields)
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


def _first_url(output: dict[str, Any]) -> str:
    images = output.get("images") if isinstance(output, dict) else None
    first = images[0] if isinstance(images, list) and images else {}
    return str(first.get("url", "")) if isinstance(first, dict) else ""


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
                outcome = self.perform(action)
            except KeyboardInterrupt:
                error = Interrupted()
            except Exception as exc:  # the plan decides what each failure means
                error = exc

    def perform(self, action: Action) -> Any:
        job, client = self.job, self.job.client
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
        while (left := end - job.clock()) > 0:
            job.sleeper(min(SLICE, left))
        return None


class _AsyncDriver:
    """Performs a plan's actions with `await`: no thread; a cancelled task cancels the job."""

    def __init__(self, job: Job):
        self.job = job
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
                except KlingCancelledError:
                    if cancelled:  # the remote job is cancelled; the task ends as asked
                        raise asyncio.CancelledError from None
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
        await asyncio.sleep(action.seconds)
        return None

    async def close_stream(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
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
    cancelled on the server before CancelledError goes on."""
    task = asyncio.ensure_future(asyncio.to_thread(submit))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            job = job_of(await task)
            await job.client.acancel(job.handle)
            job._record(
                state="cancelled", error=message("job.cancelled", request_id=job.request_id)
            )
        raise


def run_fal_task(
    endpoint: str,
    arguments: Mapping[str, Any],
    poll_interval: float | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """The guide's helper done properly: validate, submit, wait with progress, return the dict.

    An identical request already completed is replayed, not paid again, unless `fresh`."""
    check_timeout(timeout)
    started = start_task(endpoint, arguments, connection, fresh=fresh, progress=progress)
    if isinstance(started, dict):
        return started
    output = started.wait(timeout=timeout, poll_interval=poll_interval, progress=progress)
    return _kept(started, output)


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
    fresh: bool = False,
) -> EditResult:
    """Edit images with a prompt and return an EditResult (displays as a gallery).

    An identical edit already completed is replayed from the journal, not paid again,
    unless `fresh`."""

    check_timeout(timeout)
    request = _edit_request(
        prompt, images, resolution, num_images, aspect_ratio, output_format, elements
    )
    started, prepared = start_edit(request, connection, fresh=fresh, progress=progress)
    if not isinstance(started, Job):
        return started
    output = started.wait(timeout=timeout, progress=progress)
    return started.finish_edit(output, request, prepared)


async def run_fal_task_async(
    endpoint: str,
    arguments: Mapping[str, Any],
    poll_interval: float | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """`run_fal_task` for `await`: the wait runs on the event loop, no thread per job."""
    check_timeout(timeout)
    started = await off_loop(
        lambda: start_task(endpoint, arguments, connection, fresh=fresh, progress=progress),
        _job_of,
    )
    if isinstance(started, dict):
        return started
    output = await started.wait_async(
        timeout=timeout, poll_interval=poll_interval, progress=progress
    )
    return await asyncio.to_thread(_kept, started, output)


async def edit_async(
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
    fresh: bool = False,
) -> EditResult:
    """`edit` for `await` (and `asyncio.gather`); cancelling the task cancels the job."""
    check_timeout(timeout)
    request = _edit_request(
        prompt, images, resolution, num_images, aspect_ratio, output_format, elements
    )
    return await edit_request_async(
        request, connection, timeout=timeout, progress=progress, fresh=fresh
    )


async def edit_request_async(
    request: KlingO1Request,
    connection: Connection | None,
    *,
    timeout: float | None,
    progress: bool | Progress | Callable[[JobStatus, float], None],
    fresh: bool = False,
    admitted: Admitted | None = None,
) -> EditResult:
    """Submit `request` (or replay it), wait on the loop, cache its images: one async edit."""

    started, prepared = await off_loop(
        lambda: start_edit(request, connection, fresh=fresh, progress=progress, admitted=admitted),
        lambda pair: _job_of(pair[0]),
    )
    if not isinstance(started, Job):
        return started
    output = await started.wait_async(timeout=timeout, progress=progress)
    return await asyncio.to_thread(started.finish_edit, output, request, prepared)


def _job_of(started: object) -> Job:
    """The job a submit started, for off_loop to cancel (a replay started none)."""
    if not isinstance(started, Job):
        raise LookupError("a replay: no job to cancel")
    return started


def _edit_request(
    prompt: str,
    images: ImageInput | Sequence[ImageInput],
    resolution: str,
    num_images: int,
    aspect_ratio: str,
    output_format: str | None,
    elements: Sequence[Mapping[str, Any]] | None,
) -> KlingO1Request:
    extra: dict[str, Any] = {} if elements is None else {"elements": elements}
    return KlingO1Request(
        prompt,
        images,  # type: ignore[arg-type]  # one image or many: __post_init__ takes both
        resolution,
        num_images,
        aspect_ratio,
        output_format,
        **extra,
    )


def checked_body(conn: Connection, endpoint: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The body to send: for Kling O1 checked and encoded (raises before sending)."""
    if endpoint != ENDPOINT:
        return dict(arguments)
    return dict(KlingO1Request.from_arguments(arguments, endpoint).prepare(conn.profile)[0])


def start_task(
    endpoint: str,
    arguments: Mapping[str, Any],
    connection: Connection | None,
    *,
    fresh: bool = False,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
) -> Job | dict[str, Any]:
    """Check, admit (replay or budget) and submit once: the Job, or a replayed output."""
    from ._money import admit

    conn = connection or current_connection()
    body = checked_body(conn, endpoint, arguments)
    admission = admit(conn, endpoint, body, fresh=fresh or not conn.replay)
    if admission.replay:
        return replay_output(conn, admission.replay, progress)
    return Job.send(conn, endpoint, body, caches_images=endpoint == ENDPOINT, admission=admission)


def _kept(job: Job, output: dict[str, Any]) -> dict[str, Any]:
    """The guide-style output, its Kling O1 images cached first (so that a replay, resume()
    or history() never depends on a URL that expires); a failed cache leaves the row for
    resume() and the output is still returned."""
    if job.caches_images:
        with contextlib.suppress(KlingJobError):
            job.cache_output(output)
    return output


def start_edit(
    request: KlingO1Request,
    connection: Connection | None = None,
    *,
    fresh: bool = False,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
    admitted: Admitted | None = None,
) -> tuple[Job | EditResult, list[PreparedImage]]:
    """Check, encode, admit (replay or budget) and submit once: the Job, or the replayed
    result of an identical completed edit; with the prepared inputs.

    `admitted` is what a batch already did for this item: its body, inputs and admission."""
    from ._money import admit

    conn = connection or current_connection()
    if admitted is not None:
        body, prepared, admission = admitted
    else:
        body, prepared = request.prepare(conn.profile)
        admission = admit(conn, request.endpoint, body, request, fresh=fresh or not conn.replay)
    if admission.replay:
        return replay_edit(conn, request, prepared, admission.replay, progress), prepared
    return send_edit(conn, request, body, prepared, admission), prepared


def submit_edit(
    request: KlingO1Request, connection: Connection | None = None
) -> tuple[Job, list[PreparedImage]]:
    """Check, encode and submit once (never a replay); the Job and its inputs."""
    conn = connection or current_connection()
    body, prepared = request.prepare(conn.profile)
    return send_edit(conn, request, body, prepared), prepared


def send_edit(
    conn: Connection,
    request: KlingO1Request,
    body: KlingO1Input,
    prepared: list[PreparedImage],
    admission: Admission | None = None,
) -> Job:
    """Submit an edit already checked and encoded, once; `finish_edit` caches its images."""
    labels = [p.source_label for p in prepared]
    return Job.send(
        conn, request.endpoint, dict(body), inputs=labels, caches_images=True, admission=admission
    )


# --- replays: the pictures of an identical completed request, not paid again -------------------


def replay_edit(
    conn: Connection,
    request: KlingO1Request,
    prepared: list[PreparedImage],
    replay: Replay,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
) -> EditResult:
    """The cached pictures of an identical completed edit (fetched again from its stored
    result URL when the cache is gone), journaled as a replay and not billed."""
    import httpx

    from ._files import cache_folder
    from ._money import KlingReplayError, record_replay
    from ._results import EditResult, cache_images

    entry = replay.entry
    assert entry is not None and entry.request_id is not None  # completed rows have one
    output = dict(entry.result or {})
    try:
        folder = cache_folder(conn.home, entry.request_id)
        images = cache_images(output, folder, client_for(conn).download)
    except (httpx.HTTPError, OSError, ValueError, KlingError) as exc:
        text = message("money.replay_gone", request_id=entry.request_id, detail=clip(str(exc)))
        raise KlingReplayError(text) from None
    row = record_replay(replay, home=conn.home)
    journal_for(conn.home).record(row, cached=[str(im.path) for im in images])
    key = "money.replay_cache" if replay.source == "cache" else "money.replayed_url"
    _announce(progress, message(key, request_id=entry.request_id))
    return EditResult.of(
        output,
        images,
        request_id=entry.request_id,
        endpoint=entry.endpoint,
        connection=conn,
        request=request,
        inputs=prepared,
        on_saved=journal_for(conn.home).add_saved,
    )


def replay_output(
    conn: Connection,
    replay: Replay,
    progress: bool | Progress | Callable[[JobStatus, float], None] = True,
) -> dict[str, Any]:
    """`run_fal_task`'s replay: the stored output as it was while its URLs still work,
    else its cached images as `data:` URIs."""
    import base64

    from ._money import record_replay

    entry = replay.entry
    assert entry is not None
    output = dict(entry.result or {})
    if replay.source == "cache" and replay.until is None:
        images = [dict(im) for im in output.get("images") or [] if isinstance(im, dict)]
        for image, path in zip(images, replay.files, strict=False):
            kind = str(image.get("content_type") or "image/png")
            image["url"] = f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()
        output["images"] = images
    record_replay(replay, home=conn.home)
    key = "money.replay_cache" if replay.source == "cache" else "money.replayed_url"
    _announce(progress, message(key, request_id=entry.request_id))
    return output


def _announce(progress: bool | Progress | Callable[[JobStatus, float], None], text: str) -> None:
    """Say one line where the progress line would have been (nothing when it is off)."""
    bar = make_progress(progress) if progress is True else None
    stream = getattr(bar, "stream", None)
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()
