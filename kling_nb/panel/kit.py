"""How the panel makes its widgets: the same few helpers, and as few widget models as it can.

ipywidgets gives every widget its own Layout and style model, and the page builds a view for
each one; a panel made naively holds about 170 of them before it shows anything. The kit
shares one Layout per width and one style per kind of widget among the widgets that look the
same and are never shown or hidden on their own. A widget the views show and hide
(`views.show`, which sets `layout.display`) is made with `own=True`: its layout is its own.
Nothing is shared between two panels (closing one leaves the other whole).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from .compat import set_tooltip


def classed(widget: Any, *classes: str) -> Any:
    """`widget` with CSS classes added."""
    for name in classes:
        widget.add_class(name)
    return widget


class Kit:
    """Makes one panel's widgets, sharing layouts and styles where nothing tells them apart."""

    def __init__(self) -> None:
        self._layouts: dict[str, Any] = {}
        self._styles: dict[type, Any] = {}

    def layout(self, width: str | None = None, own: bool = False) -> Any:
        """A Layout of `width`: shared by every widget asking the same, unless `own`."""
        if own:
            return w.Layout(width=width) if width else w.Layout()
        key = width or ""
        if key not in self._layouts:
            self._layouts[key] = w.Layout(width=width) if width else w.Layout()
        return self._layouts[key]

    def make(self, kind: type, *classes: str, own: bool = False, **traits: Any) -> Any:
        """A `kind` widget with the kit's layout and its kind's shared style."""
        width = traits.pop("width", None)
        if kind in self._styles:
            traits["style"] = self._styles[kind]
        made = kind(layout=self.layout(width, own), **traits)
        if made.has_trait("style"):  # boxes have none in ipywidgets 8
            self._styles.setdefault(kind, made.style)
        return classed(made, *classes)

    def html(self, value: str = "", *classes: str, own: bool = False) -> Any:
        """An HTML widget showing `value` (markup: escape text first)."""
        return self.make(w.HTML, *classes, own=own, value=value)

    def button(
        self, text: str, tooltip: str = "", style: str = "", width: str = "auto", *classes: str
    ) -> Any:
        """A core Button with a hover text; `style` is its button_style (primary, warning…)."""
        made = self.make(w.Button, *classes, description=text, button_style=style, width=width)
        set_tooltip(made, tooltip or text)
        return made

    def hbox(self, children: Sequence[Any] = (), *classes: str, own: bool = False) -> Any:
        return self.make(w.HBox, *classes, own=own, children=list(children))

    def vbox(self, children: Sequence[Any] = (), *classes: str, own: bool = False) -> Any:
        return self.make(w.VBox, *classes, own=own, children=list(children))

    def row(self, *items: Any, own: bool = False) -> Any:
        """Widgets side by side, centred, wrapping."""
        return self.hbox(items, "kling-nb-row", own=own)

    def section(self, title: str, *rows: Any, own: bool = False) -> Any:
        """A titled part of the panel."""
        head = self.html(f"<span>{html.escape(title)}</span>", "kling-nb-label")
        return self.vbox([head, *rows], "kling-nb-section", own=own)
