"""The panel's run controller: every call into the job engine, and none into widgets.

A run is submitted and waited for on a worker thread (the engine's sync API); what happens
is written into the model, which tells the views. Cancel interrupts the worker's wait, and the
engine cancels on the server and says what the service did (confirmed, requested, not
supported…): only a confirmed cancel ends a run as "cancelled"; any other leaves it "stopped",
resumable, and Collect (`kling_nb.resume`) fetches its pictures later. Everything slow —
the wait, the gallery's JPEGs and drift figures, the before/after comparison, collecting,
image 1 made ready to draw a region on, a region's plan — happens on worker threads, never
on the kernel's loop and never under the model's lock. The job pipeline
(and numpy with it) is imported on a worker too, after the panel is built (`warm`): building
a panel stays quick.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from PIL import Image as PILImage

from .._config import Connection, Settings, current_connection
from .._errors import (
    KlingCancelledError,
    KlingError,
    KlingJobError,
    KlingTimeoutError,
)
from .._i18n import MESSAGES, Language, message
from .._progress import NoProgress
from .._secrets import scrub
from .._text import clip
from .._wire import JobStatus
from .model import PanelModel
from .state import (
    Box,
    CancelOutcome,
    PanelImage,
    PanelRun,
    PanelState,
    Picture,
    RegionPlanWords,
    RunState,
    Surface,
)

if TYPE_CHECKING:
    from .._entry import JournalEntry
    from .._job import Job
    from .._request import KlingO1Request
    from .._results import EditResult

RUN_TIMEOUT = 900.0  # s a run may take: `edit`'s own default (_job.DEFAULT_TIMEOUT, tested)
RESULT_SIDE = 640  # px of a gallery thumbnail (shown at 300 px)
JOURNAL_ROWS = 30  # the journal's latest rows offered for restoring


def with_region(request: KlingO1Request, region: Box | None) -> KlingO1Request:
    """`request` as `KlingO1Request(..., region=region)` (issue 19); as it is without one."""
    return request if region is None else replace(request, region=region)


class _RunProgress(NoProgress):
    """Each status of the job, into the model."""

    def __init__(self, model: PanelModel, number: int):
        self.model = model
        self.number = number

    def update(self, status: JobStatus, elapsed: float) -> None:
        self.model.progressed(self.number, status)


class RunController:
    """Starts, follows, cancels and collects runs; talks to the engine, never to widgets."""

    def __init__(self, model: PanelModel, timeout: float | None = RUN_TIMEOUT):
        self.model = model
        self.timeout = timeout
        self._jobs: dict[int, Job] = {}  # run number → its job, once submitted
        self._lock = threading.Lock()
        self._journal_lock = threading.Lock()
        self._plan_wanted: PanelState | None = None  # the newest state to plan a region for
        self._planning = False  # a worker is making plans
        self._surfaces: set[int] = set()  # id() of the images being made ready to draw on

    def request(self, state: PanelState) -> KlingO1Request:
        """The request a Run of `state` sends: its fields, images and region."""
        return with_region(state.request(), state.region)

    def start(self, run: PanelRun, request: KlingO1Request) -> Future[EditResult]:
        """Submit and wait for `run` on a worker thread; its Future."""
        _worker(f"kling_nb panel run #{run.number}", self._work, run, request)
        return run.future

    def cancel(self, number: int) -> bool:
        """Stop run #number's wait: the engine cancels on the server and says what it did."""
        if not self.model.ask_cancel(number):
            return False
        with self._lock:
            job = self._jobs.get(number)
        if job is not None:
            job.interrupt()
        return True

    def _work(self, run: PanelRun, request: KlingO1Request) -> None:
        """The worker: submit, wait, fetch, make thumbnails; the Future is always resolved."""
        result: EditResult | None = None
        pictures: tuple[Picture, ...] = ()
        failure: BaseException | None = None
        state: RunState
        error: str | None
        cancel: CancelOutcome | None = None
        try:
            result = self._produce(run, request)
            pictures = gallery_of(result, self.model.lang, measured=False)
        except (KlingCancelledError, KlingTimeoutError) as exc:
            failure = exc
            state, error, cancel = stopped(exc)
        except KlingError as exc:
            failure, state, error = exc, "failed", scrub(str(exc))
        except Exception as exc:  # the thread's last stop: say it in words, keep it on the Future
            failure, state, error = exc, "failed", self.unexpected(exc)
        else:
            state, error = "completed", None
        with self._lock:
            self._jobs.pop(run.number, None)
        # The model first (its views are asked to render), then the Future: whoever waits on
        # it finds the panel's state final, and wait() its widgets too.
        try:
            kept = None if failure else result
            self.model.finish_run(run.number, state, error, kept, pictures, cancel)
            self.refresh_journal()
            if kept is not None:  # the pictures are on show; now their drift, and the sheet
                self._measure(run.number, kept)
        finally:  # whatever happened above, nobody waits on this run forever
            if failure is None and result is not None:
                run.future.set_result(result)
            else:
                run.future.set_exception(failure or KlingError(error or state))

    def _measure(self, number: int, result: EditResult) -> None:
        """Measure the drift of run #number's pictures, on show already, and make the
        result's sheet; a picture that cannot be measured says "n/a"."""
        from .._results import finish_sheet

        with contextlib.suppress(Exception):  # a file gone meanwhile: its drift says n/a
            finish_sheet(result)
        self.model.measured(number, drift_captions(result, self.model.lang))

    def _produce(self, run: PanelRun, request: KlingO1Request) -> EditResult:
        from .._admission import Replayed
        from .._api import start_edit
        from .._cache import finish_edit

        # Reuse ticked: an identical finished request is replayed, not paid; else a new job.
        fresh = not self.model.reuse
        started = start_edit(request, run.connection, fresh=fresh, progress=False)
        if isinstance(started, Replayed):
            self.model.submitted(run.number, started.request_id)
            self.model.say(self.model.t("money.replay_cache", request_id=started.request_id))
            replayed: EditResult = started.value  # an edit's replay is an EditResult
            return replayed
        job = started.job
        with self._lock:
            self._jobs[run.number] = job
        self.model.submitted(run.number, job.request_id)
        if self.model.run(run.number).cancel_requested:
            job.interrupt()  # Cancel came while the job was being submitted
        output = job.wait_output(self.timeout, None, _RunProgress(self.model, run.number))
        return finish_edit(job, output, request, started.inputs, sheet=False)

    def collect(self, number: int) -> Future[EditResult]:
        """Fetch a stopped run's pictures when its job finishes (kling_nb.resume), off the loop."""
        run = self.model.begin_collect(number)
        future: Future[EditResult] = Future()
        _worker(f"kling_nb panel collect #{number}", self._collect, run, future)
        return future

    def _collect(self, run: PanelRun, future: Future[EditResult]) -> None:
        from .._results import EditResult
        from .._resume import resume

        assert run.request_id is not None  # only a submitted run is collectable
        try:
            result = resume(
                run.request_id, timeout=self.timeout, progress=False, connection=run.connection
            )
            if not isinstance(result, EditResult):
                raise TypeError(f"resume() gave a {type(result).__name__}, not an EditResult")
            pictures = gallery_of(result, self.model.lang)
        except Exception as exc:  # in words in the panel
            try:
                self.model.collect_failed(run.number, self.words(exc), ended=job_ended(exc))
            finally:
                future.set_exception(exc)
            return
        try:
            self.model.collected(run.number, result, pictures)
            self.refresh_journal()
        finally:
            future.set_result(result)

    def compare(self, run: PanelRun) -> None:
        """Make run's before/after picture on a worker; the model gets it, or why not."""
        # It decodes every picture and may fetch inputs given as URLs (30 s timeout).
        result = run.result
        if result is None:
            return

        def make() -> None:
            try:
                jpeg = result.compare().sheet()
            except Exception as exc:  # shown next to the button, in words
                self.model.compared(run.number, None, self.words(exc))
            else:
                self.model.compared(run.number, jpeg)

        _worker(f"kling_nb panel compare #{run.number}", make)

    # --- a region of image 1: its drawing surface and its plan -------------------------------

    def prepare_surface(self, image: PanelImage) -> None:
        """Make `image` ready to draw a region on, on a worker (it decodes the whole photo)."""
        with self._lock:
            if id(image) in self._surfaces:
                return  # already on its way
            self._surfaces.add(id(image))

        def make() -> None:
            from .region import display_photo

            try:
                made = Surface(image, display_photo(image.source))
            except Exception as exc:  # in words where the surface would be
                made = Surface(image, problem=self.words(exc))
            finally:
                with self._lock:
                    self._surfaces.discard(id(image))
            self.model.surface_made(made)

        _worker("kling_nb panel region surface", make)

    def plan(self, state: PanelState) -> None:
        """Word what a region Run of `state` would send, on a worker; the newest state wins."""
        with self._lock:
            self._plan_wanted = state
            if self._planning:
                return  # the worker takes the newest when it is done with the one in hand
            self._planning = True
        _worker("kling_nb panel region plan", self._plans)

    def _plans(self) -> None:
        while True:
            with self._lock:
                state, self._plan_wanted = self._plan_wanted, None
                if state is None:
                    self._planning = False
                    return
            self.model.planned(self._plan_of(state))

    def _plan_of(self, state: PanelState) -> RegionPlanWords:
        """The plan of `state`'s region in words (it crops image 1), or why there is none."""
        assert state.region is not None and state.images
        facts = (state.images[0], state.region, state.resolution, state.aspect_ratio)
        try:
            send = self.request(state).region_send(state.profile)
            assert send is not None  # the request has a region
            return RegionPlanWords(*facts, state.profile, send.plan.describe())
        except Exception as exc:  # a region that cannot be used, said where the plan goes
            return RegionPlanWords(*facts, state.profile, self.words(exc), problem=True)

    def words(self, exc: BaseException) -> str:
        """What went wrong, in words: kling_nb's own, a file's, or an unforeseen error's."""
        if isinstance(exc, KlingError):
            return scrub(str(exc))
        if isinstance(exc, OSError):  # a file gone or unreadable: no bug to report
            return scrub(f"{type(exc).__name__}: {exc}")
        return self.unexpected(exc)

    def unexpected(self, exc: BaseException) -> str:
        """An error kling_nb did not foresee, in words (no traceback)."""
        return scrub(self.model.t("panel.unexpected", kind=type(exc).__name__, detail=exc))

    # --- connection and journal ------------------------------------------------------------

    @staticmethod
    def connection(fixed: Connection | None) -> Connection:
        """The connection runs go to: the one given, else the process's current one."""
        return fixed or current_connection()

    @staticmethod
    def warm(conn: Connection) -> None:
        """Import the job pipeline and build the HTTP client on a worker now, not at Run."""

        def load() -> None:
            from .._api import start_edit  # noqa: F401  (the whole pipeline, numpy included)
            from .._transport import client_for

            _ = client_for(conn).http  # made now: its TLS context, its CA bundle

        _worker("kling_nb panel warm-up", load)

    def home(self) -> Path:
        conn = self.model.connection
        return conn.home if conn else Settings.from_env().home

    def refresh_journal(self, later: bool = False) -> None:
        """The journal's latest rows (other kernels' too) into the model; `later`: on a worker."""
        if self.model.connection is None:
            return
        if later:
            _worker("kling_nb panel journal", self.refresh_journal)
            return
        from .._journal import journal_for

        with self._journal_lock:  # one read at a time: a slower, older read never wins
            try:
                entries = journal_for(self.home()).entries(limit=JOURNAL_ROWS)
            except (KlingError, sqlite3.Error, OSError) as exc:
                # A damaged journal must not take the panel down: say so and go on.
                self.model.say(scrub(f"{self.model.t('panel.journal')}: {exc}"), warn=True)
                return
            self.model.set_journal([(self._journal_label(e), e.id) for e in entries])

    def _journal_label(self, entry: JournalEntry) -> str:
        prompt = " ".join(str(entry.prompt).split())
        key = f"panel.jstate_{entry.state}"
        state = self.model.t(key) if key in MESSAGES else entry.state
        backend = self.model.backend_label(entry.backend)
        return scrub(f"{entry.created()} · {state} · {backend} · {clip(prompt, 60)}")

    def journal_arguments(self, entry_id: int) -> dict[str, object] | None:
        """A journal row's request arguments, or None if there is no such row."""
        from .._journal import journal_for

        entry = journal_for(self.home()).get(entry_id)
        return dict(entry.arguments) if entry is not None else None


def stopped(
    exc: KlingCancelledError | KlingTimeoutError,
) -> tuple[RunState, str | None, CancelOutcome]:
    """How a stopped wait ends a run: state, words, and what the service said to the cancel."""
    # A cancelled error that names no outcome comes from a job the service reports cancelled.
    unnamed: CancelOutcome = "confirmed" if isinstance(exc, KlingCancelledError) else "failed"
    cancel = next((o for o in get_args(CancelOutcome) if o == exc.cancel), unnamed)
    text = scrub(str(exc))
    if cancel != "confirmed":
        return "stopped", text, cancel  # may still run and be billed: collectable later
    if isinstance(exc, KlingTimeoutError):
        return "failed", text, cancel  # the deadline ended it; nothing billed
    return "cancelled", None, cancel


def job_ended(exc: BaseException) -> bool:
    """True when a failed collect means the job is over without pictures (else: try later)."""
    # Over: it failed, or a cancel was confirmed after all. Not over: a stopped wait, no network.
    if isinstance(exc, (KlingCancelledError, KlingTimeoutError)):
        return exc.cancel == "confirmed"
    return isinstance(exc, KlingJobError)


def gallery_of(
    result: EditResult, lang: Language | None = None, *, measured: bool = True
) -> tuple[Picture, ...]:
    """The gallery's pictures of a result: captions, small JPEGs and drift figures (made off
    the loop: the drift was measured when the result was built, else it is measured now).
    `measured=False`: the drift says it is being measured (the pictures show first)."""
    if measured:
        drifts = drift_captions(result, lang)
    else:
        drifts = [message("drift.caption_pending", lang)] * len(result.images)
    return tuple(
        Picture(im.caption(), gallery_jpeg(im.path), drift)
        for im, drift in zip(result.images, drifts, strict=True)
    )


def drift_captions(result: EditResult, lang: Language | None = None) -> list[str]:
    """One drift figure per output ("drift 0.3 ΔE"), or "drift n/a" where it cannot be measured."""
    try:
        drifts = result.drift()
    except (KlingError, OSError, ValueError):  # no input to compare with, or a file gone
        drifts = []
    if len(drifts) != len(result.images):
        return [message("drift.caption_na", lang)] * len(result.images)
    return [drift.caption() for drift in drifts]


def _worker(name: str, target: Callable[..., None], *args: Any) -> None:
    """Run `target(*args)` on a daemon thread (a closing kernel does not wait for a job)."""
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def gallery_jpeg(path: Path) -> bytes:
    """A gallery picture of a result file, shrunk by a whole factor."""
    # Not thumbnail_bytes(): this is on the way from Run to the gallery, and reduce() is fast.
    with PILImage.open(path) as image:
        factor = max(1, max(image.size) // RESULT_SIDE)
        small = image.reduce(factor) if factor > 1 else image.copy()
    if small.mode != "RGB":
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, "JPEG", quality=85)
    return out.getvalue()
