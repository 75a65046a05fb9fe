"""Classroom test helpers: a real emulator behind a real gateway on loopback, students'
tokens, and unmodified `fal_client` clients holding them.

The upstream key of every gateway here is the canary key: whatever a test reads back
(answers, headers, logs, files) must never hold it.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import fal_client
import fal_client.client
import httpx
import pytest

from kling_nb import classroom, emulator
from kling_nb.classroom import Classroom, UpstreamSpec

from ..conftest import CANARY_KEY
from ..emulator.conftest import image_uri

APP = "fal-ai/kling-image/o1"
_names = itertools.count(1)


def body(**fields: Any) -> dict[str, Any]:
    """A valid input (one small data: URI), with `fields` replacing or adding keys."""
    return {"prompt": "turn <<<image_1>>> into a watercolor", "image_urls": [image_uri()], **fields}


def emulator_spec(emu: emulator.Emulator, key: str = CANARY_KEY) -> UpstreamSpec:
    """An emulator as the upstream, reached with `key` (the emulator accepts any)."""
    return UpstreamSpec("emulator", emu.host, key, emu.options.profile, emu.ca_bundle)


def add(room: Classroom, budget: str | None = "1", currency: str = "USD", name: str = "") -> str:
    """A new student in `room` (a fresh name unless given); their token."""
    amount = None if budget is None else Decimal(budget)
    return room.store.add_student(name or f"s{next(_names)}", amount, currency if amount else "")


@contextmanager
def open_room(folder: Path, emu: emulator.Emulator, **options: Any) -> Iterator[Classroom]:
    """A gateway on loopback in front of `emu` (upstream key: the canary)."""
    options.setdefault("port", 0)
    options.setdefault("sweep_interval", 0.3)
    with classroom.start(folder, upstream_spec=emulator_spec(emu), **options) as room:
        yield room


@pytest.fixture(scope="module")
def upstream_emu() -> Iterator[emulator.Emulator]:
    with emulator.start(service_time=0.2, workers=4, seed=7) as emu:
        yield emu


@pytest.fixture(scope="module")
def room(
    upstream_emu: emulator.Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Classroom]:
    """One gateway per test module, in front of the module's emulator."""
    with open_room(tmp_path_factory.mktemp("class"), upstream_emu) as gateway:
        yield gateway


def http(room: Classroom, token: str | None = None) -> httpx.Client:
    """An httpx client on the gateway, trusting its CA, sending `token` as fal_client does."""
    headers = {"Authorization": f"Key {token}"} if token else {}
    verify = ssl.create_default_context(cafile=room.ca_bundle) if room.ca_bundle else True
    return httpx.Client(base_url=room.url, verify=verify, headers=headers, trust_env=False)


@pytest.fixture
def student(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Classroom, str], Any]]:
    """`student(room, token)`: an unmodified `fal_client.SyncClient` on the gateway."""
    with ExitStack() as stack:

        def make(room: Classroom, token: str) -> Any:
            monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://{room.host}/")
            if room.ca_bundle:
                monkeypatch.setenv("SSL_CERT_FILE", room.ca_bundle)
            client = fal_client.SyncClient(key=token)
            stack.callback(lambda: client._client.close())
            return client

        yield make


def wait_for(check: Callable[[], Any], timeout: float = 15.0, every: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


class ServedApp:
    """Any ASGI app on loopback HTTPS (the emulator's runner and TLS), for fake upstreams."""

    def __init__(self, app: Any, folder: Path):
        from kling_nb.emulator._server import bind_socket, uvicorn_server
        from kling_nb.emulator._tls import make_tls_files

        self.tls = make_tls_files(folder)
        self._sock = bind_socket("127.0.0.1", 0)
        self.port = self._sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}/queue"
        self.server = uvicorn_server(app, ssl_files=(self.tls.server_cert, self.tls.server_key))
        self.server.config.lifespan = "off"
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve([self._sock])), daemon=True
        )
        self._thread.start()
        wait_for(lambda: self.server.started, 10)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._sock.close()
