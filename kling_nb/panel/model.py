"""The panel's state without widgets: the one writer of its `PanelState`.

Every change goes through a method that takes the lock, replaces the immutable state with a
changed copy, and then tells the listener which aspects changed ("images", "prompt",
"parameters", "status", …). The views render those aspects from a snapshot, on the kernel's
event loop, with no lock held; the run controller's workers only ever call these methods.
Nothing here decodes a picture or waits on the network while holding the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._config import Connection
from .._errors import KlingNotInPanelError, KlingValidationError
from .._i18n import Language
from .._rules import Violation
from .._text import clip
from .._wire import ASPECT_RATIOS, IMAGES_MAX, OUTPUT_FORMATS, REFERENCE, JobStatus, Profile
from .state import (
    AUTO,
    Box,
    CancelOutcome,
    ComparePicture,
    Notice,
    PanelImage,
    PanelRun,
    PanelState,
    Picture,
    RegionPlanWords,
    RunState,
    Surface,
)

if TYPE_CHECKING:
    from .._request import KlingO1Request
    from .._results import EditResult

ASPECTS = frozenset(
    {
        "connection",
        "images",
        "region",
        "prompt",
        "parameters",
        "status",
        "runs",
        "result",
        "compare",
        "code",
        "notice",
        "error",
        "journal",
    }
)
# What a run's change makes the views render again.
RUN_ASPECTS = ("status", "runs", "result", "compare", "error", "notice", "parameters")

Listener = Callable[[frozenset[str]], None]


def renumber_references(prompt: str, mapping: Mapping[int, int]) -> str:
    """The prompt with image references renumbered (`<<<image_2>>>` stays in its syntax)."""

    def swap(match: Any) -> str:
        number = int(match.group(1) or match.group(2))
        new = mapping.get(number, number)
        if new == number:
            return str(match.group(0))
        return f"<<<image_{new}>>>" if match.group(1) else f"@Image{new}"

    return REFERENCE.sub(swap, prompt)


class PanelModel:
    """Images, parameters, runs and the current view of one panel; no widgets."""

    def __init__(self, lang: Language | None = None, listener: Listener | None = None):
        self.lock = threading.RLock()
        self.listener = listener
        self._state = PanelState(lang=lang)

    def snapshot(self) -> PanelState:
        """The panel as it is now: an immutable value, safe to read on any thread."""
        return self._state  # replaced whole under the lock, never changed in place

    def _set(self, **changes: Any) -> PanelState:
        """Replace the state with `changes` applied (the caller holds the lock)."""
        self._state = replace(self._state, **changes)
        return self._state

    def changed(self, *aspects: str) -> None:
        """Tell the listener (the views) what to render again."""
        if self.listener is not None:
            self.listener(frozenset(aspects))

    # The fields most callers read, from the current state.
    @property
    def lang(self) -> Language | None:
        return self._state.lang

    @property
    def prompt(self) -> str:
        return self._state.prompt

    @property
    def resolution(self) -> str:
        return self._state.resolution

    @property
    def aspect_ratio(self) -> str:
        return self._state.aspect_ratio

    @property
    def num_images(self) -> int:
        return self._state.num_images

    @property
    def output_format(self) -> str | None:
        return self._state.output_format

    @property
    def reuse(self) -> bool:
        return self._state.reuse

    @property
    def images(self) -> tuple[PanelImage, ...]:
        return self._state.images

    @property
    def region(self) -> Box | None:
        return self._state.region

    @property
    def runs(self) -> tuple[PanelRun, ...]:
        return self._state.runs

    @property
    def active(self) -> PanelRun | None:
        return self._state.active_run

    @property
    def shown(self) -> PanelRun | None:
        return self._state.shown_run

    @property
    def connection(self) -> Connection | None:
        return self._state.connection

    @property
    def profile(self) -> Profile:
        return self._state.profile

    @property
    def error(self) -> str | None:
        return self._state.error

    @property
    def notice(self) -> Notice:
        return self._state.notice

    def t(self, key: str, **facts: object) -> str:
        """A message in the panel's language."""
        return self._state.t(key, **facts)

    def backend_label(self, label: str) -> str:
        return self._state.backend_label(label)

    # --- parameters --------------------------------------------------------------------------

    def set_prompt(self, text: object) -> None:
        """Change the prompt; anything but text is refused in words."""
        if not isinstance(text, str):
            raise type_error("prompt", text, "panel_not_text")
        with self.lock:
            if text == self._state.prompt:
                return
            self._set(prompt=text)
        self.changed("prompt", "code")

    def set_parameter(self, name: str, value: object) -> None:
        """Change resolution, aspect_ratio, num_images or output_format, checked in words."""
        with self.lock:
            value = self._checked(name, value)
            if name == "resolution":  # chosen: a region drawn later leaves it as it is
                self._set(resolution_picked=value != AUTO)
            if getattr(self._state, name) == value:
                return
            self._set(**{name: value})
        planned = ("region",) if name in ("resolution", "aspect_ratio") else ()
        self.changed("parameters", "code", *planned)  # a region's plan depends on them

    def _checked(self, name: str, value: object) -> Any:
        if name == "num_images":
            # Out of range is kept and shown next to the field (Run is then disabled);
            # what is not a whole number at all is refused here.
            if isinstance(value, bool) or not isinstance(value, int):
                raise type_error("num_images", value, "panel_not_whole_number")
            return value
        if name == "output_format":
            value = value or None
            allowed: Sequence[object] = [None, *OUTPUT_FORMATS]
        elif name in ("resolution", "aspect_ratio"):
            allowed = self._state.resolution_choices() if name == "resolution" else ASPECT_RATIOS
        else:
            raise AttributeError(name)  # a programming error, not the user's
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise KlingValidationError(
                [Violation((name,), "choice", {"value": value, "allowed": shown})]
            )
        return value

    def set_reuse(self, value: object) -> None:
        """Tick (True) to let Run replay an identical completed request rather than pay."""
        if not isinstance(value, bool):
            raise type_error("reuse", value, "panel_not_bool")
        with self.lock:
            if value == self._state.reuse:
                return
            self._set(reuse=value)
        self.changed("parameters")

    def apply(self, params: Mapping[str, Any]) -> None:
        """Put a past request's prompt and parameters back; what no longer fits is left."""
        with self.lock:
            s = self._state
            number = params.get("num_images", 1)
            fmt = params.get("output_format")
            prompt = params.get("prompt", "")
            # A region run sent no resolution when its plan picked it: AUTO again.
            resolution = params.get("resolution") or (AUTO if s.region is not None else None)
            self._set(
                resolution=resolution if resolution in s.resolution_choices() else s.resolution,
                aspect_ratio=params["aspect_ratio"]
                if params.get("aspect_ratio") in ASPECT_RATIOS
                else s.aspect_ratio,
                num_images=number
                if isinstance(number, int) and not isinstance(number, bool)
                else s.num_images,
                output_format=fmt if fmt in OUTPUT_FORMATS else None,
                prompt=prompt if isinstance(prompt, str) else "",
            )
        self.changed("prompt", "parameters", "code", "region")

    def connect(self, conn: Connection | None) -> bool:
        """Follow a new connection (None: not connected); True if it changed."""
        with self.lock:
            if conn == self._state.connection:
                return False
            s = self._set(connection=conn)
            if s.resolution not in s.resolution_choices():
                self._set(resolution=s.resolution_choices()[0])
        self.changed("connection", "parameters", "images", "region", "code")
        return True

    # --- images ------------------------------------------------------------------------------

    def add_images(self, loaded: Sequence[PanelImage]) -> tuple[list[int], list[str]]:
        """Append images while there is room; their numbers, and the labels left out."""
        with self.lock:
            images = self._state.images
            room = IMAGES_MAX - len(images)
            kept, skipped = tuple(loaded[:room]), [im.label for im in loaded[room:]]
            self._set(images=images + kept)
        if kept:
            self.changed("images", "prompt", "code")
        start = len(images)
        return list(range(start + 1, start + 1 + len(kept))), skipped

    def next_index(self) -> int:
        """image_urls index the next added image gets."""
        return len(self._state.images)

    def check_number(self, number: object) -> int:
        """`number` as an existing image's number, or KlingValidationError in words."""
        count = len(self._state.images)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= count:
            raise KlingNotInPanelError(
                [Violation(("image",), "panel_no_image", {"value": number, "count": count})]
            )
        return number

    def remove_image(self, number: int) -> None:
        """Remove image_<number>; later references move down, its own points past the end."""
        with self.lock:
            self.check_number(number)
            images = list(self._state.images)
            count = len(images)
            del images[number - 1]
            mapping = {n: n - 1 for n in range(number + 1, count + 1)}
            mapping[number] = count
            prompt = renumber_references(self._state.prompt, mapping)
            self._replace_images(images, prompt=prompt)
        self.changed("images", "region", "parameters", "prompt", "code", "notice")

    def move_image(self, number: int, to: int) -> None:
        """Move image_<number> to position `to`; the prompt's references follow it."""
        with self.lock:
            self.check_number(number)
            if isinstance(to, bool) or not isinstance(to, int):
                raise type_error("to", to, "panel_not_whole_number")
            images = self._state.images
            to = max(1, min(len(images), to))
            order = list(range(1, len(images) + 1))
            order.insert(to - 1, order.pop(number - 1))
            mapping = {old: new for new, old in enumerate(order, start=1)}
            prompt = renumber_references(self._state.prompt, mapping)
            self._replace_images([images[old - 1] for old in order], prompt=prompt)
        self.changed("images", "region", "parameters", "prompt", "code", "notice")

    def set_images(self, images: Iterable[PanelImage], region: Box | None = None) -> None:
        """Replace every image (restore, clear), with the region of the new image 1."""
        with self.lock:
            self._replace_images(list(images)[:IMAGES_MAX], region=region)
        self.changed("images", "region", "parameters", "prompt", "code", "notice")

    def _replace_images(self, images: list[PanelImage], **changes: Any) -> None:
        """New images; a region drawn on image 1 goes when image 1 is another picture."""
        s = self._state
        region = changes.pop("region", s.region)
        first = s.images[0] if s.images else None
        other = not images or images[0] is not first
        if s.region is not None and region == s.region and other:
            region = None
            changes["notice"] = Notice(s.t("panel.region_cleared"), "warn")
        if other:  # the drawing surface was made from the old image 1
            changes.update(surface=None, marking=s.marking and bool(images))
        self._set(images=tuple(images), **changes)
        self._set(**self._region_changes(region))

    def _region_changes(self, region: Box | None) -> dict[str, Any]:
        """`region`, and the resolution that goes with it: AUTO (its plan picks) when a
        region is set and no resolution was chosen; the whole picture's default without."""
        s = self._state
        changes: dict[str, Any] = {"region": region}
        if region is None and s.resolution == AUTO:
            changes["resolution"] = s.resolutions()[0]
        elif region is not None and s.region is None and not s.resolution_picked:
            changes["resolution"] = AUTO
        return changes

    def set_region(self, box: object) -> None:
        """The region of reference image 1 to edit (left, top, right, bottom); None clears."""
        checked = self.checked_region(box)
        with self.lock:
            s = self._state
            if checked == s.region:
                return
            resolution = self._set(**self._region_changes(checked)).resolution
        more = ("parameters",) if resolution != s.resolution else ()
        self.changed("region", "code", *more)

    def set_marking(self, on: object) -> None:
        """Show (True) or hide the drawing surface on reference image 1."""
        if not isinstance(on, bool):
            raise type_error("marking", on, "panel_not_bool")
        with self.lock:
            if on and not self._state.images:
                facts: dict[str, object] = {"value": on, "width": "?", "height": "?"}
                raise KlingValidationError(
                    [Violation(("marking",), "panel_region_no_image", facts)]
                )
            if on == self._state.marking:
                return
            made = self._state.surface
            if on and made is not None and made.problem:
                self._set(surface=None)  # tried again: the file may have been fixed since
            self._set(marking=on)
        self.changed("region")

    def surface_made(self, surface: Surface) -> None:
        """Image 1 is ready to draw on (or cannot be: `surface.problem` says why)."""
        with self.lock:
            s = self._state
            if not s.images or s.images[0] is not surface.image:
                return  # image 1 changed meanwhile: a new surface is on its way
            self._set(surface=surface)
        self.changed("region")

    def planned(self, words: RegionPlanWords) -> None:
        """The region's plan in words, kept if it still describes what Run would send."""
        with self.lock:
            if not words.fits(self._state):
                return  # the fields changed meanwhile: a newer plan is on its way
            self._set(plan=words)
        self.changed("region")

    def checked_region(self, box: object) -> Box | None:
        """`box` as a region of image 1, or KlingValidationError naming what is wrong."""
        if box is None:
            return None
        images = self._state.images
        size = images[0].size if images else None
        numbers = list(box) if isinstance(box, (tuple, list)) else None
        whole = numbers is not None and all(
            isinstance(n, int) and not isinstance(n, bool) for n in numbers
        )
        if numbers is None or len(numbers) != 4 or not whole:
            code = "panel_region_shape"
        elif not images:
            code = "panel_region_no_image"
        else:
            left, top, right, bottom = numbers
            inside = size is None or (right <= size[0] and bottom <= size[1])
            if 0 <= left < right and 0 <= top < bottom and inside:
                return (left, top, right, bottom)
            code = "panel_region_outside"
        width, height = size or ("?", "?")
        facts: dict[str, object] = {"value": clip(repr(box), 60), "width": width, "height": height}
        raise KlingValidationError([Violation(("region",), code, facts)])

    # --- runs --------------------------------------------------------------------------------

    def start_run(self, request: KlingO1Request, state: PanelState) -> PanelRun:
        """A new run of what `state` shows (its images and region), now the active one."""
        assert state.connection is not None
        with self.lock:
            runs = self._state.runs
            run = PanelRun(
                len(runs) + 1, request.parameters(), state.images, state.connection, state.region
            )
            self._set(
                runs=(*runs, run),
                active=run.number,
                selected=run.number,  # the newest run is the one picked in the list
                error=None,
                notice=Notice(),
            )
        self.changed(*RUN_ASPECTS)
        return run

    def run(self, number: object) -> PanelRun:
        """Run #number of this session, or KlingValidationError in words."""
        state = self._state
        found = state.run(number)
        if found is None:
            facts: dict[str, object] = {"value": number, "count": len(state.runs)}
            raise KlingNotInPanelError([Violation(("run",), "panel_no_run", facts)])
        return found

    def _update_run(self, number: int, **changes: Any) -> PanelRun:
        """Run #number with `changes`, put in its place (the caller holds the lock)."""
        runs = list(self._state.runs)
        runs[number - 1] = replace(runs[number - 1], **changes)
        self._set(runs=tuple(runs))
        return runs[number - 1]

    def submitted(self, number: int, request_id: str) -> None:
        """The job of run #number has its request id (or a replay does)."""
        with self.lock:
            self._update_run(number, request_id=request_id)
        self.changed("status")

    def progressed(self, number: int, status: JobStatus) -> None:
        """A status of run #number's job."""
        with self.lock:
            self._update_run(number, status=status)
        self.changed("status")

    def ask_cancel(self, number: int) -> bool:
        """Note that Cancel was pressed for run #number; False if it is over or already asked."""
        with self.lock:
            run = self.run(number)
            if run.done or run.cancel_requested:
                return False
            self._update_run(number, cancel_requested=True)
        self.changed("status")
        return True

    def finish_run(
        self,
        number: int,
        state: RunState,
        error: str | None = None,
        result: EditResult | None = None,
        gallery: Sequence[Picture] = (),
        cancel: CancelOutcome | None = None,
    ) -> None:
        """Record how a run ended; a result goes on show at once, a stop says what it means."""
        with self.lock:
            run = self.run(number)
            self._update_run(
                number,
                elapsed=run.clock(),
                state=state,
                result=result,
                error=error,
                gallery=tuple(gallery),
                cancel=cancel,
            )
            s = self._state
            changes: dict[str, Any] = {"active": None if s.active == number else s.active}
            if result is not None:
                changes.update(shown=number, compare_shown=False)
            if state == "failed":
                changes["error"] = error
            elif state == "cancelled":
                where = s.t("panel.cancelled_remote", request_id=run.request_id)
                text = s.t("panel.cancelled", number=number, where=where if run.request_id else "")
                changes["notice"] = Notice(text)
            elif state == "stopped":
                changes["notice"] = Notice(self._stopped_words(number, error), "warn")
            self._set(**changes)
        self.changed(*RUN_ASPECTS)

    def _stopped_words(self, number: int, detail: str | None) -> str:
        """A stopped run: that the panel stopped waiting, what the service did, how to collect."""
        s = self._state
        return " ".join(
            filter(None, [s.t("panel.stopped", number=number), detail, s.t("panel.collect_hint")])
        )

    def begin_collect(self, number: int) -> PanelRun:
        """Mark run #number as being collected; KlingValidationError if it cannot be."""
        with self.lock:
            run = self.run(number)
            if not run.collectable:
                facts: dict[str, object] = {"value": number, "state": self._state.state_words(run)}
                raise KlingNotInPanelError([Violation(("run",), "panel_not_collectable", facts)])
            run = self._update_run(number, collecting=True)
            s = self._state
            words = s.t("panel.collect_started", number=number, request_id=run.request_id)
            self._set(notice=Notice(words), error=None)
        self.changed("status", "runs", "notice", "error")
        return run

    def measured(self, number: int, drifts: Sequence[str]) -> None:
        """Run #number's drift figures, measured after its pictures went on show."""
        with self.lock:
            gallery = self.run(number).gallery
            pictures = (replace(p, drift=d) for p, d in zip(gallery, drifts, strict=True))
            self._update_run(number, gallery=tuple(pictures))
        self.changed("result")

    def collected(self, number: int, result: EditResult, gallery: Sequence[Picture]) -> None:
        """Run #number's pictures arrived after all: it is complete, and on show."""
        with self.lock:
            self._update_run(
                number, state="completed", collecting=False, result=result, gallery=tuple(gallery)
            )
            count = len(gallery)
            words = self._state.t("panel.collected", number=number, count=count)
            self._set(shown=number, compare_shown=False, notice=Notice(words))
        self.changed(*RUN_ASPECTS)

    def collect_failed(self, number: int, text: str, ended: bool = False) -> None:
        """Collecting run #number failed: say why; it stays collectable unless its job `ended`."""
        with self.lock:
            if ended:
                self._update_run(number, collecting=False, state="failed", error=text)
            else:
                self._update_run(number, collecting=False)
            words = self._state.t("panel.collect_failed", number=number, detail=text)
            self._set(error=words, notice=Notice())
        self.changed("status", "runs", "error", "notice")

    def show_run(self, number: int) -> None:
        """Put a finished run's result on show."""
        with self.lock:
            run = self.run(number)
            if run.result is None or self._state.shown == number:
                return
            self._set(shown=number, compare_shown=False)
        self.changed("result", "compare")

    def select(self, number: object) -> None:
        """The run picked in the session's runs (what Show, Restore and Collect act on)."""
        with self.lock:
            if number is not None:
                number = self.run(number).number
            if number == self._state.selected:
                return
            self._set(selected=number)
        self.changed("runs")

    # --- comparison --------------------------------------------------------------------------

    def toggle_compare(self) -> PanelRun | None:
        """Show or hide the comparison; the run whose comparison is to be made now, if any."""
        with self.lock:
            s = self._state
            run = s.shown_run
            visible = not s.compare_shown and run is not None and run.result is not None
            wanted = None
            made = s.comparison_of(run)
            if visible and run is not None and (made is None or made.problem is not None):
                wanted = run
                self._set(comparison=ComparePicture(run.number))  # being made
            self._set(compare_shown=visible)
        self.changed("compare")
        return wanted

    def compared(self, number: int, jpeg: bytes | None, problem: str | None = None) -> None:
        """The comparison of run #number is made (or could not be: `problem` says why)."""
        with self.lock:
            waiting = self._state.comparison
            if waiting is not None and waiting.run != number:
                return  # another run's comparison was asked for since: this one is stale
            self._set(comparison=ComparePicture(number, jpeg, problem))
        self.changed("compare")

    # --- messages ----------------------------------------------------------------------------

    def say(self, text: str, warn: bool = False) -> None:
        """The notice line under Run."""
        with self.lock:
            self._set(notice=Notice(text, "warn" if warn else "info"))
        self.changed("notice")

    def fail(self, text: str | None) -> None:
        """The error box (None hides it)."""
        with self.lock:
            self._set(error=text)
        self.changed("error")

    def toggle_code(self) -> bool:
        """Show or hide the equivalent code; the new value."""
        with self.lock:
            shown = self._set(code_shown=not self._state.code_shown).code_shown
        self.changed("code")
        return shown

    def set_journal(self, rows: Sequence[tuple[str, int]]) -> None:
        """The journal's latest rows, newest first."""
        with self.lock:
            if tuple(rows) == self._state.journal:
                return
            self._set(journal=tuple(rows))
        self.changed("journal")

    # --- words of the current state (for scripts and tests) ---------------------------------

    def status_text(self, run: PanelRun | None = None) -> str:
        return self._state.status_line(run)

    def history_text(self, run: PanelRun) -> tuple[str, str, str, str]:
        return self._state.history_row(run)

    def request(self) -> KlingO1Request:
        return self._state.request()

    def parameters(self) -> dict[str, Any]:
        """The request's fields but the images."""
        return self._state.request().parameters()


def type_error(name: str, value: object, code: str) -> KlingValidationError:
    facts: dict[str, object] = {"value": clip(repr(value), 60), "kind": type(value).__name__}
    return KlingValidationError([Violation((name,), code, facts)])
