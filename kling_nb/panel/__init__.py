"""`EditPanel`: edit photos with Kling O1 from a notebook, in core ipywidgets (7.7 and 8).

    badge ─ reference images (path / URL / upload; thumbnails; reorder, remove, insert ref)
          ─ prompt (live count, references checked) ─ resolution · aspect ratio · images
          ─ Run / Cancel · estimated cost · live status ─ results (save, use as input, compare)
          ─ this session's runs (restore in one click) ─ earlier runs from the journal
          ─ "show code": the same request as `kling_nb.edit(...)` and `run_fal_task(...)`

The package, one concept per module:

    model       images, parameters, runs, what is on show; the texts shown (no widgets)
    views       the widgets, made once and reused, and the views that render the model
    runner      the run controller: every call into the job engine, none into widgets
    dispatcher  every widget change on the kernel's event loop (workers post to it)
    compat      the ipywidgets 7.7 / 8 differences
    codegen     "show code"
    editor      EditPanel, which puts them together

Scripts and tests use the same surface as the buttons: set `prompt`, `resolution`,
`aspect_ratio`, `num_images`, `output_format`; `add_image()`, `add_uploads()`; `run()` returns
a Future; `wait()`, `cancel()`; read `result`, `results`, `history`, `last_error`, `status`;
`widgets` holds every control (`panel.widgets.run.click()`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import PanelImage, PanelRun, renumber_references

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
