"""Live progress of one job: a single updating line (state, queue position, elapsed, last log).

In a notebook the line is written to stdout and rewritten with `\\r`, which JupyterLab,
Colab and VS Code render as one updating line and which nbval collapses to its final
state; in a terminal it goes to stderr. Updates are throttled; the final line stays.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Protocol

from ._i18n import message
from ._text import clip
from ._wire import JobStatus

MIN_UPDATE_INTERVAL = 0.5  # s; at most two redraws a second (no comm flood)
LOG_WIDTH = 60


class Progress(Protocol):
    """What a job reports while it runs."""

    def submitted(self, request_id: str) -> None: ...
    def update(self, status: JobStatus, elapsed: float) -> None: ...
    def finished(self, outcome: str, elapsed: float, note: str = "") -> None: ...


class NoProgress:
    """Reports nothing."""

    def submitted(self, request_id: str) -> None:
        pass

    def update(self, status: JobStatus, elapsed: float) -> None:
        pass

    def finished(self, outcome: str, elapsed: float, note: str = "") -> None:
        pass


class CallbackProgress(NoProgress):
    """Calls `callback(status, elapsed)` on every update (used by the panel)."""

    def __init__(self, callback: Callable[[JobStatus, float], None]):
        self.callback = callback

    def update(self, status: JobStatus, elapsed: float) -> None:
        self.callback(status, elapsed)


class LineProgress:
    """One line, rewritten in place with `\\r`; `live=False` writes only the final line."""

    def __init__(
        self, stream: IO[str], *, live: bool = True, clock: Callable[[], float] = time.monotonic
    ):
        self.stream = stream
        self.live = live
        self.clock = clock
        self.request_id = ""
        self._last_text = ""
        self._last_write = -1.0
        self._width = 0

    def submitted(self, request_id: str) -> None:
        self.request_id = request_id
        self._write(f"⏳ {_short_id(request_id)} · {message('progress.submitting')}", force=True)

    def update(self, status: JobStatus, elapsed: float) -> None:
        state = message(f"progress.{status.state}", position=(status.position or 0) + 1)
        parts = [f"⏳ {_short_id(self.request_id)}", state, f"{elapsed:.1f} s"]
        if status.last_log:
            parts.append(clip(status.last_log, LOG_WIDTH))
        text = " · ".join(parts)
        changed = text.split(" · ")[:2] != self._last_text.split(" · ")[:2]
        self._write(text, force=changed)

    def finished(self, outcome: str, elapsed: float, note: str = "") -> None:
        mark = {"COMPLETED": "✓", "FAILED": "✗", "CANCELLED": "⊘"}.get(outcome, "·")
        parts = [f"{mark} {message(f'progress.{outcome}')}", f"{elapsed:.1f} s"]
        if note:
            parts.append(note)
        parts.append(message("progress.request", request_id=self.request_id))
        self._write(" · ".join(parts), force=True, final=True)

    def _write(self, text: str, *, force: bool = False, final: bool = False) -> None:
        now = self.clock()
        if not final and (
            not self.live or (not force and now - self._last_write < MIN_UPDATE_INTERVAL)
        ):
            self._last_text = text
            return
        pad = " " * max(0, self._width - len(text))
        lead = "\r" if self._width else ""
        self.stream.write(lead + text + pad + ("\n" if final else ""))
        self.stream.flush()
        self._width = 0 if final else len(text)
        self._last_text = text
        self._last_write = now


def make_progress(progress: bool | Progress | Callable[[JobStatus, float], None]) -> Progress:
    """The right reporter for where we run: notebook, terminal, or a caller's choice."""
    if progress is False:
        return NoProgress()
    if progress is True:
        if _in_kernel():
            return LineProgress(sys.stdout)
        return LineProgress(sys.stderr, live=sys.stderr.isatty())
    if callable(progress) and not hasattr(progress, "update"):
        return CallbackProgress(progress)
    return progress  # type: ignore[return-value]


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    from IPython import get_ipython

    ip = get_ipython()
    return ip is not None and hasattr(ip, "kernel")


def _short_id(request_id: str) -> str:
    return request_id[:8] if request_id else "…"
