"""`EditPanel`: edit photos with Kling O1 from a notebook, in core ipywidgets (7.7 and 8).

    badge ─ reference images (path / URL / upload; thumbnails; reorder, remove, insert ref)
          ─ prompt (live count, references checked) ─ resolution · aspect ratio · images
          ─ "Mark a region on image 1": a box drawn with the mouse (region_picker), the box in
            pixels, Clear, and what a Run will send (the region's plan); resolution "auto"
          ─ Run / Cancel · estimated cost · live status ─ results (drift under each; save, use
            as input, compare)
          ─ this session's runs (restore, show, collect a stopped one) ─ the journal's runs
          ─ "show code": the same request as `kling_nb.edit(...)` and `run_fal_task(...)`

The package, one concept per module:

    state       the panel at one moment, an immutable value, and the words it says
    model       the one writer of that state, under a lock (no widgets, no I/O)
    views       the widgets, made once and reused, and the views that render a state
    runner      the run controller: every call into the job engine, none into widgets;
                the slow work (waits, thumbnails, drift, image 1 to draw on, a region's plan)
    region      the region-drawing surface (anywidget, with a core-widgets fallback)
    dispatcher  every widget change on the kernel's event loop (workers post to it)
    compat      the ipywidgets 7.7 / 8 differences
    codegen     "show code"
    editor      EditPanel, which puts them together

Scripts and tests use the same surface as the buttons: set `prompt`, `resolution`,
`aspect_ratio`, `num_images`, `output_format`, `region`; `add_image()`, `add_uploads()`,
`mark_region()` (then `region_surface` is the drawing surface); `run()` returns a Future;
`wait()`, `cancel()`, `collect()`; read `result`, `results`, `history`, `last_error`,
`status`; `widgets` holds every control (`panel.widgets.run.click()`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import renumber_references
from .state import PanelImage, PanelRun

if TYPE_CHECKING:
    from .compat import upload_entries
    from .editor import EditPanel

__all__ = ["EditPanel", "PanelImage", "PanelRun", "renumber_references", "upload_entries"]


def __getattr__(name: str) -> Any:
    # ipywidgets is loaded with the widgets, not with the model (which is tested alone).
    if name == "EditPanel":
        from .editor import EditPanel

        return EditPanel
    if name == "upload_entries":
        from .compat import upload_entries

        return upload_entries
    raise AttributeError(f"module 'kling_nb.panel' has no attribute {name!r}")
