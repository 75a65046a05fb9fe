"""Every difference between ipywidgets 7.7 (Colab ships 7.7.1) and 8, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

V7 = w.__version__.startswith("7.")


def upload_entries(value: object) -> list[tuple[str, bytes]]:
    """(file name, bytes) of a FileUpload value, in ipywidgets 7 or 8 form."""
    # 7.x: a dict name → {"metadata": {...}, "content": bytes};
    # 8.x: a tuple of dicts with name, type, size and content (a memoryview).
    found: list[tuple[str, bytes]] = []
    if isinstance(value, Mapping):
        for name, entry in value.items():
            if isinstance(entry, Mapping) and "content" in entry:
                meta = entry.get("metadata") or {}
                found.append((str(meta.get("name") or name), bytes(entry["content"])))
    elif isinstance(value, (tuple, list)):
        for entry in value:
            if isinstance(entry, Mapping) and "content" in entry:
                found.append((str(entry.get("name") or "upload"), bytes(entry["content"])))
    return found


def clear_upload(upload: Any) -> None:
    """Empty a FileUpload so the same file can be chosen again (and its bytes are freed)."""
    if isinstance(upload.value, Mapping):  # 7: a read-only dict over data + metadata lists
        upload.set_trait("value", {})
        for name in ("data", "metadata"):
            if upload.has_trait(name):
                upload.set_trait(name, [])
    elif upload.value:
        upload.value = ()


def set_tooltip(widget: Any, text: str) -> None:
    """A hover text: `tooltip` in 8 (unset, it shows "null"), `description_tooltip` in 7."""
    if widget.has_trait("tooltip"):
        widget.tooltip = text
    elif widget.has_trait("description_tooltip"):
        widget.description_tooltip = text


def live_widgets() -> int:
    """How many widget models this kernel holds (what a leak makes grow)."""
    registry = getattr(w.widgets.widget, "_instances", None)  # 8.x
    if registry is None:
        registry = w.Widget.widgets  # 7.x
    return len(registry)
