"""The panel's widgets, and the views that render a snapshot of the model into them.

Widgets are made once and reused: image cards and gallery cards come from pools bounded
by what can be on show (10 images, 9 results), and the session's runs are the options of
one list, so a long session holds as many widget models as a fresh one. Rendering happens
on the kernel's event loop only (see `dispatcher`), from an immutable `PanelState` taken
once per render: no lock is held, nothing is decoded or fetched. The state says what things
mean (a warning, a stopped run); how they look — CSS classes, colours, visibility — is
decided here.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as w

from .._text import clip
from .._wire import (
    ASPECT_RATIOS,
    IMAGES_MAX,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    OUTPUT_FORMATS,
    RESOLUTIONS,
)
from .compat import set_tooltip
from .kit import Kit, classed
from .state import AUTO, PanelImage, PanelState, Picture, Tone, reference_token

HISTORY_ROWS = 6  # lines of the runs list (it scrolls)

CSS = """<style>
.kling-nb-panel { max-width: 1040px; font-size: 13px; }
.kling-nb-panel .widget-html-content { line-height: 1.45; }
.kling-nb-head { align-items: center; gap: 10px; }
.kling-nb-title { font-size: 16px; font-weight: 600; }
.kling-nb-badge { display: inline-block; padding: 2px 10px; border-radius: 11px;
  font-size: 12px; font-weight: 600; white-space: nowrap; }
.kling-nb-badge small { font-weight: 400; opacity: .85; }
.kling-nb-section { border-top: 1px solid var(--jp-border-color2, #e2e2e2);
  margin-top: 8px !important; padding-top: 4px; }
.kling-nb-label { font-weight: 600; color: var(--jp-ui-font-color1, #333); }
.kling-nb-hint { color: var(--jp-ui-font-color2, #777); font-size: 12px; }
.kling-nb-row { align-items: center; gap: 6px; flex-wrap: wrap; }
.kling-nb-panel .widget-toggle-buttons { display: flex; align-items: center; }
.kling-nb-history .kling-nb-row { flex-wrap: nowrap; }
.kling-nb-cards { gap: 10px; flex-wrap: wrap; align-items: flex-start; }
.kling-nb-card { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 8px;
  padding: 6px; background: var(--jp-layout-color1, #fff); gap: 2px; }
.kling-nb-thumb { width: 150px; height: 150px; object-fit: contain; border-radius: 4px;
  background: var(--jp-layout-color2, #f2f2f0); }
.kling-nb-output { width: 300px; height: 300px; object-fit: contain; border-radius: 4px;
  background: var(--jp-layout-color2, #f2f2f0); }
.kling-nb-compare { max-width: 100%; height: auto; }
.kling-nb-card .widget-button { min-width: 0; padding: 0 6px; }
.kling-nb-count { font-size: 12px; color: var(--jp-ui-font-color2, #777); }
.kling-nb-warn { color: #b45309; }
.kling-nb-over { color: #b91c1c; font-weight: 600; }
.kling-nb-price { color: var(--jp-ui-font-color2, #555); font-size: 12px; }
.kling-nb-status { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.kling-nb-error .widget-html-content { color: #991b1b; background: #fef2f2;
  border: 1px solid #fecaca; border-radius: 6px; padding: 6px 10px; white-space: pre-wrap; }
.kling-nb-notice { color: var(--jp-ui-font-color2, #666); font-size: 12px; }
.kling-nb-code pre { background: var(--jp-cell-editor-background, #f6f8fa); padding: 8px 10px;
  border-radius: 6px; font-size: 12px; overflow-x: auto; }
.kling-nb-history .widget-html-content { font-size: 12px; }
.kling-nb-region-line, .kling-nb-region-plan, .kling-nb-region-note { font-size: 12px; }
.kling-nb-region-plan { color: var(--jp-ui-font-color2, #555); }
.kling-nb-drift { font-size: 12px; color: var(--jp-ui-font-color2, #666); }
/* The drawing surface in the panel: a picture that leaves room for the rest, and no Clear or
   box line of its own (the region section has them, for a region however it was set). */
.kling-nb-panel .kling-nb-region-picture { max-height: 480px; width: auto; }
.kling-nb-panel .kling-nb-region-bar { display: none; }
</style>"""

# How the state's meanings look.
TONE_CLASSES = {"info": "", "warn": "kling-nb-warn"}
CHECK_CLASSES = {"count": "", "over": "kling-nb-over", "past_end": "kling-nb-warn"}

BADGE_COLORS = {
    "emulator": ("#92400e", "#fef3c7"),
    "Qiniu": ("#1e40af", "#dbeafe"),
    "fal": ("#5b21b6", "#ede9fe"),
}

Text = Callable[..., str]


class Actions(Protocol):
    """What the panel's buttons ask for (EditPanel provides it)."""

    def move_image(self, number: int, to: int) -> None: ...
    def insert_reference(self, number: int) -> None: ...
    def remove_image(self, number: int) -> None: ...
    def save(self, folder: Any = None, index: int | None = None) -> Any: ...
    def use_as_input(self, index: int = 0) -> int | None: ...
    def clear_region(self) -> None: ...


def show(widget: Any, visible: bool) -> None:
    """Show or hide a widget (it keeps its state)."""
    display = None if visible else "none"
    if widget.layout.display != display:
        widget.layout.display = display


def put(widget: Any, name: str, value: Any) -> None:
    """Set a trait only if it differs: an unchanged value sends no message."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)


def toned(text: str, tone: Tone) -> str:
    """`text` as markup, in the look of its tone."""
    css = TONE_CLASSES[tone]
    return f"<span class='{css}'>{html.escape(text)}</span>" if css else html.escape(text)


def close_tree(widget: Any, seen: set[int] | None = None) -> None:
    """Close `widget`, its children, layouts and styles (their models leave the kernel)."""
    seen = set() if seen is None else seen
    if not isinstance(widget, w.Widget) or id(widget) in seen:
        return
    seen.add(id(widget))
    for child in getattr(widget, "children", ()):
        close_tree(child, seen)
    for part in ("layout", "style"):
        if widget.has_trait(part):
            close_tree(getattr(widget, part), seen)
    widget.close()


def badge(label: str, name: str, note: str, host: str) -> str:
    """The backend's badge: its colours by `label`, its `name` in the panel's language."""
    ink, paper = BADGE_COLORS.get(label, ("#374151", "#e5e7eb"))
    return (
        f"<span class='kling-nb-badge' style='color:{ink};background:{paper}' "
        f"title='{html.escape(host)}'>{html.escape(name)} <small>· {html.escape(note)}</small>"
        "</span>"
    )


class ImageCard:
    """One reference image's card: picture, caption, move / insert reference / remove."""

    def __init__(self, position: int, t: Text, actions: Actions, kit: Kit):
        number = position + 1
        self.picture = kit.make(w.Image, "kling-nb-thumb", format="jpeg")
        self.caption = kit.make(w.HTML, width="150px")
        self.left = kit.button("◀", t("panel.move_left"), width="30px")
        self.right = kit.button("▶", t("panel.move_right"), width="30px")
        self.insert = kit.button("+ @", "", width="44px")
        self.remove = kit.button("✕", t("panel.remove"), width="30px")
        self.left.on_click(lambda _: actions.move_image(number, number - 1))
        self.right.on_click(lambda _: actions.move_image(number, number + 1))
        self.insert.on_click(lambda _: actions.insert_reference(number))
        self.remove.on_click(lambda _: actions.remove_image(number))
        tools = kit.row(self.left, self.right, self.insert, self.remove)
        self.box = kit.vbox([self.picture, self.caption, tools], "kling-nb-card", "kling-nb-input")
        self._image: PanelImage | None = None

    def render(self, image: PanelImage, number: int, count: int, state: PanelState) -> None:
        if image is not self._image:
            self._image = image
            if image.thumbnail is not None:
                put(self.picture, "format", "jpeg")
                self.picture.value = image.thumbnail
            else:
                put(self.picture, "format", "url")
                self.picture.value = str(image.source).encode()
        size = f" · {image.size[0]}×{image.size[1]}" if image.size else ""
        caption = (
            f"<b>image_{number}</b>{size}<br><span class='kling-nb-hint' "
            f"title='{html.escape(image.label)}'>{html.escape(clip(image.label, 22))}</span>"
        )
        caption += "".join(
            f"<br><span class='kling-nb-warn'>{html.escape(n)}</span>"
            for n in state.image_notes(image, number)
        )
        put(self.caption, "value", caption)
        put(self.left, "disabled", number == 1)
        put(self.right, "disabled", number == count)
        token = reference_token(number, state.profile)
        set_tooltip(self.insert, state.t("panel.insert", token=token))


class ResultCard:
    """One gallery card: picture, caption, Save and Use as input."""

    def __init__(self, position: int, t: Text, actions: Actions, kit: Kit):
        self.picture = kit.make(w.Image, "kling-nb-output", format="jpeg")
        self.caption = kit.html()
        self.save = kit.button(t("panel.save"))
        self.reuse = kit.button(t("panel.use_as_input"))
        self.save.on_click(lambda _: actions.save(index=position))
        self.reuse.on_click(lambda _: actions.use_as_input(position))
        tools = kit.row(self.save, self.reuse)
        self.box = kit.vbox([self.picture, self.caption, tools], "kling-nb-card", "kling-nb-result")

    def render(self, picture: Picture, state: PanelState) -> None:
        if self.picture.value != picture.jpeg:
            self.picture.value = picture.jpeg
        caption = f"<b>{html.escape(picture.caption)}</b>"
        if picture.drift:  # how much changed where the prompt did not ask
            hint = html.escape(state.t("panel.drift_hint"), quote=True)
            drift = html.escape(picture.drift)
            caption += f"<br><span class='kling-nb-drift' title='{hint}'>{drift}</span>"
        put(self.caption, "value", caption)


class RegionParts:
    """The region section: the drawing surface's place, the box as numbers, Clear, and what
    a region Run would send (its plan)."""

    def __init__(self, t: Text, actions: Actions, kit: Kit):
        # `surface` stays empty until a drawing surface is placed in it; the line and Clear
        # show the region however it was set (from code, a restored run, the surface).
        head = kit.html(f"<span>{html.escape(t('panel.region'))}</span>", "kling-nb-label")
        self.surface = kit.vbox([], "kling-nb-region-surface")
        self.note = kit.html("", "kling-nb-region-note", own=True)  # preparing, or why not
        self.text = kit.html("", "kling-nb-region-line")
        self.clear = kit.button(t("panel.region_clear"), "", "", "auto", "kling-nb-region-unset")
        self.clear.on_click(lambda _: actions.clear_region())
        self.plan = kit.html("", "kling-nb-region-plan", own=True)
        self.children = [head, self.note, self.surface, kit.row(self.text, self.clear), self.plan]


class Pool:
    """Widgets of one kind made on demand and kept for reuse, at most `limit`."""

    def __init__(self, make: Callable[[int], Any], limit: int):
        self.make = make
        self.limit = limit
        self.items: list[Any] = []

    def take(self, count: int) -> list[Any]:
        count = min(count, self.limit)
        while len(self.items) < count:
            self.items.append(self.make(len(self.items)))
        return self.items[:count]


def set_children(box: Any, children: list[Any]) -> None:
    if tuple(box.children) != tuple(children):
        box.children = children


class PanelWidgets:
    """Every control of the panel, for scripts and tests that drive them directly."""

    def __init__(self, t: Text, actions: Actions):
        kit = self.kit = Kit()
        self.badge = kit.html()
        self._inputs(t, kit)
        self._parameters(t, kit)
        self.run = kit.button("▶ " + t("panel.run"), "", "primary", "96px", "kling-nb-run")
        self.cancel = kit.button("■ " + t("panel.cancel"), "", "", "96px", "kling-nb-cancel")
        self.cancel.disabled = True
        self.price = kit.html("", "kling-nb-price", own=True)  # the estimated cost, once known
        # Unticked, Run always makes a new job; ticked, it replays an identical finished one.
        self.reuse = w.Checkbox(value=False, description=t("money.panel_reuse"), indent=False)
        self.code_toggle = kit.button(t("panel.show_code"))
        self.status = kit.html("", "kling-nb-status")
        self.error = kit.html("", "kling-nb-error", own=True)
        self.notice = kit.html("", "kling-nb-notice")
        self.code = kit.html("", "kling-nb-code", own=True)
        self._results(t, kit)
        self.image_cards = Pool(lambda i: ImageCard(i, t, actions, kit), IMAGES_MAX)
        self.result_cards = Pool(lambda i: ResultCard(i, t, actions, kit), NUM_IMAGES_MAX)
        # The region of image 1 (issue 19): an empty section until a region or a drawing
        # surface is shown; its parts are made then, so a panel without one carries none.
        self.region_section = kit.vbox([], "kling-nb-section", "kling-nb-region", own=True)
        self._region: RegionParts | None = None
        mark = w.ToggleButton(
            description="✎ " + t("panel.region_mark"),
            layout=w.Layout(width="auto", align_self="flex-start"),
        )
        self.region_toggle = classed(mark, "kling-nb-region-toggle")
        set_tooltip(self.region_toggle, t("panel.region_mark_tooltip"))
        self._words, self._actions = t, actions
        self.root = self._layout(t, kit)
        hidden = (self.error, self.compare_image, self.compare_note, self.code, self.price)
        for widget in (*hidden, self.num_problem, self.region_section, self.region_toggle):
            show(widget, False)  # until the first render says otherwise

    def toggled(self) -> tuple[Any, ...]:
        """The widgets the views show and hide, each with a layout of its own."""
        return (
            self.error,
            self.compare_image,
            self.compare_note,
            self.code,
            self.price,
            self.num_problem,
            self.region_section,
            self.region_toggle,
            self.history_empty,
            self.history_box,
            self.journal_section,
        )

    def close(self) -> None:
        """Close every widget of the panel, shown or pooled (their models leave the kernel)."""
        seen: set[int] = set()
        close_tree(self.root, seen)
        for pool in (self.image_cards, self.result_cards):
            for item in pool.items:
                close_tree(item.box, seen)
        if self._region is not None:
            close_tree(self.region_section, seen)

    def _inputs(self, t: Text, kit: Kit) -> None:
        self.source = w.Text(placeholder=t("panel.source_placeholder"), layout=w.Layout(flex="1"))
        self.add = kit.button(t("panel.add"))
        self.upload = classed(
            w.FileUpload(
                accept="image/*", multiple=True, description=t("panel.upload"), icon="upload"
            ),
            "kling-nb-upload",
        )
        set_tooltip(self.upload, t("panel.upload_hint"))
        self.images_hint = kit.html("", "kling-nb-hint")
        self.cards = kit.hbox([], "kling-nb-cards")
        self.prompt = w.Textarea(
            placeholder=t("panel.prompt_placeholder"),
            rows=4,
            continuous_update=True,  # the count and the reference check follow each keystroke
            layout=w.Layout(width="100%"),
        )
        self.count = kit.html("", "kling-nb-count")

    def _parameters(self, t: Text, kit: Kit) -> None:
        style = {"description_width": "initial"}
        self.resolution = w.ToggleButtons(
            options=list(RESOLUTIONS["qiniu"]),
            description=t("panel.resolution"),
            style=style,
            layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        self.resolution.style.button_width = "44px"
        self.aspect_ratio = w.Dropdown(
            options=list(ASPECT_RATIOS),
            description=t("panel.aspect_ratio"),
            style=style,
            layout=w.Layout(width="170px"),
        )
        # Not a BoundedIntText: that clamps 20 to 9 without a word. Out of range is shown
        # next to the field, and Run waits until it is fixed.
        self.num_images = w.IntText(
            value=NUM_IMAGES_MIN,
            description=t("panel.num_images"),
            style=style,
            layout=w.Layout(width="110px"),
        )
        self.num_problem = kit.html("", "kling-nb-over", "kling-nb-num-problem", own=True)
        formats = [(t("panel.format_default"), ""), *((f, f) for f in OUTPUT_FORMATS)]
        self.output_format = w.Dropdown(
            options=formats,
            description=t("panel.output_format"),
            style=style,
            layout=w.Layout(width="150px"),
        )

    def _results(self, t: Text, kit: Kit) -> None:
        self.results_head = kit.html("", "kling-nb-results-head")
        self.compare = kit.button(t("panel.compare"))
        self.save_all = kit.button(t("panel.save_all"))
        self.compare.disabled = self.save_all.disabled = True
        self.folder = w.Text(
            value="kling_outputs",
            description=t("panel.folder"),
            style={"description_width": "initial"},
            layout=w.Layout(width="260px"),
        )
        self.gallery = kit.hbox([], "kling-nb-cards", "kling-nb-gallery")
        self.compare_image = kit.make(w.Image, "kling-nb-compare", own=True, format="jpeg")
        self.compare_note = kit.html("", "kling-nb-hint", "kling-nb-compare-note", own=True)
        # One list for every run of the session: no widget per run, however many there are.
        self.history = classed(
            w.Select(options=[], rows=HISTORY_ROWS, layout=w.Layout(flex="1 1 0%", min_width="0")),
            "kling-nb-history",
        )
        self.history_restore = kit.button(t("panel.restore"))
        self.history_show = kit.button(t("panel.show"))
        # A run stopped without a confirmed cancel may still finish (and is paid for): this
        # fetches its pictures (kling_nb.resume) once it does.
        tip = t("panel.collect_tooltip")
        self.history_collect = kit.button(t("panel.collect"), tip, "", "auto", "kling-nb-collect")
        empty = html.escape(t("panel.no_history"))
        self.history_empty = kit.html(empty, "kling-nb-hint", own=True)
        self.journal = w.Dropdown(options=[], layout=w.Layout(flex="1 1 0%", min_width="0"))
        self.journal_restore = kit.button(t("panel.restore"))

    @property
    def region(self) -> RegionParts | None:
        """The region section's parts, if made."""
        return self._region

    def region_parts(self) -> RegionParts:
        """The region section's parts, made (and put in the section) the first time."""
        if self._region is None:
            self._region = RegionParts(self._words, self._actions, self.kit)
            self.region_section.children = self._region.children
        return self._region

    def _layout(self, t: Text, kit: Kit) -> Any:
        """The whole panel, top to bottom."""
        title = kit.html(html.escape(t("panel.title")), "kling-nb-title")
        head = kit.hbox([title, self.badge], "kling-nb-head", "kling-nb-row")
        upload_hint = kit.html(html.escape(t("panel.upload_hint")), "kling-nb-hint")
        images = kit.section(
            t("panel.images"),
            kit.row(self.source, self.add, self.upload),
            upload_hint,
            self.images_hint,
            self.cards,
            self.region_toggle,
        )
        prompt = kit.section(t("panel.prompt"), self.prompt, self.count)
        params = kit.section(
            t("panel.parameters"),
            kit.row(self.resolution, self.aspect_ratio, self.num_images, self.output_format),
            self.num_problem,
        )
        buttons = kit.row(
            self.run, self.cancel, self.price, self.reuse, self.code_toggle, self.status
        )
        actions = kit.vbox([buttons, self.error], "kling-nb-section")
        results = kit.section(
            t("panel.results"),
            self.results_head,
            kit.row(self.compare, self.save_all, self.folder),
            self.gallery,
            self.compare_note,
            self.compare_image,
        )
        tools = kit.vbox([self.history_restore, self.history_show, self.history_collect])
        self.history_box = kit.row(self.history, tools, own=True)
        history = kit.section(t("panel.history"), self.history_empty, self.history_box)
        self.journal_section = kit.section(
            t("panel.journal"), kit.row(self.journal, self.journal_restore), own=True
        )
        parts = [kit.html(CSS), head, images, self.region_section, prompt, params, actions]
        parts += [self.notice, self.code]
        root = kit.vbox([*parts, results, history, self.journal_section], own=True)
        return classed(root, "kling-nb-panel")


class PanelView:
    """Renders the changed aspects of a snapshot into the widgets (on the loop's thread only)."""

    def __init__(self, widgets: PanelWidgets, code: Callable[[PanelState], str]):
        self.widgets = widgets
        self.code = code

    def render(self, aspects: frozenset[str], state: PanelState) -> None:
        """Bring the widgets showing `aspects` up to `state`; no lock, no I/O."""
        if "result" in aspects:
            self._result(state)  # first: the pictures are what the user waits for
        if aspects & {"compare", "result"}:
            self._compare(state)
        if "connection" in aspects:
            self._connection(state)
        if aspects & {"parameters", "region", "connection"}:
            self._parameters(state)  # a region offers "auto" among the resolutions
        if aspects & {"images", "connection"}:
            self._images(state)
        if aspects & {"region", "images"}:
            self._region(state)
        if aspects & {"prompt", "images"}:
            self._prompt(state)
        if aspects & {"status", "parameters", "connection"}:
            self._status(state)
        if "runs" in aspects:
            self._history(state)
        if "code" in aspects:
            self._code(state)
        if "notice" in aspects:
            self._notice(state)
        if "error" in aspects:
            put(self.widgets.error, "value", html.escape(state.error or ""))
            show(self.widgets.error, bool(state.error))
        if "journal" in aspects:
            self._journal(state)

    def _connection(self, s: PanelState) -> None:
        put(self.widgets.badge, "value", badge(*s.badge_words()))

    def _parameters(self, s: PanelState) -> None:
        ws = self.widgets
        choices = s.resolution_choices()
        options: tuple[Any, ...] = tuple(choices)
        if AUTO in choices:  # labelled in the panel's language (ipywidgets: all pairs, or none)
            options = tuple((s.t("panel.resolution_auto") if c == AUTO else c, c) for c in choices)
        if tuple(ws.resolution.options) != options:
            ws.resolution.options = options  # selects the first: the value follows below
            ws.resolution.tooltips = [
                s.t("panel.resolution_auto_tooltip") if c == AUTO else "" for c in choices
            ]
        put(ws.resolution.style, "button_width", "52px" if AUTO in choices else "44px")
        put(ws.resolution, "value", s.resolution)
        put(ws.aspect_ratio, "value", s.aspect_ratio)
        put(ws.num_images, "value", s.num_images)
        put(ws.output_format, "value", s.output_format or "")
        problem = s.num_images_problem()
        put(ws.num_problem, "value", html.escape(problem or ""))
        show(ws.num_problem, problem is not None)
        price = s.price()
        put(ws.price, "value", html.escape(price or ""))
        show(ws.price, price is not None)
        put(ws.reuse, "value", s.reuse)

    def _images(self, s: PanelState) -> None:
        ws = self.widgets
        cards = ws.image_cards.take(len(s.images))
        for number, (card, image) in enumerate(zip(cards, s.images, strict=True), start=1):
            card.render(image, number, len(s.images), s)
        set_children(ws.cards, [c.box for c in cards])
        put(ws.images_hint, "value", html.escape(s.images_hint()))

    def _region(self, s: PanelState) -> None:
        ws = self.widgets
        show(ws.region_toggle, bool(s.images))
        put(ws.region_toggle, "value", s.marking)
        made = ws.region
        placed = made.surface.children[0] if made is not None and made.surface.children else None
        drawing = bool(s.images) and (s.marking or placed is not None)
        visible = drawing or s.region is not None
        if visible or made is not None:
            parts = ws.region_parts()
            put(parts.text, "value", html.escape(s.region_words()))
            put(parts.clear, "disabled", s.region is None)
            lines = ((parts.plan, s.plan_words()), (parts.note, s.surface_words()))
            for line, (words, tone) in lines:
                put(line, "value", toned(words, tone))
                show(line, bool(words))
            size = s.images[0].size if s.images else None
            if placed is not None and placed.has_trait("box") and tuple(placed.size) == size:
                put(placed, "box", s.region)  # the surface follows the state (code, restore)
        show(ws.region_section, visible)

    def _prompt(self, s: PanelState) -> None:
        ws = self.widgets
        put(ws.prompt, "value", s.prompt)
        text = " · ".join(
            f"<span class='{CHECK_CLASSES[kind]}'>{html.escape(words)}</span>"
            if CHECK_CLASSES[kind]
            else html.escape(words)
            for words, kind in s.prompt_check()
        )
        put(ws.count, "value", text)

    def _status(self, s: PanelState) -> None:
        ws = self.widgets
        put(ws.status, "value", html.escape(s.status_line()))
        active = s.active_run
        put(ws.run, "disabled", not s.can_run())
        put(ws.cancel, "disabled", active is None or active.cancel_requested)
        put(ws.cancel, "button_style", "warning" if active is not None else "")

    def _notice(self, s: PanelState) -> None:
        text, css = s.notice.text, TONE_CLASSES[s.notice.tone]
        value = f"<span class='{css}'>{html.escape(text)}</span>" if text else ""
        put(self.widgets.notice, "value", value)

    def _history(self, s: PanelState) -> None:
        ws = self.widgets
        options = [(" · ".join(s.history_row(run)), run.number) for run in reversed(s.runs)]
        if list(ws.history.options) != options:
            ws.history.options = options
        put(ws.history, "value", s.selected)
        show(ws.history_empty, not s.runs)
        show(ws.history_box, bool(s.runs))
        chosen = s.selected_run
        put(ws.history_restore, "disabled", chosen is None)
        put(ws.history_show, "disabled", chosen is None or chosen.result is None)
        collectable = chosen is not None and chosen.collectable
        put(ws.history_collect, "disabled", not collectable)
        put(ws.history_collect, "button_style", "warning" if collectable else "")

    def _result(self, s: PanelState) -> None:
        ws = self.widgets
        run = s.shown_run
        result = run.result if run is not None else None
        put(ws.compare, "disabled", result is None)
        put(ws.save_all, "disabled", result is None)
        if run is None or result is None:
            hint = html.escape(s.t("panel.no_results"))
            put(ws.results_head, "value", f"<span class='kling-nb-hint'>{hint}</span>")
            set_children(ws.gallery, [])
            return
        cards = ws.result_cards.take(len(run.gallery))
        for card, picture in zip(cards, run.gallery, strict=False):
            card.render(picture, s)
        set_children(ws.gallery, [c.box for c in cards])
        title, details = s.results_heading(run, result)
        hint = f"<span class='kling-nb-hint'>{html.escape(details)}</span>"
        put(ws.results_head, "value", f"<b>{html.escape(title)}</b><br>{hint}")

    def _compare(self, s: PanelState) -> None:
        ws = self.widgets
        run = s.shown_run
        visible = s.compare_shown and run is not None and run.result is not None
        picture = s.comparison_of(run) if visible else None
        ready = picture is not None and picture.jpeg is not None
        if picture is not None and picture.jpeg is not None:
            put(ws.compare_image, "value", picture.jpeg)  # made off the loop: only handed over
        note = ""
        if visible and not ready:
            problem = picture.problem if picture is not None else None
            note = s.t("panel.compare_failed", detail=problem) if problem else ""
            note = note or s.t("panel.comparing")
        put(ws.compare_note, "value", html.escape(note))
        show(ws.compare_note, bool(note))
        show(ws.compare_image, ready)
        put(ws.compare, "description", s.t("panel.hide_compare" if visible else "panel.compare"))

    def _code(self, s: PanelState) -> None:
        ws = self.widgets
        words = s.t("panel.hide_code" if s.code_shown else "panel.show_code")
        put(ws.code_toggle, "description", words)
        show(ws.code, s.code_shown)
        if not s.code_shown:
            return  # built only while shown: typing in the prompt stays cheap
        intro = html.escape(s.t("panel.code_intro"))
        code = html.escape(self.code(s))
        put(ws.code, "value", f"<span class='kling-nb-hint'>{intro}</span><pre>{code}</pre>")

    def _journal(self, s: PanelState) -> None:
        ws = self.widgets
        options = list(s.journal)
        if list(ws.journal.options) != options:
            ws.journal.options = options
            ws.journal.value = options[0][1] if options else None  # the newest row
        show(ws.journal_section, bool(options))
