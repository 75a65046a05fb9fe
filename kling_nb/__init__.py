"""kling_nb: Kling O1 image-to-image from a notebook, done properly.

import kling_nb
kling_nb.connect()                      # Qiniu, fal, or the offline emulator
result = kling_nb.edit("将 <<<image_1>>> 转换为水彩画风格", "photo.jpg")
result                                  # a gallery; result.save("out/")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._batch import BatchResult, request_grid, run_batch
from ._config import Connection, connect
from ._doctor import doctor
from ._errors import (
    KlingBudgetError,
    KlingCancelledError,
    KlingConfigError,
    KlingConnectionError,
    KlingError,
    KlingImageError,
    KlingJobError,
    KlingSubmitUnknownError,
    KlingTimeoutError,
    KlingValidationError,
)
from ._history import History, history
from ._i18n import set_language
from ._money import budget, estimate, set_budget
from ._request import KlingO1Request
from ._results import EditResult, ResultImage
from ._resume import resume
from ._tasks import Job, edit, run_fal_task
from ._version import __version__
from ._wire import ENDPOINT

if TYPE_CHECKING:
    from .panel import EditPanel

__all__ = [
    "BatchResult",
    "Connection",
    "ENDPOINT",
    "EditPanel",
    "EditResult",
    "History",
    "Job",
    "KlingBudgetError",
    "KlingCancelledError",
    "KlingConfigError",
    "KlingConnectionError",
    "KlingError",
    "KlingImageError",
    "KlingJobError",
    "KlingO1Request",
    "KlingSubmitUnknownError",
    "KlingTimeoutError",
    "KlingValidationError",
    "ResultImage",
    "__version__",
    "budget",
    "connect",
    "doctor",
    "edit",
    "estimate",
    "history",
    "request_grid",
    "resume",
    "run_batch",
    "run_fal_task",
    "sample_image",
    "sample_names",
    "set_budget",
    "set_language",
]


def sample_image(name: str = "running-man.jpg") -> Any:
    """The path of a bundled sample photo (see `sample_names()`)."""
    from .emulator._samples import sample_path

    return sample_path(name)


def sample_names() -> list[str]:
    """The bundled sample photos: public domain, CC0 or drawn by code (see PROVENANCE.md)."""
    from .emulator._samples import sample_names as names

    return names()


def __getattr__(name: str) -> Any:
    # The panel pulls in ipywidgets: load it only when asked for.
    if name == "EditPanel":
        from .panel import EditPanel

        return EditPanel
    raise AttributeError(f"module 'kling_nb' has no attribute {name!r}")
