"""The region-drawing surface: a box drawn with the mouse on a picture (issue 19).

    region_picker(photo)          a widget; `box` is (left, top, right, bottom) in the ORIGINAL
                                  photo's pixels (as shown, after EXIF rotation), or None
      ├─ RegionCanvas             anywidget: drag to draw, drag inside to move, handles to
      │                           resize, Clear (region.js, a plain ES module, no build step)
      └─ RegionFields             core ipywidgets where anywidget cannot be imported: four
                                  number fields and a preview with the box drawn

Both have the same Python surface: the `box` trait (set it to move the box, None to clear),
`on_box(callback)`, `region()` (a `Region`, or None) and `size`. The EditPanel listens with
`on_box` and hands each box to its model on the kernel's loop; it decodes the photo on a
worker first (`display_photo`), so that making the widget on the loop is quick. A box drawn
goes straight into an edit: `kling_nb.edit(prompt, photo, region=picker.box)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

import ipywidgets as w
import traitlets
from PIL import Image, ImageDraw

from .._errors import KlingRegionError
from .._i18n import message
from .._images import ImageInput, thumbnail_bytes, thumbnail_data_uri
from .._photo import Photo, open_photo
from .._region import Box, Region

# The picture shown is at most this many px on its longest side (a data: URL in the page);
# the box is still kept in the photo's own pixels.
DISPLAY_SIDE = 960
DISPLAY_MAX_BYTES = 400_000
ESM = Path(__file__).with_name("region.js")
CSS = """
.kling-nb-region { display: inline-flex; flex-direction: column; gap: 6px; max-width: 100%; }
.kling-nb-region-stage { position: relative; display: inline-block; overflow: hidden;
  user-select: none; touch-action: none; cursor: crosshair; line-height: 0; max-width: 100%; }
.kling-nb-region-picture { display: block; max-width: 100%; height: auto; pointer-events: none; }
.kling-nb-region-box { position: absolute; box-sizing: border-box; border: 2px solid #00dcff;
  box-shadow: 0 0 0 9999px rgba(0, 0, 0, 0.38); cursor: move; }
.kling-nb-region-handle { position: absolute; width: 12px; height: 12px; margin: -7px 0 0 -7px;
  background: #fff; border: 2px solid #00a6c0; border-radius: 2px; box-sizing: border-box; }
.kling-nb-region-nw { left: 0; top: 0; cursor: nwse-resize; }
.kling-nb-region-n { left: 50%; top: 0; cursor: ns-resize; }
.kling-nb-region-ne { left: 100%; top: 0; cursor: nesw-resize; }
.kling-nb-region-e { left: 100%; top: 50%; cursor: ew-resize; }
.kling-nb-region-se { left: 100%; top: 100%; cursor: nwse-resize; }
.kling-nb-region-s { left: 50%; top: 100%; cursor: ns-resize; }
.kling-nb-region-sw { left: 0; top: 100%; cursor: nesw-resize; }
.kling-nb-region-w { left: 0; top: 50%; cursor: ew-resize; }
.kling-nb-region-bar { display: flex; gap: 10px; align-items: center; line-height: normal; }
.kling-nb-region-label { font-family: monospace; font-size: 12px; }
.kling-nb-region-hint { font-size: 12px; opacity: 0.75; line-height: normal; }
"""


@dataclass(frozen=True)
class DisplayPhoto:
    """A photo made ready to draw on: reduced for display, its data URI, its full size."""

    picture: Image.Image = dataclass_field(repr=False)  # upright RGB, ≤ DISPLAY_SIDE px
    uri: str = dataclass_field(repr=False)  # the picture as a JPEG data: URI, for the page
    size: tuple[int, int]  # the photo's own size, as shown (after EXIF rotation)


def display_photo(photo: ImageInput | Photo) -> DisplayPhoto:
    """`photo` decoded and reduced for a drawing surface (slow for a big photo: off the loop);
    KlingImageError or KlingRegionError in words if it cannot be opened."""
    if not isinstance(photo, (Photo, Image.Image, str, bytes, bytearray, memoryview, PathLike)):
        photo = Image.fromarray(photo)  # a numpy array, as a region edit takes it
    original = open_photo(photo)
    shown = original.rgb()
    full = shown.size
    if max(full) > DISPLAY_SIDE:
        shown = shown.copy()
        shown.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
    return DisplayPhoto(shown, thumbnail_data_uri(shown, DISPLAY_SIDE, DISPLAY_MAX_BYTES), full)


Shown = ImageInput | Photo | DisplayPhoto


def region_picker(photo: Shown, *, box: Sequence[int] | None = None, fallback: bool = False) -> Any:
    """A widget to draw a box on `photo`: the anywidget canvas, else (or with `fallback`)
    core-widget fields with a preview. Both have `box`, `on_box()`, `region()`."""
    if not fallback:
        try:
            return canvas_class()(photo, box=box)
        except ImportError:  # anywidget is missing: the core widgets still work
            pass
    return RegionFields(photo, box=box)


class _BoxOwner:
    """What both surfaces share: the photo's size, the box's checks, callbacks."""

    size: tuple[int, int]

    def on_box(self, callback: Callable[[Box | None], None]) -> Callable[[], None]:
        """Call `callback(box)` whenever the box changes; returns a function that stops it."""

        def changed(change: dict[str, Any]) -> None:
            callback(change["new"])

        self.observe(changed, names="box")  # type: ignore[attr-defined]
        return lambda: self.unobserve(changed, names="box")  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        box = self.box  # type: ignore[attr-defined]
        drawn = str(tuple(box)) if box is not None else message("region.widget_no_box")
        width, height = self.size
        return message("region.widget_repr", width=width, height=height, box=drawn)

    def region(self) -> Region | None:
        """The box as a `Region` for a region edit, or None when none is drawn."""
        box = self.box  # type: ignore[attr-defined]
        return None if box is None else Region.from_box(box)

    def _checked(self, value: object) -> Box | None:
        """A box within the photo, as a tuple; a refusal in words (a TraitError) if not."""
        if value is None:
            return None
        try:
            region = Region.from_box(value if isinstance(value, (list, tuple)) else [value])
            region.check(self.size)
        except KlingRegionError as exc:
            raise traitlets.TraitError(str(exc)) from None
        return region.box


def _displayed(photo: Shown) -> DisplayPhoto:
    return photo if isinstance(photo, DisplayPhoto) else display_photo(photo)


@lru_cache(maxsize=1)
def canvas_class() -> type:
    """The anywidget class, made on first use (anywidget is imported only then)."""
    import anywidget

    class RegionCanvas(_BoxOwner, anywidget.AnyWidget):
        """Draw a box on a picture with the mouse; `box` in the photo's own pixels."""

        _esm = ESM
        _css = CSS
        src = traitlets.Unicode("").tag(sync=True)
        size = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0)).tag(
            sync=True
        )
        box = traitlets.Tuple(allow_none=True, default_value=None).tag(sync=True)
        clear_label = traitlets.Unicode("").tag(sync=True)
        empty_label = traitlets.Unicode("").tag(sync=True)
        hint = traitlets.Unicode("").tag(sync=True)

        def __init__(self, photo: Shown, *, box: Sequence[int] | None = None):
            super().__init__()
            self.add_class("kling-nb-region-widget")
            self.set_photo(photo)
            self.clear_label = message("region.widget_clear")
            self.empty_label = message("region.widget_empty")
            self.hint = message("region.widget_hint")
            if box is not None:
                self.box = tuple(box)

        def set_photo(self, photo: Shown) -> None:
            """Show another photo (the box is cleared: it belonged to the last one)."""
            shown = _displayed(photo)
            self.set_trait("box", None)
            self.size = shown.size
            self.src = shown.uri

        @traitlets.validate("box")
        def _valid_box(self, proposal: dict[str, Any]) -> Box | None:
            return self._checked(proposal["value"])

    return RegionCanvas


class RegionFields(_BoxOwner, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped: Any
    """The core-widgets fallback: the box as four numbers, and a preview with it drawn."""

    box = traitlets.Tuple(allow_none=True, default_value=None)

    def __init__(self, photo: Shown, *, box: Sequence[int] | None = None):
        shown = _displayed(photo)
        self._shown, self.size = shown.picture, shown.size
        names = ("left", "top", "right", "bottom")
        self.fields = [
            w.BoundedIntText(value=0, min=0, max=self.size[i % 2], description=name)
            for i, name in enumerate(names)
        ]
        self.clear = w.Button(description=message("region.widget_clear"))
        self.preview = w.Image(format="jpeg")
        self.problem = w.HTML("")
        self._quiet = False
        super().__init__(
            [
                self.preview,
                w.HBox(self.fields),
                w.HBox([self.clear, self.problem]),
                w.HTML(message("region.widget_fields_hint")),
            ]
        )
        self.add_class("kling-nb-region-fields")
        for field in self.fields:
            field.observe(self._from_fields, names="value")
        self.clear.on_click(lambda _: setattr(self, "box", None))
        self.observe(self._show, names="box")
        if box is not None:
            self.box = tuple(box)
        self._show({"new": self.box})

    @traitlets.validate("box")
    def _valid_box(self, proposal: dict[str, Any]) -> Box | None:
        return self._checked(proposal["value"])

    def _from_fields(self, _change: dict[str, Any]) -> None:
        if self._quiet:
            return
        values = tuple(f.value for f in self.fields)
        try:
            self.box = values
        except traitlets.TraitError as exc:
            self.problem.value = f'<span class="kling-nb-region-problem">{exc}</span>'

    def _show(self, change: dict[str, Any]) -> None:
        box = change["new"]
        self.problem.value = ""
        self._quiet = True
        try:
            for field, value in zip(self.fields, box or (0, 0, 0, 0), strict=True):
                field.value = value
        finally:
            self._quiet = False
        self.preview.value = thumbnail_bytes(_drawn(self._shown, self.size, box), DISPLAY_SIDE)


def _drawn(shown: Image.Image, size: tuple[int, int], box: Box | None) -> Image.Image:
    """The display picture with the box outlined and the rest dimmed."""
    if box is None:
        return shown
    sx, sy = shown.width / size[0], shown.height / size[1]
    left, top = box[0] * sx, box[1] * sy
    frame = (left, top, max(left, box[2] * sx - 1), max(top, box[3] * sy - 1))
    dim = Image.new("L", shown.size, 100)
    ImageDraw.Draw(dim).rectangle(frame, fill=0)
    picture = shown.copy()
    picture.paste((0, 0, 0), (0, 0, *shown.size), dim)
    ImageDraw.Draw(picture).rectangle(frame, outline=(0, 220, 255), width=2)
    return picture
