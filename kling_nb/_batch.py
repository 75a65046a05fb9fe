"""Many jobs at once: `run_batch`, `request_grid`, and the `BatchResult` they give.

One async runner does the work (`run_items`): a task per item on one event loop, at most
`concurrency` of them on the server at once (encoding inputs and caching results happen
outside that gate, so the service's capacity is never left idle), under one `tqdm.auto`
bar. `run_batch_async` awaits it on the caller's loop; `run_batch` runs it on a private
loop in a worker thread and waits for it, so Ctrl-C lands at once. Results come back in
input order, one per item: an `EditResult`, or the error that item met; one failure never
stops the others. Ctrl-C cancels every job still pending on the server (each cancel says
what the service answered), keeps the finished ones and returns what there is
(`BatchResult.interrupted`); cancelling `run_batch_async`'s task cancels, awaits and records
every item before the CancelledError goes on (structured: nothing is left running).
`resume()` brings its own work for each item to the same runner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union, overload

from PIL import Image

from ._admission import Admission, Pay, Replayed, admit_all, replayed
from ._api import job_of, start_edit
from ._cache import finish_edit
from ._config import Connection, current_connection
from ._errors import KlingBudgetError, KlingCancelledError, KlingError, KlingValidationError
from ._gallery import Cell, contact_sheet, mime_bundle
from ._i18n import message
from ._images import fixes_line
from ._job import DEFAULT_TIMEOUT, Job, check_timeout, off_loop
from ._progress import announce
from ._request import KlingO1Request
from ._rules import Violation
from ._text import clip
from ._wire import ENDPOINT

if TYPE_CHECKING:
    from ._images import ImageInput, PreparedImage
    from ._results import EditResult
    from ._wire import JobStatus

Outcome = Union["EditResult", dict[str, Any], Exception]
DEFAULT_CONCURRENCY = 4
TICK = 0.2  # s between progress refreshes; also how soon Ctrl-C is noticed
INTERRUPT_GRACE = 15.0  # s to let cancelled jobs report back before returning without them
SHEET_MAX_CELLS = 48
GRID_PARAMETERS = ("resolution", "num_images", "aspect_ratio", "output_format", "region")


class _NotSent(Exception):
    """The batch stopped before this item got a place on the server."""


class Slot:
    """One item's place in a running batch: its job once submitted, its last state."""

    def __init__(self, index: int, gate: asyncio.Semaphore, stopping: asyncio.Event):
        self.index = index
        self.job: Job | None = None
        self.state = "waiting"
        self.done = False
        self._gate = gate
        self._stopping = stopping

    @contextlib.asynccontextmanager
    async def on_server(self) -> AsyncIterator[None]:
        """Hold one of the batch's `concurrency` places on the server while the block runs."""
        async with self._gate:
            if self._stopping.is_set():
                raise _NotSent
            yield

    def register(self, job: Job) -> None:
        """The item's job, once submitted: cancelled with the batch."""
        self.job = job
        self.state = "IN_QUEUE"

    def seen(self, status: JobStatus, elapsed: float) -> None:
        """Progress callback of the item's wait."""
        self.state = status.state


Work = Callable[[Slot], Awaitable[Outcome]]


@dataclass
class BatchResult(Sequence[Outcome]):
    """One outcome per input, in input order: a result, or the error that item met."""

    items: list[Outcome]
    labels: list[str]
    elapsed: float
    interrupted: bool = False
    note: str = ""  # e.g. which jobs resume() left to the live process waiting on them
    _sheet: bytes = field(default=b"", repr=False)

    @overload
    def __getitem__(self, index: int) -> Outcome: ...
    @overload
    def __getitem__(self, index: slice) -> list[Outcome]: ...
    def __getitem__(self, index: int | slice) -> Outcome | list[Outcome]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Outcome]:
        return iter(self.items)

    @property
    def results(self) -> list[Any]:
        """The successful outcomes (EditResults, or dicts for other endpoints), in order."""
        return [item for item in self.items if not isinstance(item, Exception)]

    @property
    def errors(self) -> list[tuple[int, Exception]]:
        """(index, error) of every item that failed."""
        return [(i, item) for i, item in enumerate(self.items) if isinstance(item, Exception)]

    def raise_for_errors(self) -> None:
        """Raise the first item's error, if any item failed."""
        for _, error in self.errors[:1]:
            raise error

    def summary(self) -> str:
        """One line: how many succeeded, failed, and how long it took."""
        if not self.items:
            return " · ".join(filter(None, [message("batch.empty"), self.note]))
        failed = len(self.errors)
        text = message(
            "batch.summary",
            ok=len(self) - failed,
            total=len(self),
            failed=failed,
            elapsed=self.elapsed,
        )
        if self.interrupted:
            cancelled = sum(isinstance(e, KlingCancelledError) for _, e in self.errors)
            text += " · " + message("batch.interrupted", cancelled=cancelled)
        return " · ".join(filter(None, [text, self.note]))

    def __repr__(self) -> str:
        lines = [f"BatchResult: {self.summary()}"]
        for i, item in enumerate(self.items):
            lines.append(f"  [{i}] {_describe(item)}  {clip(self.labels[i], 50)}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        if not self._sheet:
            return {"text/plain": repr(self)}
        return mime_bundle(self._sheet, repr(self))


def run_batch(
    requests: Iterable[KlingO1Request | Mapping[str, Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> BatchResult:
    """Run many Kling O1 edits at once (`concurrency` jobs in flight); one outcome per item.

    Items are `KlingO1Request`s or guide-style arguments dicts. Each outcome is an
    `EditResult` or the `KlingError` of that item (with its request id once submitted).
    `timeout` bounds each job's wait. Ctrl-C cancels every pending job on the server.
    Items already completed are replayed unless `fresh`; items past the budget are
    refused whole (their outcome is the KlingBudgetError) and the rest run.
    """
    check_timeout(timeout)
    conn = connection or current_connection()
    items = [_as_request(item, i) for i, item in enumerate(requests)]
    planned = _admit_batch(items, conn, fresh, progress)
    works = [
        _edit_work(item, plan, conn, timeout) for item, plan in zip(items, planned, strict=True)
    ]
    result = run_blocking(works, _labels(items), concurrency, progress, _cost_line(planned))
    result.note = " · ".join(filter(None, [result.note, _money_note(planned)]))
    return result


async def run_batch_async(
    requests: Iterable[KlingO1Request | Mapping[str, Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> BatchResult:
    """`run_batch` for `await`: plain asyncio tasks on this loop, no thread per job.
    Cancelling the task cancels, awaits and records every item, then raises CancelledError."""
    check_timeout(timeout)
    conn = connection or current_connection()
    items = [_as_request(item, i) for i, item in enumerate(requests)]
    planned = await asyncio.to_thread(_admit_batch, items, conn, fresh, progress)
    works = [
        _edit_work(item, plan, conn, timeout) for item, plan in zip(items, planned, strict=True)
    ]
    result = await run_items(works, _labels(items), concurrency, progress, _cost_line(planned))
    result.note = _money_note(planned)
    return result


def _labels(items: Sequence[KlingO1Request | KlingValidationError]) -> list[str]:
    return [_label(item) if isinstance(item, KlingO1Request) else "" for item in items]


def _label(request: KlingO1Request) -> str:
    """The prompt, and the parameters that differ from the defaults (and the region)."""
    defaults = KlingO1Request(request.prompt, []).parameters()
    changed = [str(v) for k, v in request.parameters().items() if defaults.get(k) != v]
    if request.region is not None:
        box = getattr(request.region, "box", request.region)
        changed.append(clip(str(tuple(box) if isinstance(box, list) else box), 30))
    return " · ".join([clip(request.prompt, 40), *changed])


# An item checked, encoded and admitted: its body, its prepared inputs, its admission.
Prepared = tuple[dict[str, Any], list["PreparedImage"], Admission]
Planned = Prepared | KlingError


def _admit_batch(
    items: Sequence[KlingO1Request | KlingValidationError],
    conn: Connection,
    fresh: bool,
    progress: bool = False,
) -> list[Planned]:
    """Encode every item (in parallel), then admit them all at once: replays found, the
    budget split in order over the rest, each item whole or refused before anything is sent."""

    def encode(item: KlingO1Request | KlingValidationError) -> Any:
        if isinstance(item, KlingValidationError):
            return item
        try:
            return item.prepare(conn.profile)
        except KlingError as exc:
            return exc

    with ThreadPoolExecutor(4, thread_name_prefix="kling_nb-encode") as pool:
        encoded = list(pool.map(encode, items))
    for index, done in enumerate(encoded):
        said = None if isinstance(done, Exception) else fixes_line(done[1])
        if said and progress:  # no fix to an input is silent: one line per item fixed
            announce(True, f"[{index}] {said}")
    sendable = [i for i, e in enumerate(encoded) if not isinstance(e, Exception)]
    admissions = admit_all(
        conn,
        [(ENDPOINT, encoded[i][0], items[i]) for i in sendable],  # type: ignore[misc]
        fresh=fresh or not conn.replay,
    )
    planned: list[Planned] = list(encoded)
    for i, admission in zip(sendable, admissions, strict=True):
        body, prepared = encoded[i]
        planned[i] = (
            admission if isinstance(admission, KlingError) else (dict(body), prepared, admission)
        )
    return planned


def _cost_line(planned: Sequence[Planned]) -> str:
    """What the items that will be paid for cost, for the batch's progress line."""
    from ._price import total

    costs = [
        p[2].reservation.cost
        for p in planned
        if not isinstance(p, Exception) and isinstance(p[2], Pay)
    ]
    return total(costs).line() if costs else ""


def _money_note(planned: Sequence[Planned]) -> str:
    replayed_count = sum(
        1 for p in planned if not isinstance(p, Exception) and not isinstance(p[2], Pay)
    )
    refused = sum(1 for p in planned if isinstance(p, KlingBudgetError))
    notes = [message("money.batch_replayed", count=replayed_count) if replayed_count else ""]
    notes.append(message("money.batch_refused", count=refused) if refused else "")
    return " · ".join(filter(None, notes))


def _edit_work(
    request: KlingO1Request | KlingValidationError,
    plan: Planned,
    conn: Connection,
    timeout: float | None,
) -> Work:
    """One item's work: replay, or submit and wait holding a place, then cache the images."""

    async def work(slot: Slot) -> Outcome:
        if isinstance(plan, Exception):
            return plan
        assert isinstance(request, KlingO1Request)
        body, inputs, admission = plan  # checked and encoded before a place is held
        if not isinstance(admission, Pay):
            done = await asyncio.to_thread(
                replayed, conn, ENDPOINT, admission.replay, request, inputs, False
            )
            value: EditResult = done.value
            return value
        async with slot.on_server():
            started = await off_loop(
                lambda: start_edit(request, conn, progress=False, prepared=plan), job_of
            )
            if isinstance(started, Replayed):
                again: EditResult = started.value
                return again
            slot.register(started.job)
            output = await started.job.wait_output_async(timeout, None, slot.seen)
        return await asyncio.to_thread(finish_edit, started.job, output, request, inputs)

    return work


def _as_request(
    item: KlingO1Request | Mapping[str, Any], index: int
) -> KlingO1Request | KlingValidationError:
    if isinstance(item, KlingO1Request):
        return item
    if isinstance(item, Mapping):
        try:
            return KlingO1Request.from_arguments(item, ENDPOINT)
        except KlingValidationError as exc:
            return exc  # this item fails on its own; the others still run
    raise TypeError(message("batch.bad_item", index=index, kind=type(item).__name__))


# --- the runner ----------------------------------------------------------------------------------


class _Run:
    """One batch's shared state: slots, outcomes as they settle, the interrupt flag."""

    def __init__(self, count: int, concurrency: int):
        self.gate = asyncio.Semaphore(max(1, concurrency))
        self.stopping = asyncio.Event()
        self.slots = [Slot(i, self.gate, self.stopping) for i in range(count)]
        self.outcomes: list[Outcome | None] = [None] * count
        self.interrupted = False


async def run_items(
    works: Sequence[Work],
    labels: Sequence[str],
    concurrency: int,
    progress: bool,
    cost: str = "",
    *,
    run: _Run | None = None,
) -> BatchResult:
    """Run `works` as tasks on this loop, at most `concurrency` on the server at once, under
    one bar. If this coroutine is cancelled, every item is cancelled, awaited and recorded
    first; if `run.stopping` is set (Ctrl-C in `run_batch`), the same, then a result."""
    started = time.monotonic()
    run = run or _Run(len(works), concurrency)
    bar = _bar(len(works), progress, cost)
    tasks = [
        asyncio.ensure_future(_settle(work, slot, run))
        for work, slot in zip(works, run.slots, strict=True)
    ]
    try:
        await _until_done(tasks, run, bar)
    except asyncio.CancelledError:
        await _cancel_all(tasks, run)
        raise
    finally:
        bar.close()
    final = [_settled(outcome, slot) for outcome, slot in zip(run.outcomes, run.slots, strict=True)]
    result = BatchResult(final, list(labels), time.monotonic() - started, run.interrupted)
    result._sheet = await asyncio.to_thread(_sheet, result)
    return result


async def _until_done(tasks: Sequence[asyncio.Future[None]], run: _Run, bar: Any) -> None:
    pending: set[asyncio.Future[Any]] = set(tasks)
    stop = asyncio.ensure_future(run.stopping.wait())
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending | {stop}, timeout=TICK, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(stop)
            bar.update(len(done - {stop}))
            _postfix(bar, run.slots)
            if stop in done:
                run.interrupted = True
                await _cancel_all(tasks, run)
                return
    finally:
        stop.cancel()


async def _cancel_all(tasks: Sequence[asyncio.Future[None]], run: _Run) -> None:
    """Cancel every item still running (each cancels its job on the server and records
    what the service said) and wait until all have settled."""
    run.stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _settle(work: Work, slot: Slot, run: _Run) -> None:
    """Run one item; its outcome (a result or an error) goes into `run.outcomes`."""
    try:
        run.outcomes[slot.index] = await work(slot)
    except KlingError as exc:
        run.outcomes[slot.index] = exc
    except _NotSent:
        run.outcomes[slot.index] = _not_sent(slot)
    except asyncio.CancelledError:
        stopped = slot.job.stopped if slot.job is not None else None
        run.outcomes[slot.index] = stopped or (_not_sent(slot) if slot.job is None else None)
        raise
    except Exception as exc:  # a bug or the machine: kept as this item's outcome
        run.outcomes[slot.index] = exc
    finally:
        slot.done = True


def run_blocking(
    works: Sequence[Work], labels: Sequence[str], concurrency: int, progress: bool, cost: str = ""
) -> BatchResult:
    """`run_items` on a private event loop in a worker thread; this thread waits, so Ctrl-C
    lands at once: it stops the batch (pending jobs cancelled), and a second one stops
    waiting for the cancels to report back."""
    if not works:
        return BatchResult([], [], 0.0)
    started = time.monotonic()
    box: concurrent.futures.Future[BatchResult] = concurrent.futures.Future()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> BatchResult:
        holder["loop"] = asyncio.get_running_loop()
        holder["run"] = run = _Run(len(works), concurrency)
        ready.set()
        return await run_items(works, labels, concurrency, progress, cost, run=run)

    def thread() -> None:
        try:
            box.set_result(asyncio.run(main()))
        except BaseException as exc:  # handed to the waiting thread
            box.set_exception(exc)
        finally:
            ready.set()

    threading.Thread(target=thread, name="kling_nb-batch", daemon=True).start()
    try:
        return _wait_for(box)
    except KeyboardInterrupt:
        ready.wait()
        if "run" not in holder:
            raise
        holder["loop"].call_soon_threadsafe(holder["run"].stopping.set)
        try:
            return _wait_for(box, INTERRUPT_GRACE)
        except (KeyboardInterrupt, TimeoutError):
            # A second Ctrl-C, or cancels that never report back: return what there is.
            return _partial(holder["run"], labels, time.monotonic() - started)


def _wait_for(
    box: concurrent.futures.Future[BatchResult], grace: float | None = None
) -> BatchResult:
    limit = None if grace is None else time.monotonic() + grace
    while True:
        try:
            return box.result(timeout=TICK)
        except concurrent.futures.TimeoutError:
            if limit is not None and time.monotonic() > limit:
                raise TimeoutError from None


def _partial(run: _Run, labels: Sequence[str], elapsed: float) -> BatchResult:
    final = [_settled(outcome, slot) for outcome, slot in zip(run.outcomes, run.slots, strict=True)]
    return BatchResult(final, list(labels), elapsed, True)


def _settled(outcome: Outcome | None, slot: Slot) -> Outcome:
    if outcome is not None:
        return outcome
    if slot.job is None:
        return _not_sent(slot)
    rid = slot.job.request_id
    return KlingCancelledError(
        message("batch.abandoned", request_id=rid), request_id=rid, endpoint=slot.job.endpoint
    )


def _not_sent(slot: Slot) -> KlingCancelledError:
    return KlingCancelledError(
        message("batch.not_sent", index=slot.index), request_id="", endpoint=ENDPOINT
    )


def _bar(total: int, progress: bool, cost: str = "") -> Any:
    from tqdm.auto import tqdm

    desc = " · ".join(filter(None, [message("batch.progress"), cost]))
    return tqdm(total=total, desc=desc, unit="job", disable=not progress)


def _postfix(bar: Any, slots: Sequence[Slot]) -> None:
    running = sum(1 for s in slots if not s.done and s.state == "IN_PROGRESS")
    queued = sum(1 for s in slots if not s.done and s.state == "IN_QUEUE")
    bar.set_postfix_str(message("batch.counts", running=running, queued=queued), refresh=False)


def request_grid(
    prompts: str | Sequence[str],
    images: ImageInput | Sequence[ImageInput | Sequence[ImageInput]],
    **parameters: Any,
) -> list[KlingO1Request]:
    """Every combination of prompts × image sets × parameter values, as requests.

    `images` is one image, or a list whose items are each one image set (an image, or a
    list of images for prompts that refer to several). A parameter given as a list or
    tuple varies (`resolution=["1K", "2K"]`); any other value is fixed. `region` is one
    region (a box of four numbers, a mask, a `Region`) or a list of them, which varies.
    """
    unknown = sorted(set(parameters) - set(GRID_PARAMETERS))
    if unknown:
        raise KlingValidationError(
            [Violation((name,), "unknown_field", {"value": name}) for name in unknown]
        )
    prompt_list = [prompts] if isinstance(prompts, str) else list(prompts)
    if isinstance(images, (str, bytes, Image.Image)) or not isinstance(images, Sequence):
        image_sets: list[Any] = [images]
    else:
        image_sets = list(images)
    names = list(parameters)
    values = [_grid_values(name, v) for name, v in parameters.items()]
    return [
        KlingO1Request(prompt, image_set, **dict(zip(names, combo, strict=True)))
        for prompt, image_set, combo in itertools.product(
            prompt_list, image_sets, itertools.product(*values)
        )
    ]


def _grid_values(name: str, value: Any) -> list[Any]:
    """The values a grid parameter takes: a list or tuple varies, except that a region's
    box is itself four numbers (a list of regions varies)."""
    if not isinstance(value, (list, tuple)):
        return [value]
    if name == "region" and all(isinstance(v, (int, float)) for v in value):
        return [value]  # one box (left, top, right, bottom)
    return list(value)


def _describe(item: Outcome) -> str:
    if isinstance(item, KlingError):
        rid = getattr(item, "request_id", "")
        where = message("batch.row_where", request_id=rid) if rid else ""
        return f"✗ {type(item).__name__}: {clip(str(item).splitlines()[0], 90)}{where}"
    if isinstance(item, Exception):
        return f"✗ {type(item).__name__}: {clip(str(item), 90)}"
    if isinstance(item, dict):
        return "✓ " + message("batch.row_images", count=len(item.get("images") or []))
    images = message("batch.row_images", count=len(item))
    return f"✓ {images} · " + message("batch.row_request", request_id=item.request_id)


def _sheet(result: BatchResult) -> bytes:
    """A contact sheet: each item's first image, or a grey tile for a failed one."""
    from ._results import EditResult

    cells = []
    for i, item in enumerate(result.items[:SHEET_MAX_CELLS]):
        picture = _first_image(item) if isinstance(item, EditResult) else None
        if isinstance(item, EditResult) and picture is not None:
            cells.append(Cell(picture, f"[{i}] ✓ {len(item)} image(s)"))
        else:
            mark = "✗" if isinstance(item, Exception) else "✓"
            cells.append(Cell(Image.new("RGB", (240, 240), (215, 215, 212)), f"[{i}] {mark}"))
    if not cells:
        return b""
    return contact_sheet(cells, columns=min(6, len(cells)), cell_side=200)


def _first_image(result: EditResult) -> Image.Image | None:
    """The result's first image, small (kept in memory: decoding a 2K PNG is slow)."""
    return result.cover()
