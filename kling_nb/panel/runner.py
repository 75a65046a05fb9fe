"""The panel's run controller: every call into the job engine, and none into widgets.

A run is submitted and waited for on a worker thread (the engine's sync API); what happens
is written into the model, which tells the views. Cancel asks the server from a short-lived
thread, so the kernel's loop never waits on the network. The journal and the HTTP client
warm-up are engine calls too, so they live here. Moving to the engine's async API later
changes `_work` and `cancel` only.
"""

from __future__ import annotations

import io
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image as PILImage

from .._admission import Replayed
from .._api import start_edit
from .._cache import finish_edit
from .._config import Connection, Settings, current_connection
from .._errors import KlingCancelledError, KlingError
from .._i18n import MESSAGES
from .._job import DEFAULT_TIMEOUT, Job
from .._progress import NoProgress
from .._request import KlingO1Request
from .._results import EditResult
from .._secrets import scrub
from .._transport import client_for
from .._wire import JobStatus
from .model import PanelModel, PanelRun, clip

if TYPE_CHECKING:
    from .._entry import JournalEntry

RESULT_SIDE = 640  # px of a gallery thumbnail (shown at 300 px)
JOURNAL_ROWS = 30  # the journal's latest rows offered for restoring


class _RunProgress(NoProgress):
    """Each status of the job, into the model."""

    def __init__(self, model: PanelModel, run: PanelRun):
        self.model = model
        self.run = run

    def update(self, status: JobStatus, elapsed: float) -> None:
        with self.model.lock:
            self.run.status = status
        self.model.changed("status")


class RunController:
    """Starts, follows and cancels the panel's runs; talks to the engine, never to widgets."""

    def __init__(self, model: PanelModel, timeout: float | None = DEFAULT_TIMEOUT):
        self.model = model
        self.timeout = timeout
        self._jobs: dict[int, Job] = {}  # run number → its job, once submitted
        self._lock = threading.Lock()

    def start(self, run: PanelRun, request: KlingO1Request) -> Future[EditResult]:
        """Submit and wait for `run` on a worker thread; its Future."""
        name = f"kling-nb-run-{run.number}"
        threading.Thread(target=self._work, args=(run, request), name=name, daemon=True).start()
        return run.future

    def cancel(self, run: PanelRun) -> bool:
        """Ask the server to cancel `run` (or the worker right after its submit)."""
        with self.model.lock:
            if run.done or run.cancel_requested:
                return False
            run.cancel_requested = True
        self.model.changed("status")
        with self._lock:
            job = self._jobs.get(run.number)
        if job is not None:
            job.interrupt()  # the worker's wait cancels on the server and says what happened
        return True

    def _work(self, run: PanelRun, request: KlingO1Request) -> None:
        """The worker: submit, wait, fetch, make thumbnails; the Future is always resolved."""
        result: EditResult | None = None
        thumbnails: list[bytes] = []
        failure: BaseException | None = None
        try:
            result = self._produce(run, request)
            thumbnails = [gallery_jpeg(im.path) for im in result.images]
        except KlingCancelledError as exc:
            # Only a cancel the service confirmed ends quietly; any other says what it did.
            quiet = exc.cancel == "confirmed"
            failure, state, error = exc, "cancelled", None if quiet else scrub(str(exc))
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
            self.model.finish_run(run, state, error, None if failure else result, thumbnails)
            self.refresh_journal()
        finally:  # whatever happened above, nobody waits on this run forever
            if failure is None and result is not None:
                run.future.set_result(result)
            else:
                run.future.set_exception(failure or KlingError(error or state))

    def _produce(self, run: PanelRun, request: KlingO1Request) -> EditResult:
        # Reuse ticked: an identical finished request is replayed, not paid; else a new job.
        fresh = not self.model.reuse
        started = start_edit(request, run.connection, fresh=fresh, progress=False)
        if isinstance(started, Replayed):
            with self.model.lock:
                run.request_id = started.request_id
            self.model.say(self.model.t("money.replay_cache", request_id=started.request_id))
            return started.value
        job = started.job
        with self._lock:
            self._jobs[run.number] = job
        with self.model.lock:
            run.request_id = job.request_id
            cancel_now = run.cancel_requested
        self.model.changed("status")
        if cancel_now:
            job.interrupt()
        output = job.wait_output(self.timeout, None, _RunProgress(self.model, run))
        return finish_edit(job, output, request, started.inputs)

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
        """Build the HTTP client (CA bundle, TLS context) now, not on the first Run."""
        threading.Thread(target=lambda: client_for(conn).http, daemon=True).start()

    def home(self) -> Path:
        conn = self.model.connection
        return conn.home if conn else Settings.from_env().home

    def refresh_journal(self) -> None:
        """The journal's latest rows (other sessions and kernels too), into the model."""
        if self.model.connection is None:
            return
        from .._journal import journal_for

        try:
            entries = journal_for(self.home()).entries(limit=JOURNAL_ROWS)
        except (KlingError, sqlite3.Error, OSError) as exc:
            # A damaged journal must not take the panel down: say so and go on.
            self.model.say(scrub(f"{self.model.t('panel.journal')}: {exc}"), warn=True)
            return
        rows = [(self._journal_label(e), e.id) for e in entries]
        with self.model.lock:
            if rows == self.model.journal:
                return
            self.model.journal = rows
        self.model.changed("journal")

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
