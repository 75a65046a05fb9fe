"""A small HTTPS queue on loopback that answers in the shapes real services and gateways
use (PROTOCOL.md, "How the real services differ…"), one quirk at a time.

The emulator learns service profiles in parallel; this server covers the client's side now:
empty `cancel_url`, no status stream (404, or 400 with a detail), status without `logs`,
inline `result`, terminal `FAILED`, an unknown body shape, an expired result, a hung server
and a killed one.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT = {"images": [{"url": "data:image/png;base64,iVBORw0KGgo=", "content_type": "image/png"}]}


@dataclass
class Quirks:
    """How the server answers; the defaults are Qiniu's documented shapes."""

    stream: str = "404"  # "404" | "400-detail" | "405" | "hang"
    cancel_url: str = ""  # what submit answers; "" as Qiniu documents
    polls_before_done: int = 1
    final: str = "inline"  # "inline" | "plain" | "failed" | "error" | "shape" | "expired" | "echo"
    hang: bool = False  # every status and cancel call hangs
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, agent)


def _app(quirks: Quirks) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    polls: dict[str, int] = {}

    def note(request: Request) -> None:
        agent = request.headers.get("user-agent", "")
        quirks.calls.append((request.method, request.url.path, agent))

    async def submit(request: Request) -> Response:
        note(request)
        rid = f"qimage-root-{len(polls) + 1:06d}"
        polls[rid] = 0
        base = f"{request.base_url}fal-ai/kling-image/requests/{rid}"
        return JSONResponse(
            {
                "status": "IN_QUEUE",
                "request_id": rid,
                "response_url": base,
                "status_url": base + "/status",
                "cancel_url": quirks.cancel_url,
            }
        )

    async def stream(request: Request) -> Response:
        note(request)
        if quirks.stream == "hang":
            await asyncio.sleep(60)
        if quirks.stream == "400-detail":
            return JSONResponse({"detail": "SSE streaming not supported"}, status_code=400)
        return JSONResponse({"detail": "Not Found"}, status_code=int(quirks.stream))

    async def status(request: Request) -> Response:
        note(request)
        if quirks.hang:
            await asyncio.sleep(60)
        rid = request.path_params["rid"]
        polls[rid] = polls.get(rid, 0) + 1
        if polls[rid] <= quirks.polls_before_done:
            return JSONResponse({"status": "IN_PROGRESS"}, status_code=202)  # no logs
        body: dict[str, Any] = {
            "inline": {"status": "COMPLETED", "result": OUTPUT},
            "plain": {"status": "COMPLETED"},
            "expired": {"status": "COMPLETED"},
            "failed": {"status": "FAILED", "error": "content moderation: image blocked"},
            "error": {"status": "ERROR", "message": "upstream model crashed"},
            "shape": {"state": "done?"},
            "echo": {"status": "FAILED", "error": f"bad {request.headers.get('authorization')}"},
        }[quirks.final]
        return JSONResponse(body)

    async def result(request: Request) -> Response:
        note(request)
        if quirks.final == "expired":
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        return JSONResponse(OUTPUT)

    async def cancel(request: Request) -> Response:
        note(request)
        if quirks.hang:
            await asyncio.sleep(60)
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    prefix = "/fal-ai/kling-image/requests/{rid}"
    return Starlette(
        routes=[
            Route(prefix + "/status/stream", stream),
            Route(prefix + "/status", status),
            Route(prefix + "/cancel", cancel, methods=["PUT"]),
            Route(prefix, result),
            Route("/{path:path}", submit, methods=["POST"]),
        ]
    )


@dataclass
class QuirkServer:
    """A running quirk server: its host for FAL_QUEUE_RUN_HOST, CA bundle and quirks."""

    host: str
    ca_bundle: str
    quirks: Quirks
    server: Any
    thread: threading.Thread

    def kill(self) -> None:
        """Stop answering at once, as a crashed server would."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)

    def calls(self, method: str, suffix: str = "") -> list[tuple[str, str, str]]:
        return [c for c in self.quirks.calls if c[0] == method and c[1].endswith(suffix)]


@contextmanager
def quirk_server(folder: Path, quirks: Quirks) -> Iterator[QuirkServer]:
    """Serve `quirks` over HTTPS on a free loopback port until the block ends."""
    import uvicorn

    from kling_nb.emulator._tls import make_tls_files

    tls = make_tls_files(folder)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app(quirks),
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="critical",
        access_log=False,
        timeout_graceful_shutdown=0,
        ssl_certfile=str(tls.server_cert),
        ssl_keyfile=str(tls.server_key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 10
    while not server.started and time.monotonic() < end:
        time.sleep(0.02)  # startup of a real server: no clock to inject
    handle = QuirkServer(f"127.0.0.1:{port}", str(tls.bundle), quirks, server, thread)
    try:
        yield handle
    finally:
        handle.kill()
