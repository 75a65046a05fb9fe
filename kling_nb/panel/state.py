"""The panel at one moment, as an immutable value, and the words it says.

`PanelModel` keeps one `PanelState` and replaces it on every change, under its lock; a view
takes the current one (`model.snapshot()`, a reference: no copy) and renders from it with no
lock held and no I/O. Everything here is a value — frozen records, tuples, and functions that
word them in the panel's language. The state carries meanings (a run's state, what its cancel
did, the tone of a notice, the kind of a prompt warning); how those look (CSS classes,
colours, which widget) is decided in `views`.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._config import Connection
from .._i18n import MESSAGES, Language, message
from .._rules import check_image_size
from .._text import clip
from .._wire import (
    IMAGES_MAX,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    PROMPT_MAX_CHARS,
    RESOLUTIONS,
    JobStatus,
    Profile,
    referenced_images,
)

if TYPE_CHECKING:  # the job pipeline and numpy load with the first image or Run, not here
    from .._images import ImageInput
    from .._request import KlingO1Request
    from .._results import EditResult
    from .region import DisplayPhoto

THUMB_SIDE = 240  # px of an input thumbnail (shown at 150 px: sharp on HiDPI screens)
RunState = Literal["running", "completed", "failed", "cancelled", "stopped"]
# What the service said to a cancel (the engine's outcomes; only "confirmed" means not billed).
CancelOutcome = Literal["confirmed", "requested", "unsupported", "failed", "too_late"]
Tone = Literal["info", "warn"]
CheckKind = Literal["count", "over", "past_end"]
# A region of reference image 1: (left, top, right, bottom) in its pixels as shown (issue 19).
Box = tuple[int, int, int, int]
# The resolution choice that lets a region's plan pick (sent as resolution=None); offered
# only while a region is set: a whole-picture edit keeps its 1K default.
AUTO = "auto"
STATE_MARKS = {"running": "⏳", "completed": "✓", "failed": "✗", "cancelled": "⊘", "stopped": "⏸"}
_SIGNS = {"USD": "$", "CNY": "¥"}  # how a price reads next to Run: ≈ $0.056


def is_web(source: object) -> bool:
    """True for an http(s) URL (sent as it is, never downloaded)."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def reference_token(number: int, profile: Profile) -> str:
    """How the backend's own docs write a reference: Qiniu `<<<image_N>>>`, fal `@ImageN`."""
    return f"@Image{number}" if profile == "fal" else f"<<<image_{number}>>>"


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
        from .._images import describe_source, load_image, thumbnail_bytes

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


@dataclass(frozen=True)
class Picture:
    """One gallery picture of a run: its caption, a JPEG and its drift, made off the loop."""

    caption: str
    jpeg: bytes = field(repr=False)
    drift: str = ""  # "drift 0.3 ΔE" (result.drift()), or why it could not be measured


@dataclass(frozen=True, eq=False)
class Surface:
    """Image 1 made ready to draw a region on (off the loop), or why it cannot be."""

    image: PanelImage  # the reference image it was made from (compared by identity)
    photo: DisplayPhoto | None = field(default=None, repr=False)
    problem: str | None = None


@dataclass(frozen=True, eq=False)
class RegionPlanWords:
    """What a region Run would send, in words (its plan), for the fields it was made from."""

    image: PanelImage
    region: Box
    resolution: str
    aspect_ratio: str
    profile: Profile
    text: str
    problem: bool = False  # the region cannot be used as it is: `text` says why

    def fits(self, state: PanelState) -> bool:
        """True while `state` would send what these words describe."""
        return (
            bool(state.images)
            and state.images[0] is self.image
            and (state.region, state.resolution, state.aspect_ratio, state.profile)
            == (self.region, self.resolution, self.aspect_ratio, self.profile)
        )


@dataclass(frozen=True)
class ComparePicture:
    """Inputs and outputs of run `run` side by side: the JPEG once made, or why it was not."""

    run: int
    jpeg: bytes | None = field(default=None, repr=False)  # None while it is being made
    problem: str | None = None


@dataclass(frozen=True)
class Notice:
    """The line under Run: what happened, and whether it needs the user's attention."""

    text: str = ""
    tone: Tone = "info"


@dataclass(frozen=True, eq=False)
class PanelRun:
    """One Run of this session: what was asked, and how it went (a value, replaced on change)."""

    number: int
    parameters: dict[str, Any]
    images: tuple[PanelImage, ...]
    connection: Connection = field(repr=False)
    region: Box | None = None
    started_at: float = field(default_factory=time.time)
    state: RunState = "running"
    elapsed: float = 0.0
    request_id: str | None = None
    result: EditResult | None = field(default=None, repr=False)
    error: str | None = None  # a failure's words, or what a stopped run's cancel did
    future: Future[EditResult] = field(default_factory=Future, repr=False)
    status: JobStatus | None = field(default=None, repr=False)
    gallery: tuple[Picture, ...] = field(default=(), repr=False)
    cancel_requested: bool = False
    cancel: CancelOutcome | None = None  # what the service said to a cancel, if one was asked
    collecting: bool = False  # a stopped run whose pictures are being collected (resume)
    clock_start: float = field(default_factory=time.monotonic, repr=False)

    @property
    def done(self) -> bool:
        return self.state != "running"

    @property
    def collectable(self) -> bool:
        """Stopped without a confirmed cancel: the job may finish, and its pictures be had."""
        return self.state == "stopped" and self.request_id is not None and not self.collecting

    def clock(self) -> float:
        """Seconds since Run, frozen once the run has ended."""
        return self.elapsed if self.done else time.monotonic() - self.clock_start


@dataclass(frozen=True)
class PanelState:
    """Everything the panel shows, at one moment."""

    lang: Language | None = None
    connection: Connection | None = None
    prompt: str = ""
    resolution: str = "1K"  # AUTO only while a region is set
    resolution_picked: bool = False  # the user chose it: a region then leaves it alone
    aspect_ratio: str = "auto"
    num_images: int = 1  # any int: an out-of-range one is shown, and refused at Run
    output_format: str | None = None
    reuse: bool = False  # ticked: Run replays an identical completed request instead
    images: tuple[PanelImage, ...] = ()
    region: Box | None = None  # of reference image 1; None: the whole picture is edited
    marking: bool = False  # the drawing surface on image 1 is wanted
    surface: Surface | None = None  # image 1 made ready to draw on (for marking)
    plan: RegionPlanWords | None = None  # the region's plan in words, once made
    runs: tuple[PanelRun, ...] = ()  # run number n is runs[n - 1]
    active: int | None = None  # the run going
    shown: int | None = None  # the run whose pictures are on show
    selected: int | None = None  # the run picked in the session's runs
    error: str | None = None
    notice: Notice = Notice()
    code_shown: bool = False
    compare_shown: bool = False
    comparison: ComparePicture | None = None
    journal: tuple[tuple[str, int], ...] = ()  # (label, row id), newest first

    # --- lookups -----------------------------------------------------------------------------

    def run(self, number: object) -> PanelRun | None:
        """Run #number, or None."""
        if isinstance(number, bool) or not isinstance(number, int):
            return None
        return self.runs[number - 1] if 1 <= number <= len(self.runs) else None

    @property
    def active_run(self) -> PanelRun | None:
        return self.run(self.active)

    @property
    def shown_run(self) -> PanelRun | None:
        return self.run(self.shown)

    @property
    def selected_run(self) -> PanelRun | None:
        return self.run(self.selected)

    @property
    def profile(self) -> Profile:
        return self.connection.profile if self.connection else "qiniu"

    def resolutions(self) -> list[str]:
        """The resolutions the connected backend offers."""
        return list(RESOLUTIONS[self.profile])

    def resolution_choices(self) -> list[str]:
        """The resolution field's choices: with a region, AUTO (its plan picks) first."""
        return [AUTO, *self.resolutions()] if self.region is not None else self.resolutions()

    def request(self) -> KlingO1Request:
        """The request Run would send now, its region included (AUTO: resolution=None)."""
        from .._request import KlingO1Request

        return KlingO1Request(
            self.prompt,
            [im.source for im in self.images],
            None if self.resolution == AUTO else self.resolution,
            self.num_images,
            self.aspect_ratio,
            self.output_format,
            region=self.region,
        )

    @property
    def surface_ready(self) -> DisplayPhoto | None:
        """Image 1 made ready to draw on, if it is and marking is on."""
        first = self.images[0] if self.images else None
        made = self.surface
        ok = self.marking and made is not None and made.image is first
        return made.photo if ok and made is not None else None

    @property
    def current_plan(self) -> RegionPlanWords | None:
        """The region's plan in words, if made for what Run would send now."""
        plan = self.plan
        return plan if self.region is not None and plan is not None and plan.fits(self) else None

    def can_run(self) -> bool:
        """Run is offered: nothing running, connected, and num_images in range."""
        return (
            self.active is None
            and self.connection is not None
            and self.num_images_problem() is None
        )

    def comparison_of(self, run: PanelRun | None) -> ComparePicture | None:
        """The comparison made for `run`, if any."""
        picture = self.comparison
        return picture if run is not None and picture and picture.run == run.number else None

    # --- words -------------------------------------------------------------------------------

    def t(self, key: str, **facts: object) -> str:
        """A message in the panel's language."""
        return message(key, self.lang, **facts)

    def seconds(self, value: float) -> str:
        return self.t("panel.seconds", value=value)

    def backend_label(self, label: str) -> str:
        """A backend's badge name in the panel's language (a custom host stays as it is)."""
        key = f"panel.backend_{label}"
        return self.t(key) if key in MESSAGES else label

    def num_images_problem(self) -> str | None:
        """Why num_images can't be sent, in words (None if it can)."""
        number = self.num_images
        if NUM_IMAGES_MIN <= number <= NUM_IMAGES_MAX:
            return None
        facts = {"value": number, "low": NUM_IMAGES_MIN, "high": NUM_IMAGES_MAX}
        return self.t("rule.num_images_range", field="num_images", **facts)

    def price(self) -> str | None:
        """The estimated cost of the current parameters, in words; None hides the label."""
        from .._money import cost_of, price_for
        from .._price import amount_text

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

    def status_line(self, run: PanelRun | None = None) -> str:
        """The status line of `run` (default: the active, else the latest one)."""
        run = run or self.active_run or (self.runs[-1] if self.runs else None)
        if run is None:
            return self.t("panel.ready")
        parts = [f"{STATE_MARKS.get(run.state, '·')} #{run.number}"]
        if run.state == "running":
            parts += self._running_parts(run)
        else:
            parts += [self.state_words(run), self.seconds(run.elapsed)]
            if run.result is not None:
                parts.append(self.t("progress.images", count=len(run.result)))
        if run.request_id:
            parts.append(self.t("progress.request", request_id=run.request_id[:8]))
        return " · ".join(parts)

    def state_words(self, run: PanelRun) -> str:
        """How a finished run ended, in a few words; a stopped one says what may be billed."""
        if run.collecting:
            return self.t("panel.collecting")
        if run.state == "stopped":
            return self.t(f"panel.stopped_{run.cancel or 'failed'}")
        if run.state == "completed" and run.cancel not in (None, "confirmed"):
            return self.t("panel.state_collected")
        return self.t(f"panel.state_{run.state}")

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

    def history_row(self, run: PanelRun) -> tuple[str, str, str, str]:
        """A row of the session's runs: number and time, state, fields, prompt (plain text)."""
        p = run.parameters
        when = datetime.fromtimestamp(run.started_at).strftime("%H:%M:%S")
        words = self.state_words(run) if run.done else self.t("panel.state_running")
        state = f"{STATE_MARKS.get(run.state, '·')} {words}"
        if run.done:
            state += f" · {self.seconds(run.elapsed)}"
        fields = (
            f"{p.get('resolution') or AUTO} · {p.get('aspect_ratio')} · ×{p.get('num_images')}"
            f" · {self.t('panel.inputs_count', count=len(run.images))}"
        )
        if run.region is not None:
            fields += f" · {self.t('panel.region_short')}"
        return f"#{run.number} {when}", state, fields, clip(str(p.get("prompt", "")), 48)

    def prompt_check(self) -> list[tuple[str, CheckKind]]:
        """The prompt's count and reference check: (words, kind) parts."""
        text, count = self.prompt, len(self.images)
        length = len(text)
        parts: list[tuple[str, CheckKind]]
        if length > PROMPT_MAX_CHARS:
            facts = {"count": length, "limit": PROMPT_MAX_CHARS}
            words = self.t("panel.count_over", excess=length - PROMPT_MAX_CHARS, **facts)
            parts = [(words, "over")]
        else:
            parts = [(self.t("panel.count", count=length, limit=PROMPT_MAX_CHARS), "count")]
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
            parts.append((f"⚠ {words}", "past_end"))
        return parts

    def images_hint(self) -> str:
        count = len(self.images)
        if not count:
            return self.t("panel.no_images")
        return self.t("panel.images_hint", count=count, limit=IMAGES_MAX)

    def image_notes(self, image: PanelImage, number: int) -> list[str]:
        """What a reference image's card says under its name (rules it breaks, URL-only)."""
        if image.size is None:
            return [self.t("panel.url_thumbnail")]
        return image.problems(number - 1, self.lang)

    def region_words(self) -> str:
        """The region line: the box in pixels, or that the whole picture is edited."""
        if self.region is None:
            return self.t("panel.region_none")
        return self.t("panel.region_box", box=str(self.region))

    def plan_words(self) -> tuple[str, Tone]:
        """What a region Run would send (its plan), or why the region cannot be used; "" if
        there is no region. While the plan is being made, it says so."""
        if self.region is None:
            return "", "info"
        plan = self.current_plan
        if plan is None:
            return self.t("panel.region_planning"), "info"
        return plan.text, "warn" if plan.problem else "info"

    def surface_words(self) -> tuple[str, Tone]:
        """The note where the drawing surface goes: being prepared, or why it cannot be."""
        if not self.marking or not self.images or self.surface_ready is not None:
            return "", "info"
        made = self.surface
        if made is not None and made.image is self.images[0] and made.problem:
            return self.t("panel.region_surface_failed", detail=made.problem), "warn"
        return self.t("panel.region_surface_preparing"), "info"

    def results_heading(self, run: PanelRun, result: EditResult) -> tuple[str, str]:
        """The results' title and the line under it."""
        sizes = ", ".join(f"{im.width}×{im.height}" for im in result.images)
        tag = f" · {self.t('result.emulated')}" if result.emulated else ""
        title = self.t("panel.results_of", number=run.number, summary=f"{sizes}{tag}")
        request = self.t("progress.request", request_id=result.request_id)
        return title, f"{request} · {clip(str(result.parameters.get('prompt', '')), 90)}"

    def badge_words(self) -> tuple[str, str, str, str]:
        """The backend's badge: its label (for colours), name, note and host."""
        conn = self.connection
        if conn is None:
            return "-", "-", self.t("panel.not_connected"), ""
        if conn.emulated:
            note = self.t("panel.badge_emulated", profile=conn.profile)
        else:
            note = self.t("panel.badge_real", host=conn.host)
        return conn.label, self.backend_label(conn.label), note, conn.host
