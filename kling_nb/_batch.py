"""Many jobs at once: `run_batch`, `request_grid`, and the `BatchResult` they give.

Jobs run on a bounded pool of threads over `Job` (each thread submits, waits on the status
stream and caches its images), under one `tqdm.auto` bar. Results come back in input order,
one per item: an `EditResult`, or the error that item met; one failure never stops the
others. Ctrl-C cancels every job still pending on the server, keeps the finished ones, and
returns what there is (`BatchResult.interrupted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union, overload

from PIL import Image

from ._config import Connection, current_connection
from ._errors import KlingCancelledError, KlingError, KlingValidationError
from ._gallery import Cell, contact_sheet, mime_bundle
from ._i18n import message
from ._request import KlingO1Request
from ._rules import Violation
from ._tasks import DEFAULT_TIMEOUT, Admitted, Job, check_timeout, replay_edit, send_edit
from ._text import clip
from ._transport import client_for
from ._wire import ENDPOINT

if TYPE_CHECKING:
    from ._images import ImageInput
    from ._results import EditResult
    from ._transport import JobStatus

Outcome = Union["EditResult", dict[str, Any], Exception]
DEFAULT_CONCURRENCY = 4
TICK = 0.2  # s between progress refreshes; also how soon Ctrl-C is noticed
INTERRUPT_GRACE = 15.0  # s to let cancelled jobs report back before returning without them
SHEET_MAX_CELLS = 48
GRID_PARAMETERS = ("resolution", "num_images", "aspect_ratio", "output_format")


class _NotSent(Exception):
    """The batch stopped before this item got a place on the server."""


class Slot:
    """One item's place in a running batch: shared by its worker and the main thread."""

    def __init__(
        self, index: int, lock: threading.Lock, stop: threading.Event, gate: threading.Semaphore
    ):
        self.index = index
        self.job: Job | None = None
        self.state = "waiting"
        self.done = False
        self._lock = lock
        self._stop = stop
        self._gate = gate

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @contextlib.contextmanager
    def on_server(self) -> Iterator[None]:
        """Hold one of the batch's `concurrency` places on the server while the block runs.

        Preparing inputs and downloading results happen outside it, so the service's
        capacity is never left idle while this machine encodes or caches images.
        """
        while not self._gate.acquire(timeout=TICK):
            if self._stop.is_set():
                raise _NotSent
        try:
            if self._stop.is_set():
                raise _NotSent
            yield
        finally:
            self._gate.release()

    def register(self, job: Job) -> bool:
        """Make `job` cancellable by Ctrl-C; False if the batch is already stopping."""
        with self._lock:
            self.job = job
            self.state = "IN_QUEUE"
            return not self._stop.is_set()

    def seen(self, status: JobStatus, elapsed: float) -> None:
        """Progress callback of the item's wait."""
        self.state = status.state


Work = Callable[[Slot], Outcome]


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
    items = [_as_request(item, i) for i, item in enumerate(requests)]
    conn = connection or current_connection()
    client_for(conn).http  # noqa: B018 - built here once, not raced for by every worker
    planned = _admit_batch(items, conn, fresh)

    def work_for(index: int) -> Work:
        def work(slot: Slot) -> Outcome:
            plan = planned[index]
            if isinstance(plan, Exception):
                return plan
            return _edit_one(items[index], plan, conn, timeout, slot)  # type: ignore[arg-type]

        return work

    labels = [_label(item) if isinstance(item, KlingO1Request) else "" for item in items]
    works = [work_for(i) for i in range(len(items))]
    result = run_all(works, labels, concurrency, progress, _cost_line(planned))
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
    Cancelling the task cancels every job already on the server."""
    from ._tasks import edit_request_async

    check_timeout(timeout)
    started = time.monotonic()
    items = [_as_request(item, i) for i, item in enumerate(requests)]
    conn = connection or current_connection()
    planned = await asyncio.to_thread(_admit_batch, items, conn, fresh)
    gate = asyncio.Semaphore(max(1, concurrency))
    bar = _bar(len(items), progress, _cost_line(planned))

    async def one(item: KlingO1Request | KlingValidationError, plan: Planned) -> Outcome:
        if isinstance(plan, Exception):
            outcome: Outcome = plan
        else:
            async with gate:
                try:
                    outcome = await edit_request_async(
                        item,  # type: ignore[arg-type]
                        conn,
                        timeout=timeout,
                        progress=False,
                        admitted=plan,
                    )
                except KlingError as exc:
                    outcome = exc
        bar.update(1)
        return outcome

    try:
        outcomes = await asyncio.gather(*(one(i, p) for i, p in zip(items, planned, strict=True)))
    finally:
        bar.close()
    labels = [_label(item) if isinstance(item, KlingO1Request) else "" for item in items]
    result = BatchResult(list(outcomes), labels, time.monotonic() - started)
    result.note = _money_note(planned)
    result._sheet = _sheet(result)
    return result


def _label(request: KlingO1Request) -> str:
    """The prompt, and the parameters that differ from the defaults."""
    defaults = KlingO1Request(request.prompt, []).parameters()
    changed = [str(v) for k, v in request.parameters().items() if defaults.get(k) != v]
    return " · ".join([clip(request.prompt, 40), *changed])


Planned = Admitted | KlingError


def _admit_batch(
    items: Sequence[KlingO1Request | KlingValidationError], conn: Connection, fresh: bool
) -> list[Planned]:
    """Encode every item (in parallel), then admit them all at once: replays found, the
    budget split in order over the rest, each item whole or refused before anything is sent."""
    from ._money import admit_all

    def encode(item: KlingO1Request | KlingValidationError) -> Any:
        if isinstance(item, KlingValidationError):
            return item
        try:
            return item.prepare(conn.profile)
        except KlingError as exc:
            return exc

    with ThreadPoolExecutor(4, thread_name_prefix="kling_nb-encode") as pool:
        encoded = list(pool.map(encode, items))
    sendable = [i for i, e in enumerate(encoded) if not isinstance(e, Exception)]
    admissions = admit_all(
        conn,
        [(ENDPOINT, encoded[i][0], items[i]) for i in sendable],  # type: ignore[misc]
        fresh=fresh or not conn.replay,
    )
    planned: list[Planned] = list(encoded)
    for i, admission in zip(sendable, admissions, strict=True):
        body, prepared = encoded[i]
        planned[i] = admission if isinstance(admission, KlingError) else (body, prepared, admission)
    return planned


def _cost_line(planned: Sequence[Planned]) -> str:
    """What the items that will be paid for cost, for the batch's progress line."""
    from ._money import total

    costs = [p[2].cost for p in planned if not isinstance(p, Exception) and not p[2].replay]
    return total(costs).line() if costs else ""


def _money_note(planned: Sequence[Planned]) -> str:
    from ._errors import KlingBudgetError

    replayed = sum(1 for p in planned if not isinstance(p, Exception) and p[2].replay)
    refused = sum(1 for p in planned if isinstance(p, KlingBudgetError))
    notes = [message("money.batch_replayed", count=replayed) if replayed else ""]
    notes.append(message("money.batch_refused", count=refused) if refused else "")
    return " · ".join(filter(None, notes))


def _edit_one(
    request: KlingO1Request, plan: Admitted, conn: Connection, timeout: float | None, slot: Slot
) -> Outcome:
    body, prepared, admission = plan  # checked and encoded before a place is held
    if admission.replay:
        return replay_edit(conn, request, prepared, admission.replay, progress=False)
    with slot.on_server():
        job = send_edit(conn, request, body, prepared, admission)
        if not slot.register(job):
            return job.cancel_as_error()
        output = job.wait(timeout=timeout, progress=slot.seen)
    return job.finish_edit(output, request, prepared)


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


def run_all(
    works: Sequence[Work],
    labels: Sequence[str],
    concurrency: int,
    progress: bool,
    cost: str = "",
) -> BatchResult:
    """Run `works` on `concurrency` threads under one bar; Ctrl-C cancels what is pending."""
    started = time.monotonic()
    if not works:
        return BatchResult([], [], 0.0)
    lock, stop = threading.Lock(), threading.Event()
    gate = threading.Semaphore(max(1, concurrency))
    slots = [Slot(i, lock, stop, gate) for i in range(len(works))]
    outcomes: list[Outcome | None] = [None] * len(works)
    # Before any worker starts: importing tqdm.auto silences a warning with
    # warnings.catch_warnings(), which is not thread-safe.
    bar = _bar(len(works), progress, cost)
    # Twice the places: while some threads encode inputs or cache results, as many others
    # keep the server busy (Slot.on_server bounds what is on the server).
    pool = ThreadPoolExecutor(2 * max(1, concurrency), thread_name_prefix="kling_nb-batch")
    futures = {
        pool.submit(_run_one, work, slot): slot for work, slot in zip(works, slots, strict=True)
    }
    interrupted = False
    try:
        _collect(futures, set(futures), outcomes, bar, slots)
    except KeyboardInterrupt:
        interrupted = True
        _interrupt(futures, slots, lock, stop)
        left = {f for f in futures if not f.done()}
        try:
            _collect(futures, left, outcomes, bar, slots, grace=INTERRUPT_GRACE)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting for cancelled jobs to report back
    finally:
        bar.close()
        pool.shutdown(wait=False, cancel_futures=True)
    final = [_settled(outcome, slot) for outcome, slot in zip(outcomes, slots, strict=True)]
    result = BatchResult(final, list(labels), time.monotonic() - started, interrupted)
    result._sheet = _sheet(result)
    return result


def _run_one(work: Work, slot: Slot) -> Outcome:
    if slot.stopping:
        return _not_sent(slot)
    try:
        return work(slot)
    except KlingError as exc:
        return exc
    except _NotSent:
        return _not_sent(slot)
    finally:
        slot.done = True


def _collect(
    futures: dict[Future[Outcome], Slot],
    pending: set[Future[Outcome]],
    outcomes: list[Outcome | None],
    bar: Any,
    slots: Sequence[Slot],
    grace: float | None = None,
) -> None:
    """Gather finished futures into `outcomes` until none is pending (or `grace` is over)."""
    limit = None if grace is None else time.monotonic() + grace
    while pending and (limit is None or time.monotonic() < limit):
        done, pending = wait(pending, timeout=TICK, return_when=FIRST_COMPLETED)
        for future in done:
            slot = futures[future]
            outcomes[slot.index] = _outcome_of(future, slot)
            bar.update(1)
        _postfix(bar, slots)


def _outcome_of(future: Future[Outcome], slot: Slot) -> Outcome:
    if future.cancelled():
        return _not_sent(slot)
    error = future.exception()
    # Not a KlingError (those are returned): a bug or an OS error, kept as this item's
    # outcome so that the rest of the batch is not lost; raise_for_errors() re-raises it.
    return error if isinstance(error, Exception) else future.result()


def _interrupt(
    futures: dict[Future[Outcome], Slot],
    slots: Sequence[Slot],
    lock: threading.Lock,
    stop: threading.Event,
) -> None:
    """Stop new submits and cancel, in parallel, every job still pending on the server."""
    with lock:
        stop.set()
        jobs = [s.job for s in slots if s.job is not None and not s.done]
    for future in futures:
        future.cancel()  # not started yet: never sent

    def cancel(job: Job) -> None:
        try:
            job.cancel()
        except KlingError:
            pass  # its wait goes on; if it never reports back, _settled says so

    if jobs:
        with ThreadPoolExecutor(min(16, len(jobs))) as cancellers:
            list(cancellers.map(cancel, jobs))


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
    tuple varies (`resolution=["1K", "2K"]`); any other value is fixed.
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
    values = [v if isinstance(v, (list, tuple)) else [v] for v in parameters.values()]
    return [
        KlingO1Request(prompt, image_set, **dict(zip(names, combo, strict=True)))
        for prompt, image_set, combo in itertools.product(
            prompt_list, image_sets, itertools.product(*values)
        )
    ]


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
