"""The one way widget changes happen: on the thread of one asyncio event loop.

In a notebook that loop is the kernel's (the panel is built in a cell, where it runs); in
a plain script or a test there is none, so one private loop thread serves every panel.
Workers never touch widgets: they `post()` a callable, which `call_soon_threadsafe` hands
to the loop, as ipywidgets' "Asynchronous widgets" page recommends. A cell that blocks the
loop in `wait()` pumps the queue itself (`pump_until`), so it never waits on itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")
SLICE = 0.05  # s; how long a pumping wait sleeps before it looks again
FLUSH_LIMIT = 5.0  # s a finished wait gives a busy loop to bring the widgets up to date
log = logging.getLogger("kling_nb.panel")

_private: tuple[asyncio.AbstractEventLoop, int] | None = None
_private_lock = threading.Lock()


def _private_loop() -> tuple[asyncio.AbstractEventLoop, int]:
    """The loop (and its thread id) shared by panels made where no loop runs."""
    global _private
    with _private_lock:
        if _private is None:
            loop = asyncio.new_event_loop()
            started = threading.Event()
            ident: list[int] = []

            def serve() -> None:
                ident.append(threading.get_ident())
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            threading.Thread(target=serve, name="kling-nb-panel-loop", daemon=True).start()
            started.wait()
            _private = (loop, ident[0])
        return _private


class Dispatcher:
    """Runs callables in order on its loop's thread; from any thread, never blocking a worker."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ):
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop, ident = _private_loop()
            else:
                ident = threading.get_ident()
        else:
            ident = threading.get_ident()  # a loop given is the caller's own
        self.loop = loop
        self.thread_id = ident
        self.on_error = on_error
        self._queue: deque[Callable[[], object]] = deque()
        self._ready = threading.Condition()
        self._scheduled = False
        self._draining = False

    def on_loop(self) -> bool:
        """True on the loop's thread, where widgets may change."""
        return threading.get_ident() == self.thread_id

    def post(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the loop's thread: now if already there, else soon; never waits."""
        with self._ready:
            self._queue.append(fn)
            self._ready.notify_all()
            schedule = not self._scheduled and not self.on_loop()
            self._scheduled = self._scheduled or schedule
        if self.on_loop():
            self.drain()
        elif schedule:
            try:
                self.loop.call_soon_threadsafe(self._scheduled_drain)
            except RuntimeError:  # the loop has closed (the kernel is going): nothing to show
                log.debug("kling_nb panel: event loop closed, update dropped")

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """`fn()` run on the loop's thread, its value returned (or its exception raised)."""
        if self.on_loop():
            self.drain()  # earlier updates first: what `fn` sees is current
            return fn()
        box: Future[T] = Future()

        def run() -> None:
            # The answer is queued behind whatever `fn` posted (its renders): the caller
            # then sees the widgets as `fn` left them.
            try:
                value = fn()
            except BaseException as exc:  # handed to the caller, who raises it
                self.post(functools.partial(box.set_exception, exc))
            else:
                self.post(lambda: box.set_result(value))

        self.post(run)
        return box.result(timeout)

    def _scheduled_drain(self) -> None:
        with self._ready:
            self._scheduled = False
        self.drain()

    def drain(self) -> None:
        """Run everything queued, in order (on the loop's thread; re-entry just queues)."""
        if self._draining:
            return  # a widget change inside a callable posted more: the outer loop runs it
        self._draining = True
        try:
            while True:
                with self._ready:
                    if not self._queue:
                        return
                    fn = self._queue.popleft()
                try:
                    fn()
                except Exception as exc:  # one broken update must not stop the others
                    self._report(exc)
        finally:
            self._draining = False

    def _report(self, exc: Exception) -> None:
        if self.on_error is not None:
            try:
                self.on_error(exc)
                return
            except Exception:  # reporting failed too: the log is the last resort
                pass
        log.exception("kling_nb panel: an update failed", exc_info=exc)

    def wake(self) -> None:
        """Wake a pumping wait (something it waits for may have happened)."""
        with self._ready:
            self._ready.notify_all()

    def pump_until(
        self,
        done: Callable[[], bool],
        timeout: float | None,
        idle: Callable[[], None] | None = None,
    ) -> bool:
        """Wait until `done()`, running posted updates meanwhile on the loop's thread."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.on_loop():
                self.drain()
            if done():
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            with self._ready:
                if not self._queue or not self.on_loop():
                    self._ready.wait(SLICE if left is None else min(SLICE, left))
            if idle is not None and self.on_loop():
                idle()
        # The result is in; the widgets follow unless the loop is busy elsewhere (a wait
        # from another thread while a cell runs): then they follow later, on their own.
        self.flush(FLUSH_LIMIT)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Every update posted so far has run (False if the loop was busy past `timeout`)."""
        if self.on_loop():
            self.drain()
            return True
        marker: Future[None] = Future()
        self.post(lambda: marker.set_result(None))
        try:
            marker.result(timeout)
        except FutureTimeout:  # not the builtin TimeoutError before Python 3.11
            return False
        return True
