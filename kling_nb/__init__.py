"""kling_nb: Kling O1 image-to-image (fal-ai/kling-image/o1) from a notebook or a shell.

Through Qiniu AIToken (QINIU_API_KEY) or fal.ai (FAL_KEY), billed per output image; with no
key, offline and free on a bundled emulator whose pictures are badged EMULATED (not Kling).
The tutorials: `kling-nb lab` (JupyterLab). A shell: `kling-nb edit IMAGE -p PROMPT`.

    import kling_nb
    kling_nb.connect()            # says which backend: Qiniu, fal, or the offline emulator
    result = kling_nb.edit(
        "将 <<<image_1>>> 转换为水彩画风格",    # refer to the inputs as <<<image_1>>>, …
        kling_nb.sample_image("running-man"),  # or a path, a URL, a PIL image, bytes
        num_images=2,
    )
    result                        # a gallery in Jupyter; result.compare(): before/after
    result.save("results/")       # full-size files, prompt and request id embedded
    kling_nb.edit("把 <<<image_1>>> 里的杯子换成向日葵", "photo.jpg", region=(120, 80, 900, 640))
                                  # only that box changes; result.drift() measures the rest

    kling_nb.estimate(...)        # what an edit would cost (same arguments; nothing sent)
    kling_nb.set_budget(5, "USD") # refuse what would pass it; kling_nb.budget() shows it
    kling_nb.history()            # every job in the journal; kling_nb.resume() finishes them
    kling_nb.EditPanel()          # the same with widgets
    kling_nb.doctor()             # check a key and host without paying

Everything is checked before money is spent; every error is a KlingError that says the
field, the value, the limit and the fix (in Chinese or English: set_language("en")). An
identical edit already made is replayed from the journal, not paid again (fresh=True pays).
Every call has an async twin (edit_async, run_batch_async); `kling-nb --help` lists the
shell's commands (samples, estimate, budget, history, resume, doctor, emulator).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._api import edit, edit_async, run_fal_task, run_fal_task_async
    from ._batch import BatchResult, request_grid, run_batch, run_batch_async
    from ._config import Connection, connect, set_language
    from ._display import plain_tracebacks
    from ._doctor import doctor
    from ._drift import Drift
    from ._errors import (
        KlingBudgetError,
        KlingCancelledError,
        KlingConfigError,
        KlingConnectionError,
        KlingDateError,
        KlingError,
        KlingImageError,
        KlingJobError,
        KlingJournalError,
        KlingLanguageError,
        KlingNotInPanelError,
        KlingRegionError,
        KlingReplayError,
        KlingSubmitUnknownError,
        KlingTimeoutError,
        KlingValidationError,
    )
    from ._history import History, history
    from ._job import Cancellation, Job
    from ._money import budget, estimate, set_budget
    from ._region import Region
    from ._request import KlingO1Request
    from ._results import EditResult, ResultImage
    from ._resume import resume
    from ._wire import ENDPOINT
    from .panel import EditPanel
    from .panel.region import region_picker

# The public surface, one table: each name and the module that owns it. Everything loads on
# first use, so `import kling_nb` stays near `import fal_client` in cost (the heavy modules
# pull in Pillow, numpy, sqlite, tqdm or ipywidgets). `__all__` is this table's keys;
# tests/test_exports.py checks both ways (every name resolves; nothing public is missing).
_PUBLIC = {
    "BatchResult": "_batch",
    "Cancellation": "_job",
    "Connection": "_config",
    "Drift": "_drift",
    "ENDPOINT": "_wire",
    "EditPanel": "panel",
    "EditResult": "_results",
    "History": "_history",
    "Job": "_job",
    "KlingBudgetError": "_errors",
    "KlingCancelledError": "_errors",
    "KlingConfigError": "_errors",
    "KlingConnectionError": "_errors",
    "KlingDateError": "_errors",
    "KlingError": "_errors",
    "KlingImageError": "_errors",
    "KlingJobError": "_errors",
    "KlingJournalError": "_errors",
    "KlingLanguageError": "_errors",
    "KlingNotInPanelError": "_errors",
    "KlingO1Request": "_request",
    "KlingRegionError": "_errors",
    "KlingReplayError": "_errors",
    "KlingSubmitUnknownError": "_errors",
    "KlingTimeoutError": "_errors",
    "KlingValidationError": "_errors",
    "Region": "_region",
    "ResultImage": "_results",
    "budget": "_money",
    "connect": "_config",
    "doctor": "_doctor",
    "edit": "_api",
    "edit_async": "_api",
    "estimate": "_money",
    "history": "_history",
    "plain_tracebacks": "_display",
    "region_picker": "panel.region",
    "request_grid": "_batch",
    "resume": "_resume",
    "run_batch": "_batch",
    "run_batch_async": "_batch",
    "run_fal_task": "_api",
    "run_fal_task_async": "_api",
    "set_budget": "_money",
    "set_language": "_config",
}
_HERE = ("__version__", "sample_image", "sample_names")  # defined in this module

__all__ = sorted([*_PUBLIC, *_HERE])


def sample_image(name: str = "running-man.jpg") -> Path:
    """The path of a bundled sample picture, by name with or without ".jpg" (`sample_names()`)."""
    from ._samples import find_sample

    return find_sample(name)


def sample_names() -> list[str]:
    """The bundled sample photos: public domain, CC0 or drawn by code (see PROVENANCE.md)."""
    from ._samples import sample_names as names

    return names()


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'kling_nb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
