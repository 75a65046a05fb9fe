"""A hostile fal-queue server on loopback (Starlette + uvicorn over TLS, in a thread).

It speaks enough of the queue protocol for the real `fal_client` and kling_nb, and lies the
way a compromised or careless gateway could: path-like request ids and file names, the
caller's key echoed in error bodies, malformed answers, HTML served as an image.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image


def png_bytes(side: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.radial_gradient("L").resize((side, side)).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Behaviour:
    """What the server answers; tests change it between calls."""

    request_id: str = "req-1"
    file_name: str | None = "out.png"
    image: bytes = field(default_factory=png_bytes)
    image_type: str = "image/png"
    echo_key_on: str | None = None  # "submit" | "status" | "result": 4xx body echoing the key
    submit_body: Any = None  # replaces the submit answer (malformed answers)
    result_body: Any = None  # replaces the result answer
    seen_keys: list[str] = field(default_factory=list)


@dataclass
class Hostile:
    host: str  # as FAL_QUEUE_RUN_HOST spells it
    ca_file: Path
    behaviour: Behaviour

    def reset(self) -> None:
        """Back to an honest answer (a module shares one server)."""
        fresh = Behaviour()
        for name in vars(fresh):
            setattr(self.behaviour, name, getattr(fresh, name))

    def env(self, key: str, home: Path) -> dict[str, str]:
        return {
            "FAL_QUEUE_RUN_HOST": self.host,
            "FAL_KEY": key,
            "SSL_CERT_FILE": str(self.ca_file),
            "KLING_NB_HOME": str(home),
        }


def _app(b: Behaviour, base: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def echo(request: Request, where: str) -> Response | None:
        auth = request.headers.get("authorization", "")
        b.seen_keys.append(auth)
        if b.echo_key_on == where:
            body = {"detail": f"invalid credentials: {auth!r} is not a key", "error_type": auth}
            headers = {"x-fal-error-type": auth, "x-echo": f"you sent {auth}"}
            return JSONResponse(body, 403, headers=headers)
        if b.echo_key_on == f"{where}-5xx":  # a failure that reads as the job's, not the key's
            body = {"detail": f"upstream rejected {auth}", "error_type": auth}
            return JSONResponse(body, 422, headers={"x-fal-error-type": auth})
        return None

    async def submit(request: Request) -> Response:
        refused = echo(request, "submit")
        if refused is not None:
            return refused
        if b.submit_body is not None:
            return JSONResponse(b.submit_body)
        return JSONResponse(
            {
                "status": "IN_QUEUE",
                "request_id": b.request_id,
                "response_url": f"{base}/r",
                "status_url": f"{base}/s",
                "cancel_url": f"{base}/c",
            }
        )

    async def status(request: Request) -> Response:
        return echo(request, "status") or JSONResponse({"status": "COMPLETED", "logs": []})

    async def stream(request: Request) -> Response:
        return Response("no stream here", 404)

    async def result(request: Request) -> Response:
        refused = echo(request, "result")
        if refused is not None:
            return refused
        if b.result_body is not None:
            return JSONResponse(b.result_body)
        image = {"url": f"{base}/f", "content_type": b.image_type}
        if b.file_name is not None:
            image["file_name"] = b.file_name
        return JSONResponse({"images": [image], "description": ""})

    async def file(request: Request) -> Response:
        return Response(b.image, 200, media_type="image/png")  # whatever the bytes are

    async def cancel(request: Request) -> Response:
        return JSONResponse({"status": "ALREADY_COMPLETED"}, 400)

    return Starlette(
        routes=[
            Route("/q/s/stream", stream),
            Route("/q/s", status),
            Route("/q/r", result),
            Route("/q/f", file),
            Route("/q/c", cancel, methods=["PUT", "POST"]),
            # The queue's own paths, used when an answer names URLs on another host.
            Route("/q/{app:path}/requests/{rid}/status/stream", stream),
            Route("/q/{app:path}/requests/{rid}/status", status),
            Route("/q/{app:path}/requests/{rid}/cancel", cancel, methods=["PUT", "POST"]),
            Route("/q/{app:path}/requests/{rid}", result),
            Route("/q/{endpoint:path}", submit, methods=["POST"]),
        ]
    )


@contextmanager
def hostile_server(folder: Path) -> Iterator[Hostile]:
    """Serve a `Behaviour` on 127.0.0.1 over TLS until the block ends."""
    import socket

    import trustme
    import uvicorn

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, key_file, cert_file = folder / "ca.pem", folder / "key.pem", folder / "cert.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    behaviour = Behaviour()
    app = _app(behaviour, f"https://127.0.0.1:{port}/q")
    config = uvicorn.Config(
        app, log_level="error", ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):
        if server.started:
            started.set()
            break
        started.wait(0.01)
    assert started.is_set(), "hostile server did not start"
    try:
        yield Hostile(f"127.0.0.1:{port}/q", ca_file, behaviour)
    finally:
        server.should_exit = server.force_exit = True  # kept-alive client connections too
        thread.join(5)
        sock.close()
