"""The panel's state without widgets: images, parameters, runs and what is on show.

Every change goes through a method that takes the lock, changes the state and then tells
the listener which aspects changed ("images", "prompt", "parameters", "status", …). The
views render those aspects on the kernel's event loop; workers and buttons only ever change
the model. The texts the panel shows (status line, history rows, prompt check) are made
here too, in the panel's language, so they can be tested without a widget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .._config import Connection
from .._errors import KlingNotInPanelError, KlingValidationError
from .._i18n import MESSAGES, Language, message
from .._images import ImageInput, describe_source, load_image, thumbnail_bytes
from .._request import KlingO1Request
from .._results import EditResult
from .._rules import Violation, check_image_size
from .._text import clip
from .._wire import (
    ASPECT_RATIOS,
    IMAGES_MAX,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    OUTPUT_FORMATS,
    PROMPT_MAX_CHARS,
    REFERENCE,
    RESOLUTIONS,
    JobStatus,
    Profile,
    referenced_images,
)

THUMB_SIDE = 240  # px of an input thumbnail (shown at 150 px: sharp on HiDPI screens)
STATE_MARKS = {"running": "⏳", "completed": "✓", "failed": "✗", "cancelled": "⊘"}
ASPECTS = frozenset(
    {
        "connection",
        "images",
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


def reference_token(number: int, profile: Profile) -> str:
    """How the backend's own docs write a reference: Qiniu `<<<image_N>>>`, fal `@ImageN`."""
    return f"@Image{number}" if profile == "fal" else f"<<<image_{number}>>>"


def is_web(source: object) -> bool:
    """True for an http(s) URL (sent as it is, never downloaded)."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class PanelImage:
    """One reference image of the panel: its source, a name, and a thumbnail made once."""

    source: ImageInput = field(repr=False)
    label: str
    thumbnail: bytes | None = field(default=None, repr=False)  # JPEG; None: shown by URL
    size: tuple[int, int] | None = None

    @classmethod
    def load(cls, source: ImageInput, label: str | None = None, index: int = 0) -> PanelImage:
        """Open `source` (image_urls[index]) once for its thumbnail; KlingImageError if not."""
        if isinstance(source, Path):
            source = str(source)
        name = label or describe_source(source)
        if is_web(source):
            data = _sample_bytes(str(source))
            if data is None:
                return cls(source, name)  # never downloaded: the browser shows it from the URL
            pixels = load_image(data, index)
        else:
            pixels = load_image(source, index)
        return cls(source, name, thumbnail_bytes(pixels, THUMB_SIDE, 40_000), pixels.size)

    def problems(self, index: int, lang: Language | None = None) -> list[str]:
        """The size rules this image breaks, in words, as image_urls[index]."""
        if self.size is None:
            return []
        return [
            message(f"rule.{v.code}", lang, field=v.field, **v.facts)
            for v in check_image_size(*self.size, index)
        ]


def _sample_bytes(url: str) -> bytes | None:
    """A bundled sample's bytes for its stand-in URL (offline thumbnails), else None."""
    from .._samples import sample_bytes

    return sample_bytes(url)


@dataclass(eq=False)
class PanelRun:
    """One Run of this session: what was asked, and how it ended."""

    number: int
    parameters: dict[str, Any]
    images: list[PanelImage]
    connection: Connection = field(repr=False)
    started_at: float = field(default_factory=time.time)
    state: str = "running"  # running | completed | failed | cancelled
    elapsed: float = 0.0
    request_id: str | None = None
    result: EditResult | None = field(default=None, repr=False)
    error: str | None = None
    future: Future[EditResult] = field(default_factory=Future, repr=False)
    status: JobStatus | None = field(default=None, repr=False)
    thumbnails: list[bytes] = field(default_factory=list, repr=False)
    cancel_requested: bool = False
    _clock_start: float = field(default_factory=time.monotonic, repr=False)

    @property
    def done(self) -> bool:
        return self.state != "running"

    def clock(self) -> float:
        """Seconds since Run, frozen once the run has ended."""
        return self.elapsed if self.done else time.monotonic() - self._clock_start


_SIGNS = {"USD": "$", "CNY": "¥"}  # how a price reads next to Run: ≈ $0.056


class PanelModel:
    """Images, parameters, runs and the current view of one panel; no widgets."""

    def __init__(self, lang: Language | None = None, listener: Listener | None = None):
        self.lang = lang
        self.lock = threading.RLock()
        self.listener = listener
        self.prompt = ""
        self.resolution = "1K"
        self.aspect_ratio = "auto"
        self.num_images = 1  # any int: an out-of-range one is shown, and refused at Run
        self.output_format: str | None = None
        self.images: list[PanelImage] = []
        self.runs: list[PanelRun] = []
        self.active: PanelRun | None = None
        self.shown: PanelRun | None = None
        self.connection: Connection | None = None
        self.error: str | None = None
        self.notice: tuple[str, bool] = ("", False)  # text, warn
        self.code_shown = False
        self.compare_shown = False
        self.reuse = False  # ticked: Run replays an identical completed request instead
        self.journal: list[tuple[str, int]] = []  # (label, row id), newest first

    def t(self, key: str, **facts: object) -> str:
        """A message in the panel's language."""
        return message(key, self.lang, **facts)

    def seconds(self, value: float) -> str:
        return self.t("panel.seconds", value=value)

    def backend_label(self, label: str) -> str:
        """A backend's badge name in the panel's language (a custom host stays as it is)."""
        key = f"panel.backend_{label}"
        return self.t(key) if key in MESSAGES else label

    def changed(self, *aspects: str) -> None:
        """Tell the listener (the views) what to render again."""
        if self.listener is not None:
            self.listener(frozenset(aspects))

    # --- parameters --------------------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self.connection.profile if self.connection else "qiniu"

    def resolutions(self) -> list[str]:
        """The resolutions the connected backend offers."""
        return list(RESOLUTIONS[self.profile])

    def set_prompt(self, text: object) -> None:
        """Change the prompt; anything but text is refused in words."""
        if not isinstance(text, str):
            raise type_error("prompt", text, "panel_not_text")
        with self.lock:
            if text == self.prompt:
                return
            self.prompt = text
        self.changed("prompt", "code")

    def set_parameter(self, name: str, value: object) -> None:
        """Change resolution, aspect_ratio, num_images or output_format, checked in words."""
        with self.lock:
            value = self._checked(name, value)
            if getattr(self, name) == value:
                return
            setattr(self, name, value)
        self.changed("parameters", "code")

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
        else:
            allowed = {"resolution": self.resolutions(), "aspect_ratio": ASPECT_RATIOS}[name]
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise KlingValidationError(
                [Violation((name,), "choice", {"value": value, "allowed": shown})]
            )
        return value

    def num_images_problem(self) -> str | None:
        """Why num_images can't be sent, in words (None if it can)."""
        number = self.num_images
        if NUM_IMAGES_MIN <= number <= NUM_IMAGES_MAX:
            return None
        facts = {"value": number, "low": NUM_IMAGES_MIN, "high": NUM_IMAGES_MAX}
        return self.t("rule.num_images_range", field="num_images", **facts)

    def request(self) -> KlingO1Request:
        """The request Run would send now."""
        with self.lock:
            return KlingO1Request(
                self.prompt,
                [im.source for im in self.images],
                self.resolution,
                self.num_images,
                self.aspect_ratio,
                self.output_format,
            )

    def parameters(self) -> dict[str, Any]:
        """The request's fields but the images."""
        return self.request().parameters()

    def price(self) -> str | None:
        """The estimated cost of the current parameters, in words; None hides the label."""
        from .._money import cost_of, price_for
        from .._price import amount_text

        with self.lock:
            conn, number = self.connection, self.num_images
        if conn is None or not NUM_IMAGES_MIN <= number <= NUM_IMAGES_MAX:
            return None
        if price_for(conn) is None:
            return self.t("money.panel_unknown")
        cost = cost_of(conn, {"num_images": number})
        assert cost.amount is not None  # the price is known
        sign = _SIGNS.get(cost.currency)
        amount = f"{sign}{amount_text(cost.amount)}" if sign else str(cost)
        text = self.t("panel.price", price=amount)
        return text + (self.t("money.panel_emulated") if cost.emulated else "")

    def set_reuse(self, value: object) -> None:
        """Tick (True) to let Run replay an identical completed request rather than pay."""
        if not isinstance(value, bool):
            raise type_error("reuse", value, "panel_not_bool")
        with self.lock:
            if value == self.reuse:
                return
            self.reuse = value
        self.changed("parameters")

    def apply(self, params: Mapping[str, Any]) -> None:
        """Put a past request's prompt and parameters back; what no longer fits is left."""
        with self.lock:
            if params.get("resolution") in self.resolutions():
                self.resolution = params["resolution"]
            if params.get("aspect_ratio") in ASPECT_RATIOS:
                self.aspect_ratio = params["aspect_ratio"]
            number = params.get("num_images", 1)
            if isinstance(number, int) and not isinstance(number, bool):
                self.num_images = number
            fmt = params.get("output_format")
            self.output_format = fmt if fmt in OUTPUT_FORMATS else None
            prompt = params.get("prompt", "")
            self.prompt = prompt if isinstance(prompt, str) else ""
        self.changed("prompt", "parameters", "code")

    def connect(self, conn: Connection | None) -> bool:
        """Follow a new connection (None: not connected); True if it changed."""
        with self.lock:
            if conn == self.connection:
                return False
            self.connection = conn
            allowed = self.resolutions()
            if self.resolution not in allowed:
                self.resolution = allowed[0]
        self.changed("connection", "parameters", "images", "code")
        return True

    # --- images ------------------------------------------------------------------------------

    def add_images(self, loaded: Sequence[PanelImage]) -> tuple[list[int], list[str]]:
        """Append images while there is room; their numbers, and the labels left out."""
        with self.lock:
            room = IMAGES_MAX - len(self.images)
            kept, skipped = list(loaded[:room]), [im.label for im in loaded[room:]]
            start = len(self.images)
            self.images.extend(kept)
        if kept:
            self.changed("images", "prompt", "code")
        return list(range(start + 1, start + 1 + len(kept))), skipped

    def next_index(self) -> int:
        """image_urls index the next added image gets."""
        with self.lock:
            return len(self.images)

    def check_number(self, number: object) -> int:
        """`number` as an existing image's number, or KlingValidationError in words."""
        with self.lock:
            count = len(self.images)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= count:
            raise KlingNotInPanelError(
                [Violation(("image",), "panel_no_image", {"value": number, "count": count})]
            )
        return number

    def remove_image(self, number: int) -> None:
        """Remove image_<number>; later references move down, its own points past the end."""
        with self.lock:
            self.check_number(number)
            count = len(self.images)
            del self.images[number - 1]
            mapping = {n: n - 1 for n in range(number + 1, count + 1)}
            mapping[number] = count
            self.prompt = renumber_references(self.prompt, mapping)
        self.changed("images", "prompt", "code")

    def move_image(self, number: int, to: int) -> None:
        """Move image_<number> to position `to`; the prompt's references follow it."""
        with self.lock:
            self.check_number(number)
            if isinstance(to, bool) or not isinstance(to, int):
                raise type_error("to", to, "panel_not_whole_number")
            count = len(self.images)
            to = max(1, min(count, to))
            order = list(range(1, count + 1))
            order.insert(to - 1, order.pop(number - 1))
            self.images = [self.images[old - 1] for old in order]
            mapping = {old: new for new, old in enumerate(order, start=1)}
            self.prompt = renumber_references(self.prompt, mapping)
        self.changed("images", "prompt", "code")

    def set_images(self, images: Iterable[PanelImage]) -> None:
        """Replace every image (restore, clear)."""
        with self.lock:
            self.images = list(images)[:IMAGES_MAX]
        self.changed("images", "prompt", "code")

    # --- runs --------------------------------------------------------------------------------

    def start_run(self, request: KlingO1Request, images: list[PanelImage]) -> PanelRun:
        """A new run, now the active one."""
        assert self.connection is not None
        with self.lock:
            run = PanelRun(len(self.runs) + 1, request.parameters(), images, self.connection)
            self.runs.append(run)
            self.active = run
            self.error = None
            self.notice = ("", False)
        self.changed("status", "runs", "error", "notice", "parameters")
        return run

    def run(self, number: object) -> PanelRun:
        """Run #number of this session, or KlingValidationError in words."""
        with self.lock:
            for run in self.runs:
                if run.number == number:
                    return run
            count = len(self.runs)
        raise KlingNotInPanelError(
            [Violation(("run",), "panel_no_run", {"value": number, "count": count})]
        )

    def finish_run(
        self,
        run: PanelRun,
        state: str,
        error: str | None,
        result: EditResult | None,
        thumbnails: Sequence[bytes] = (),
    ) -> None:
        """Record how a run ended; a result goes on show at once."""
        with self.lock:
            run.elapsed = run.clock()
            run.state, run.result, run.error = state, result, error
            run.thumbnails = list(thumbnails)
            if self.active is run:
                self.active = None
            if result is not None:
                self.shown, self.compare_shown = run, False
            if state == "failed":
                self.error = error
            if state == "cancelled":
                where = (
                    self.t("panel.cancelled_remote", request_id=run.request_id)
                    if run.request_id
                    else ""
                )
                self.notice = (self.t("panel.cancelled", number=run.number, where=where), False)
        self.changed("status", "runs", "result", "compare", "error", "notice", "parameters")

    def show_run(self, run: PanelRun) -> None:
        """Put a finished run's result on show."""
        with self.lock:
            if run.result is None or self.shown is run:
                return
            self.shown, self.compare_shown = run, False
        self.changed("result", "compare")

    # --- messages ----------------------------------------------------------------------------

    def say(self, text: str, warn: bool = False) -> None:
        """The notice line under Run."""
        with self.lock:
            self.notice = (text, warn)
        self.changed("notice")

    def fail(self, text: str | None) -> None:
        """The error box (None hides it)."""
        with self.lock:
            self.error = text
        self.changed("error")

    def toggle(self, name: str) -> bool:
        """Flip `code_shown` or `compare_shown`; the new value."""
        with self.lock:
            value = not getattr(self, name)
            if name == "compare_shown" and (self.shown is None or self.shown.result is None):
                value = False
            setattr(self, name, value)
        self.changed("code" if name == "code_shown" else "compare")
        return value

    # --- texts -------------------------------------------------------------------------------

    def status_text(self, run: PanelRun | None = None) -> str:
        """The status line of `run` (default: the active, else the latest one)."""
        with self.lock:
            run = run or self.active or (self.runs[-1] if self.runs else None)
        if run is None:
            return self.t("panel.ready")
        parts = [f"{STATE_MARKS.get(run.state, '·')} #{run.number}"]
        if run.state == "running":
            parts += self._running_parts(run)
        else:
            parts += [self.t(f"panel.state_{run.state}"), self.seconds(run.elapsed)]
            if run.result is not None:
                parts.append(self.t("progress.images", count=len(run.result)))
        if run.request_id:
            parts.append(self.t("progress.request", request_id=run.request_id[:8]))
        return " · ".join(parts)

    def _running_parts(self, run: PanelRun) -> list[str]:
        status = run.status
        if run.cancel_requested:
            words = self.t("panel.cancelling")
        elif status is None:
            words = self.t("progress.submitting")
        elif status.state == "COMPLETED":
            words = self.t("panel.fetching")  # "done" only once the images are in
        else:
            words = self.t(f"progress.{status.state}", position=(status.position or 0) + 1)
        parts = [words, self.seconds(run.clock())]
        if status is not None and status.last_log:
            parts.append(clip(" ".join(status.last_log.split()), 70))
        return parts

    def history_text(self, run: PanelRun) -> tuple[str, str, str, str]:
        """A history row's parts: number and time, state, fields, prompt (plain text)."""
        p = run.parameters
        when = datetime.fromtimestamp(run.started_at).strftime("%H:%M:%S")
        state = f"{STATE_MARKS.get(run.state, '·')} {self.t(f'panel.state_{run.state}')}"
        if run.done:
            state += f" · {self.seconds(run.elapsed)}"
        fields = (
            f"{p.get('resolution')} · {p.get('aspect_ratio')} · ×{p.get('num_images')}"
            f" · {self.t('panel.inputs_count', count=len(run.images))}"
        )
        return f"#{run.number} {when}", state, fields, clip(str(p.get("prompt", "")), 48)

    def prompt_check(self) -> list[tuple[str, str]]:
        """The prompt's count and reference check: (text, css class) parts."""
        with self.lock:
            text, count = self.prompt, len(self.images)
        length = len(text)
        if length > PROMPT_MAX_CHARS:
            facts = {"count": length, "limit": PROMPT_MAX_CHARS}
            words = self.t("panel.count_over", excess=length - PROMPT_MAX_CHARS, **facts)
            parts = [(words, "kling-nb-over")]
        else:
            parts = [(self.t("panel.count", count=length, limit=PROMPT_MAX_CHARS), "")]
        past = sorted({n for n in referenced_images(text) if n < 1 or n > count})
        if past:
            key = {0: "panel.count_words_0", 1: "panel.count_words_1"}.get(
                count, "panel.count_words_n"
            )
            words = self.t(
                "panel.reference_past_end",
                numbers=", ".join(map(str, past)),
                count=count,
                count_words=self.t(key, count=count),
            )
            parts.append((f"⚠ {words}", "kling-nb-warn"))
        return parts

    def images_hint(self) -> str:
        with self.lock:
            count = len(self.images)
        if not count:
            return self.t("panel.no_images")
        return self.t("panel.images_hint", count=count, limit=IMAGES_MAX)

    def can_run(self) -> bool:
        """Run is offered: nothing running, connected, and num_images in range."""
        with self.lock:
            return (
                self.active is None
                and self.connection is not None
                and self.num_images_problem() is None
            )


def type_error(name: str, value: object, code: str) -> KlingValidationError:
    facts: dict[str, object] = {"value": clip(repr(value), 60), "kind": type(value).__name__}
    return KlingValidationError([Violation((name,), code, facts)])
