"""A running emulator: uvicorn on a background thread, HTTPS for the queue, HTTP for files."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import weakref
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._app import DroppedConnection, create_app, create_files_app
from ._options import EmulatorOptions
from ._queue import JobQueue
from ._storage import CDN_PREFIX, REST_PREFIX
from ._tls import make_tls_files

if TYPE_CHECKING:
    import uvicorn

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
FOLDER_PREFIX = "kling_nb_emulator_"
OWNER_FILE = "owner.pid"  # the PID of the process whose folder this is


class Emulator:
    """A started emulator; `with start() as emu:` stops it (threads, ports, temp files) on exit."""

    def __init__(self, options: EmulatorOptions):
        self.options = options
        remove_stale_folders()
        self._folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._folder), True)
        (self._folder / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
        self._tls = make_tls_files(self._folder / "tls")
        main_sock = _bind(options.host, options.port)
        try:
            files_sock = _bind(options.host, options.files_port)
        except OSError:
            main_sock.close()
            raise
        name = _url_host(options.host)
        port, files_port = main_sock.getsockname()[1], files_sock.getsockname()[1]
        self.host = f"{name}:{port}/queue"
        self.url = f"https://{name}:{port}"
        self.files_url = f"http://{name}:{files_port}"
        # What fal_client's REST_URL and CDN_URL become to upload here (`_storage`).
        self.fal_rest_url = self.url + REST_PREFIX
        self.fal_cdn_url = self.url + CDN_PREFIX
        self.ca_bundle = str(self._tls.bundle)
        self.ca_cert = str(self._tls.ca_cert)
        app, self._queue = create_app(
            options, public_url=self.url, files_url=self.files_url, files_dir=self._folder / "files"
        )
        self._servers = [
            _uvicorn_server(app, ssl_files=(self._tls.server_cert, self._tls.server_key)),
            _uvicorn_server(create_files_app(self._queue), ssl_files=None),
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._final_stats: dict[str, object] | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._serve,
            args=([main_sock], [files_sock]),
            name="kling-nb-emulator",
            daemon=True,
        )

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<Emulator {state} host={self.host!r} files={self.files_url!r}>"

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def matches(self, **options: Any) -> bool:
        """True if running with these options (others at their current values)."""
        return not self._stopped and replace(self.options, **options) == self.options

    def env(self) -> dict[str, str]:
        """The variables that point fal-client (in another process) at this emulator, and
        kling_nb at its profile's rules."""
        return {
            "FAL_QUEUE_RUN_HOST": self.host,
            "SSL_CERT_FILE": self.ca_bundle,
            "KLING_NB_PROFILE": self.options.profile,
        }

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting certifi's CAs and this emulator's CA."""
        return self._tls.client_context()

    def stats(self) -> dict[str, Any]:
        """The same JSON as `GET /_emulator/stats`, read in-process (final numbers once stopped)."""
        if self._final_stats is not None or self._loop is None:
            return dict(self._final_stats or {})
        return self._call(self._queue.stats)

    def stop(self) -> None:
        """Stop serving, join the thread, free the ports, delete temp files; idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        if self._thread.is_alive() and self._loop is not None:
            try:
                self._final_stats = self._call(self._queue.stats)
            except (RuntimeError, FutureTimeout):
                self._final_stats = None  # the loop is already gone: nothing to read
        if self._thread.is_alive() and self._loop is not None:
            try:
                self._call(self._abort_connections)
            except (RuntimeError, FutureTimeout):
                pass  # the loop ended on its own; the join below still applies
        self._thread.join(STOP_TIMEOUT)
        self._cleanup()

    def _abort_connections(self) -> None:
        """Stop both servers now: open keep-alive TLS connections would hold a graceful stop."""
        for server in self._servers:
            server.should_exit = True
            for connection in list(server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()

    def _launch(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not all(s.started for s in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The kling_nb emulator did not start (see the log above).")
            time.sleep(0.01)

    def _serve(self, main: list[socket.socket], files: list[socket.socket]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve_both() -> None:
            await asyncio.gather(self._servers[0].serve(main), self._servers[1].serve(files))

        try:
            loop.run_until_complete(serve_both())
        finally:
            loop.close()
            for sock in main + files:
                sock.close()

    def _call(self, fn: Any) -> Any:
        """Run `fn()` on the server loop, where the queue's state lives."""
        assert self._loop is not None

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(STOP_TIMEOUT)

    @property
    def queue(self) -> JobQueue:
        """The queue behind the server (for tests that need its internals)."""
        return self._queue


def start(**options: Any) -> Emulator:
    """Start an emulator on loopback; returns once it accepts connections."""
    _quiet_dropped_connections()
    emulator = Emulator(EmulatorOptions(**options))
    emulator._launch()
    return emulator


def remove_stale_folders(root: Path | None = None) -> list[Path]:
    """Delete the temp folders (TLS key included) of emulators whose process died without
    cleaning up (SIGKILL, a crash): only folders marked as ours, only of dead processes."""
    if sys.platform == "win32":
        return []  # os.kill(pid, 0) would terminate the process there, not probe it
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text(encoding="ascii"))
            mine = folder.stat().st_uid == os.getuid()
        except (OSError, ValueError):
            continue  # not an emulator folder we marked (or half made): leave it
        if mine and owner != os.getpid() and not _alive(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probes, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _uvicorn_server(app: Any, *, ssl_files: tuple[Path, Path] | None) -> uvicorn.Server:
    import uvicorn

    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        loop="asyncio",
        lifespan="on" if ssl_files else "off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=1,
        ssl_certfile=str(ssl_files[0]) if ssl_files else None,
        ssl_keyfile=str(ssl_files[1]) if ssl_files else None,
    )
    return uvicorn.Server(config)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this. Without it, h11's separate header and body writes meet
    # Nagle and the client's delayed ACK: +44 ms on every answer (measured).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _url_host(host: str) -> str:
    """The host as URLs spell it; a wildcard bind is reached via 127.0.0.1 (the cert's name)."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def _quiet_dropped_connections() -> None:
    """Injected dropped connections are intended: keep their tracebacks out of the log."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())
