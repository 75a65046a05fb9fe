"""`EditPanel`: the model, its views, the run controller and the dispatcher, put together.

Every public method changes the model on the dispatcher's loop thread (the kernel's, in a
notebook); the views render what changed there too, from a snapshot of the model. The run
controller's workers only write the model. Scripts and tests use the same surface as the
buttons.
"""

from __future__ import annotations

import functools
import hashlib
import html
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._config import Connection
from .._errors import KlingError, KlingValidationError
from .._files import atomic_write_bytes, child_path, safe_name
from .._i18n import Language
from .._rules import Violation
from .._secrets import scrub
from .._wire import IMAGES_MAX
from .codegen import edit_code
from .compat import clear_upload, upload_entries
from .dispatcher import Dispatcher
from .model import ASPECTS, PanelModel, type_error
from .runner import RUN_TIMEOUT, RunController
from .state import Box, PanelImage, PanelRun, PanelState, is_web, reference_token
from .views import PanelView, PanelWidgets, close_tree, put, set_children

if TYPE_CHECKING:  # the job pipeline and numpy load with the first image or Run
    from .._images import ImageInput
    from .._results import EditResult
    from .region import DisplayPhoto

P = ParamSpec("P")
T = TypeVar("T")
TICK = 0.5  # s between redraws of the elapsed time while a run is going (≤ 2 messages/s)


def _on_loop(method: Callable[P, T]) -> Callable[P, T]:
    """Run the method on the panel's loop thread (at once if already there)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        panel = args[0]
        assert isinstance(panel, EditPanel)
        return panel._dispatch.call(lambda: method(*args, **kwargs))

    return wrapper


class EditPanel:
    """An interactive Kling O1 editor: reference images, prompt, parameters, run, results."""

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        prompt: str = "",
        images: Sequence[ImageInput] = (),
        timeout: float | None = RUN_TIMEOUT,
        lang: Language | None = None,
    ):
        self._fixed_connection = connection
        self._dispatch = Dispatcher(on_error=self._update_failed)
        self._model = PanelModel(lang)
        self._runner = RunController(self._model, timeout)
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._rendering = False
        self._last_tick = 0.0
        # The drawing surface on image 1 (made on the loop from a picture decoded on a
        # worker), the image it shows, and how to stop listening to it.
        self._surface: Any | None = None
        self._surface_image: PanelImage | None = None
        self._surface_stop: Callable[[], None] | None = None
        self._plan_asked: tuple[Any, ...] | None = None  # the fields a plan was asked for
        self.widgets: PanelWidgets
        self._dispatch.call(lambda: self._build(prompt, images))

    def _build(self, prompt: str, images: Sequence[ImageInput]) -> None:
        self.widgets = PanelWidgets(self._model.t, self)
        self.widget = self.widgets.root
        self._view = PanelView(self.widgets, self._code_of)
        self._model.listener = self._changed
        self._wire()
        self._refresh_connection()
        self._model.set_prompt(prompt)
        self._add_many([(source, None) for source in images])
        self._runner.refresh_journal(later=True)  # sqlite, off the loop: the panel shows first
        self._changed(ASPECTS)

    # --- display -----------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython import display as ipython_display

        display: Callable[..., None] = ipython_display.display  # IPython's is untyped
        # The widget's own bundle, with a readable text/plain: what GitHub and nbval see.
        view = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
        bundle = {"text/plain": repr(self), "application/vnd.jupyter.widget-view+json": view}
        display(bundle, raw=True)

    def __repr__(self) -> str:
        s = self._model.snapshot()
        backend = s.backend_label(s.connection.label) if s.connection else "-"
        return s.t(
            "panel.repr",
            backend=backend,
            images=len(s.images),
            runs=len(s.runs),
            status=s.status_line(),
        )

    def close(self) -> None:
        """Close the panel's widgets (a run still going goes on; cancel() stops it)."""
        self._model.listener = None
        if self._surface_stop is not None:
            self._surface_stop()
        self._dispatch.call(self.widgets.close)

    # --- rendering: model → widgets, on the loop -------------------------------------------

    def _changed(self, aspects: frozenset[str]) -> None:
        with self._pending_lock:
            queued = bool(self._pending)
            self._pending |= aspects
        if not queued:
            self._dispatch.post(self._render)

    def _render(self) -> None:
        with self._pending_lock:
            aspects, self._pending = frozenset(self._pending), set()
        if not aspects:
            return
        self._rendering = True  # widget echoes of what is rendered are not user input
        try:
            state = self._model.snapshot()
            if aspects & {"region", "images", "parameters", "connection"}:
                self._follow_region(state)
            self._view.render(aspects, state)
        finally:
            self._rendering = False

    def _update_failed(self, exc: BaseException) -> None:
        """A render failed: say so in the error box (rendered directly, once)."""
        text = self._runner.unexpected(exc)
        self._model.fail(text)
        put(self.widgets.error, "value", html.escape(text))
        self.widgets.error.layout.display = None

    def _wire(self) -> None:
        ws = self.widgets
        ws.add.on_click(lambda _: self._add_from_text())
        ws.upload.observe(self._from_widget(self.add_uploads), names="value")
        ws.prompt.observe(self._from_widget(self._model.set_prompt), names="value")
        for name in ("resolution", "aspect_ratio", "num_images", "output_format"):
            setter = functools.partial(self._model.set_parameter, name)
            getattr(ws, name).observe(self._from_widget(setter), names="value")
        ws.reuse.observe(self._from_widget(self._model.set_reuse), names="value")
        ws.region_toggle.observe(self._from_widget(self._model.set_marking), names="value")
        ws.run.on_click(lambda _: self.run())
        ws.cancel.on_click(lambda _: self.cancel())
        ws.code_toggle.on_click(lambda _: self.toggle_code())
        ws.compare.on_click(lambda _: self.toggle_compare())
        ws.save_all.on_click(lambda _: self.save())
        ws.history.observe(self._from_widget(self._model.select), names="value")
        ws.history_collect.on_click(lambda _: self._collect_picked())
        ws.history_restore.on_click(
            lambda _: self.restore(ws.history.value) if ws.history.value else None
        )
        ws.history_show.on_click(
            lambda _: self.show_run(ws.history.value) if ws.history.value else None
        )
        ws.journal_restore.on_click(
            lambda _: self.restore_journal(ws.journal.value) if ws.journal.value else None
        )

    def _from_widget(self, apply: Callable[[Any], object]) -> Callable[[dict[str, Any]], None]:
        """An observer taking a value the user typed or picked into the model."""

        def observer(change: dict[str, Any]) -> None:
            if self._rendering and self._dispatch.on_loop():
                return
            try:
                self._dispatch.call(lambda: apply(change["new"]))
            except KlingError as exc:
                self._model.fail(str(exc))

        return observer

    # --- fields ------------------------------------------------------------------------------

    @property
    def prompt(self) -> str:
        """The prompt text."""
        return self._model.prompt

    @prompt.setter
    def prompt(self, text: str) -> None:
        self._dispatch.call(lambda: self._model.set_prompt(text))

    @property
    def resolution(self) -> str:
        return self._model.resolution

    @resolution.setter
    def resolution(self, value: str) -> None:
        self._dispatch.call(lambda: self._model.set_parameter("resolution", value))

    @property
    def aspect_ratio(self) -> str:
        return self._model.aspect_ratio

    @aspect_ratio.setter
    def aspect_ratio(self, value: str) -> None:
        self._dispatch.call(lambda: self._model.set_parameter("aspect_ratio", value))

    @property
    def num_images(self) -> int:
        """Images per run; out of range (1–9) is shown next to the field and Run waits."""
        return self._model.num_images

    @num_images.setter
    def num_images(self, value: int) -> None:
        self._dispatch.call(lambda: self._model.set_parameter("num_images", value))

    @property
    def output_format(self) -> str | None:
        """png, jpeg or webp; None leaves the service's default."""
        return self._model.output_format

    @output_format.setter
    def output_format(self, value: str | None) -> None:
        self._dispatch.call(lambda: self._model.set_parameter("output_format", value))

    @property
    def reuse(self) -> bool:
        """Ticked, Run replays an identical finished request (not billed); else a new job."""
        return self._model.reuse

    @reuse.setter
    def reuse(self, value: bool) -> None:
        self._dispatch.call(lambda: self._model.set_reuse(value))

    @property
    def price(self) -> str | None:
        """The estimated cost of the current parameters, as shown next to Run."""
        return self._model.snapshot().price()

    @property
    def timeout(self) -> float | None:
        """Seconds a run may take before it is cancelled (None: no limit)."""
        return self._runner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._runner.timeout = value

    @property
    def images(self) -> list[ImageInput]:
        """The reference images' sources, image_1 first."""
        return [im.source for im in self._model.images]

    @property
    def region(self) -> Box | None:
        """Image 1's part to edit, (left, top, right, bottom) in pixels; None: all of it."""
        return self._model.region

    @region.setter
    def region(self, box: Box | None) -> None:
        self._set_region(box)

    @_on_loop
    def _set_region(self, box: object) -> None:
        self._model.set_region(box)

    @_on_loop
    def clear_region(self) -> None:
        """Forget the region: Run edits the whole of image 1 again."""
        self._model.set_region(None)

    @_on_loop
    def mark_region(self, on: bool = True) -> None:
        """Show (or hide) the drawing surface on image 1: drag on it to set `region`."""
        # As the "Mark a region" button does. Image 1 is decoded on a worker first; meanwhile
        # the region section says it is being prepared.
        self._model.set_marking(on)

    @property
    def region_surface(self) -> Any | None:
        """The drawing surface on image 1 (`region_picker`), while one is shown."""
        return self._surface

    def _follow_region(self, s: PanelState) -> None:
        """Keep the drawing surface and the region's plan in step with `s` (on the loop)."""
        first = s.images[0] if s.images else None
        if self._surface is not None and (not s.marking or self._surface_image is not first):
            self._drop_surface()  # marking stopped, or image 1 is another picture
        if s.marking and first is not None and self._surface is None:
            ready = s.surface_ready
            if ready is not None:
                self._make_surface(first, ready, s.region)
            elif s.surface is None or s.surface.image is not first:
                self._runner.prepare_surface(first)  # decoded on a worker; then made here
        asked = (first, s.region, s.resolution, s.aspect_ratio, s.profile)
        known = self._plan_asked
        same = known is not None and known[0] is first and known[1:] == asked[1:]
        if s.region is not None and s.current_plan is None and not same:
            self._plan_asked = asked
            self._runner.plan(s)  # it crops image 1: on a worker

    def _make_surface(self, image: PanelImage, photo: DisplayPhoto, box: Box | None) -> None:
        from traitlets import TraitError

        from .region import region_picker

        picker = region_picker(photo)
        try:
            picker.box = box
        except TraitError:  # not a box of this picture: it starts empty
            pass
        self._surface, self._surface_image = picker, image
        self._surface_stop = picker.on_box(self._from_surface)
        self._place_region_surface(picker)

    def _drop_surface(self) -> None:
        surface, stop = self._surface, self._surface_stop
        self._surface = self._surface_image = self._surface_stop = None
        if stop is not None:
            stop()
        self._place_region_surface(None)
        close_tree(surface)

    def _from_surface(self, box: object) -> None:
        """A box drawn on the surface (from the page): the region, set on the loop."""
        if self._rendering and self._dispatch.on_loop():
            return  # the surface following the state, not the user
        try:
            self._dispatch.call(lambda: self._model.set_region(box))
        except KlingError as exc:
            self._model.fail(str(exc))
            self._model.changed("region")  # the surface goes back to the region as it is

    @_on_loop
    def _place_region_surface(self, surface: Any | None) -> None:
        """Put the widget that draws image 1's region (it sets `region`) in its place."""
        # None takes it away; the section shows while there is an image 1 to draw on.
        place = self.widgets.region_parts().surface
        set_children(place, [surface] if surface is not None else [])
        self._model.changed("region")

    @property
    def connection(self) -> Connection | None:
        """The backend the next Run goes to (None if connecting failed; see last_error)."""
        return self._model.connection

    @property
    def last_error(self) -> str | None:
        """The error the panel shows, in words (None when there is none)."""
        return self._model.error

    def parameters(self) -> dict[str, Any]:
        """The request's fields but the images, as they would be sent now."""
        return self._model.parameters()

    # --- reference images --------------------------------------------------------------------

    @_on_loop
    def add_image(self, source: ImageInput, label: str | None = None) -> int | None:
        """Add a path, URL, PIL image, bytes or array as the next image; its number, or None."""
        # A source that can't be opened is refused, in words, in the panel (and `last_error`).
        added = self._add_many([(source, label)])
        return added[0] if added else None

    @_on_loop
    def add_uploads(self, value: object) -> list[int]:
        """Add the files of a FileUpload value (ipywidgets 7 or 8 form); their numbers."""
        entries = upload_entries(value)
        if not entries:
            return []
        try:
            stored = [(str(self._store_upload(name, data)), name) for name, data in entries]
        except (OSError, KlingError) as exc:
            self._model.fail(scrub(f"{type(exc).__name__}: {exc}"))
            return []
        added = self._add_many(stored)
        clear_upload(self.widgets.upload)
        return added

    @_on_loop
    def _add_from_text(self) -> None:
        text = self.widgets.source.value.strip()
        if text and self.add_image(text) is not None:
            self.widgets.source.value = ""

    def _add_many(self, items: Sequence[tuple[ImageInput, str | None]]) -> list[int]:
        m = self._model
        start = m.next_index()
        loaded: list[PanelImage] = []
        problems: list[str] = []
        for source, label in items:
            try:
                loaded.append(PanelImage.load(source, label, start + len(loaded)))
            except KlingError as exc:  # named as the image_urls index it would have had
                problems.append(str(exc))
        numbers, skipped = m.add_images(loaded)
        if skipped:
            problems.append(m.t("panel.full", limit=IMAGES_MAX, names=", ".join(skipped)))
        m.fail("\n".join(problems) or None)
        if numbers:
            m.say(m.t("panel.added", names=", ".join(im.label for im in loaded[: len(numbers)])))
        return numbers

    def _store_upload(self, name: str, data: bytes) -> Path:
        """Keep an upload as a file, so runs, history and `show code` can name it."""
        digest = hashlib.sha256(data).hexdigest()[:12]
        folder = self._runner.home() / "uploads"
        path = child_path(folder, f"{digest}-{safe_name(name, 'upload')[-80:]}")
        if not path.exists():
            atomic_write_bytes(path, data)
        return path

    @_on_loop
    def remove_image(self, number: int) -> None:
        """Remove image_<number>; later references in the prompt move down by one."""
        # References to the removed image now point past the last one (flagged at once), which
        # is also where the next added image lands.
        self._model.remove_image(number)

    @_on_loop
    def move_image(self, number: int, to: int) -> None:
        """Move image_<number> to position `to` (1-based); the prompt's references follow it."""
        self._model.move_image(number, to)

    @_on_loop
    def insert_reference(self, number: int) -> None:
        """Append the reference to image_<number> to the prompt, in the backend's syntax."""
        token = reference_token(self._model.check_number(number), self._model.profile)
        text = self._model.prompt.rstrip()
        self._model.set_prompt(f"{text} {token}" if text else f"{token} ")

    @_on_loop
    def clear_images(self) -> None:
        """Remove every reference image."""
        self._model.set_images([])

    # --- connection --------------------------------------------------------------------------

    def _refresh_connection(self) -> Connection | None:
        """Follow the process's current connection (unless one was given)."""
        try:
            conn = self._runner.connection(self._fixed_connection)
        except KlingError as exc:
            self._model.connect(None)
            self._model.fail(scrub(str(exc)))
            return None
        if self._model.connect(conn):
            # After this call (in a notebook: after the cell) — the panel shows first.
            self._dispatch.loop.call_soon_threadsafe(self._runner.warm, conn)
        return conn

    # --- run, wait, cancel -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a run is going."""
        return self._model.active is not None

    @_on_loop
    def run(self) -> Future[EditResult]:
        """Start a run on a worker thread and return its Future (the kernel stays free)."""
        # While a run is going, another Run is refused, visibly, and its Future is returned.
        # Invalid input is refused before anything is sent: the Future holds the error.
        m = self._model
        active = m.active
        if active is not None:
            m.say(m.t("panel.busy", number=active.number), warn=True)
            return active.future
        refused: Future[EditResult] = Future()
        conn = self._refresh_connection()
        if conn is None:
            refused.set_exception(KlingError(m.error or m.t("panel.not_connected")))
            return refused
        state = m.snapshot()  # what is sent is what is shown, at this moment
        try:
            request = self._runner.request(state)
            request.validate(conn.profile)
        except KlingValidationError as exc:
            m.fail(str(exc))
            refused.set_exception(exc)
            return refused
        run = m.start_run(request, state)
        run.future.add_done_callback(lambda _: self._dispatch.wake())
        self._runner.start(run, request)
        self._dispatch.loop.call_later(TICK, self._tick, run.number)
        return run.future

    def _tick(self, number: int) -> None:
        """Keep the elapsed time moving between status events (on the loop)."""
        if not self._model.run(number).done:
            self._model.changed("status")
            self._dispatch.loop.call_later(TICK, self._tick, number)

    def _tick_while_waiting(self) -> None:
        now = time.monotonic()
        if now - self._last_tick >= TICK:
            self._last_tick = now
            self._model.changed("status")

    def wait(self, timeout: float | None = None) -> EditResult | None:
        """The current (or last) run's result; None if it failed or was cancelled."""
        # From a cell the loop is this thread: the wait runs the panel's updates itself.
        m = self._model
        state = m.snapshot()
        run = state.active_run or (state.runs[-1] if state.runs else None)
        if run is None:
            return None
        if not self._dispatch.pump_until(run.future.done, timeout, self._tick_while_waiting):
            raise TimeoutError(m.t("panel.wait_timeout", number=run.number, timeout=timeout))
        if run.future.exception() is not None:
            return None  # shown in the panel; in `last_error`; the Future keeps the exception
        return run.future.result()

    @_on_loop
    def cancel(self) -> bool:
        """Stop the running job's wait and cancel it on the server; False if nothing was running.

        The run then says what the service did: "cancelled" only when it confirmed (not
        billed); otherwise "stopped" — it may still finish and be billed — and `collect()`
        fetches its pictures."""
        run = self._model.active
        return run is not None and self._runner.cancel(run.number)

    def _collect_picked(self) -> None:
        try:
            self.collect(self.widgets.history.value)
        except KlingError:
            pass  # already said in the panel's error box

    @_on_loop
    def collect(self, number: int | None = None) -> Future[EditResult]:
        """Fetch a stopped run's pictures (default: the latest's) once its job finishes."""
        # As kling_nb.resume(request_id) does, on a worker: the kernel stays free meanwhile.
        if number is None:
            stopped = [run for run in self._model.runs if run.collectable]
            number = stopped[-1].number if stopped else len(self._model.runs)
        try:
            return self._runner.collect(self._model.run(number).number)
        except KlingValidationError as exc:
            self._model.fail(str(exc))
            raise

    # --- status ------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """The status line as plain text."""
        return self._model.snapshot().status_line()

    # --- results -----------------------------------------------------------------------------

    @property
    def result(self) -> EditResult | None:
        """The result on show (the latest completed run's, unless another is shown)."""
        shown = self._model.shown
        return shown.result if shown is not None else None

    @property
    def results(self) -> list[EditResult]:
        """Every completed run's result this session, oldest first."""
        return [r.result for r in self._model.runs if r.result is not None]

    @property
    def history(self) -> list[PanelRun]:
        """Every run of this session, oldest first (each a value: read it again for news)."""
        return list(self._model.runs)

    @_on_loop
    def show_run(self, number: int) -> None:
        """Show run #number's images in the gallery."""
        self._model.show_run(self._model.run(number).number)

    @_on_loop
    def save(self, folder: str | Path | None = None, index: int | None = None) -> list[Path]:
        """Save the shown result's images (or the one at `index`) with their metadata."""
        m, result = self._model, self.result
        if result is None:
            return []
        target = str(folder if folder is not None else self.widgets.folder.value or ".")
        try:
            chosen = result if index is None else _one_image(result, index)
            paths = chosen.save(target)
        except (OSError, KlingError) as exc:
            m.fail(m.t("panel.save_failed", folder=target, detail=scrub(str(exc))))
            return []
        m.say(m.t("panel.saved", paths=", ".join(str(p) for p in paths)))
        return paths

    @_on_loop
    def use_as_input(self, index: int = 0) -> int | None:
        """Add the shown result's image `index` as the next reference image; its number."""
        m, result = self._model, self.result
        if result is None:
            return None
        image = _one_image(result, index).images[0]
        number = self.add_image(str(image.path), f"{result.request_id[:8]} #{index + 1}")
        if number is not None:
            m.say(m.t("panel.used_as_input", index=index + 1, number=number))
        return number

    @_on_loop
    def toggle_compare(self) -> bool:
        """Show or hide inputs and outputs side by side; True if now shown."""
        # The picture is made on a worker (it decodes every image and may fetch inputs given
        # as URLs); until it arrives the panel says it is being prepared.
        wanted = self._model.toggle_compare()
        if wanted is not None:
            self._runner.compare(wanted)
        return self._model.snapshot().compare_shown

    # --- history -----------------------------------------------------------------------------

    @_on_loop
    def restore(self, number: int) -> None:
        """Put run #number's prompt, images and parameters back in the panel."""
        m = self._model
        run = m.run(number)
        self._refresh_connection()
        m.set_images(run.images, run.region)
        m.apply(run.parameters)
        m.say(m.t("panel.restored", number=number))

    @_on_loop
    def restore_journal(self, entry_id: int) -> None:
        """Put a journal row's prompt and parameters back (and its inputs given as URLs)."""
        # The journal keeps no image given as a file or upload, only its fingerprint: those
        # have to be added again, and the panel says so.
        m = self._model
        if isinstance(entry_id, bool) or not isinstance(entry_id, int):
            raise type_error("entry_id", entry_id, "panel_not_whole_number")
        args = self._runner.journal_arguments(entry_id)
        if args is None:
            m.say(m.t("panel.journal_no_row", id=entry_id), warn=True)
            return
        given = args.get("image_urls")
        sources = list(given) if isinstance(given, (list, tuple)) else []
        urls = [u for u in sources if is_web(u)]
        missing = len(sources) - len(urls)
        self._refresh_connection()
        m.apply(args)
        if urls:
            m.set_images([])
            self._add_many([(u, None) for u in urls])
        words = m.t("panel.journal_restored", id=entry_id)
        if missing:
            words += " " + m.t("panel.journal_missing", missing=missing)
        m.say(words, warn=missing > 0)

    # --- show code ---------------------------------------------------------------------------

    def code(self) -> str:
        """The same request as a `kling_nb.edit(...)` call and a guide-style `run_fal_task`."""
        return self._code_of(self._model.snapshot())

    @staticmethod
    def _code_of(state: PanelState) -> str:
        parameters = state.request().parameters()
        return edit_code(parameters, state.images, state.connection, state.lang, state.region)

    @_on_loop
    def toggle_code(self) -> bool:
        """Show or hide the equivalent code; True if now shown."""
        return self._model.toggle_code()


def _one_image(result: EditResult, index: object) -> EditResult:
    """`result` with only its image `index`, or KlingValidationError in words."""
    from dataclasses import replace

    count = len(result.images)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        facts = {"value": index, "count": count}
        raise KlingValidationError([Violation(("index",), "panel_no_image", facts)])
    return replace(result, images=[result.images[index]])
