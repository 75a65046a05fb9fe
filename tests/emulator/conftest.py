"""Emulator test helpers: in-process apps through Starlette's TestClient, images, waits."""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import fal_client
import fal_client.client
import pytest
from PIL import Image

from kling_nb._wire import data_uri
from kling_nb.emulator import Emulator, EmulatorOptions, _render, create_app, start
from kling_nb.emulator._queue import JobQueue

with warnings.catch_warnings():
    # Starlette 1.x nudges towards httpx2; plain httpx is what is installed and works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

AUTH = {"Authorization": "Key test-key"}
ENDPOINT = "fal-ai/kling-image/o1"
SUBMIT = f"/queue/{ENDPOINT}"
GUIDE_URL = "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"


def image_bytes(size: tuple[int, int] = (640, 480), fmt: str = "PNG") -> bytes:
    """A small gradient picture encoded as `fmt`."""
    w, h = size
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def image_uri(size: tuple[int, int] = (640, 480), fmt: str = "PNG") -> str:
    kind = {"PNG": "image/png", "JPEG": "image/jpeg"}.get(fmt, f"image/{fmt.lower()}")
    return data_uri(image_bytes(size, fmt), kind)


def body(**fields: Any) -> dict[str, Any]:
    """A valid input (one small data: URI), with `fields` replacing or adding keys."""
    out: dict[str, Any] = {
        "prompt": "turn <<<image_1>>> into a watercolor",
        "image_urls": [image_uri()],
    }
    out.update(fields)
    return out


def wait_for(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.01) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


class SmallModel:
    """The real geometry and style names, tiny pictures: for tests where pixels do not matter."""

    output_size = staticmethod(_render.output_size)
    style_of = staticmethod(_render.style_of)

    def render(self, inputs: list[Image.Image], prompt: str, **params: Any) -> list[Any]:
        one = _render.RenderedImage(image_bytes((320, 320)), 320, 320, "image/png", "image_1.png")
        return [one] * params["num_images"]


class Api:
    """A TestClient on an emulator app, with the protocol's calls spelled out."""

    def __init__(self, client: TestClient, queue: JobQueue):
        self.client = client
        self.queue = queue

    def submit(
        self, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Submit `payload` (default: a valid body); the answer's JSON."""
        response = self.client.post(
            SUBMIT, json=payload or body(), headers={**AUTH, **(headers or {})}
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def status(self, sub: dict[str, Any], logs: bool = False) -> Any:
        return self.client.get(sub["status_url"], params={"logs": logs}, headers=AUTH)

    def state(self, sub: dict[str, Any]) -> str:
        return self.queue.jobs[sub["request_id"]].state

    def wait_state(self, sub: dict[str, Any], state: str, timeout: float = 10.0) -> None:
        wait_for(lambda: self.state(sub) == state, timeout)

    def result(self, sub: dict[str, Any]) -> Any:
        self.wait_state(sub, "COMPLETED")
        return self.client.get(sub["response_url"], headers=AUTH)


@pytest.fixture
def make_api() -> Iterator[Callable[..., Api]]:
    """`make_api(**options)`: an emulator app in-process (lifespan running) and its client."""
    with ExitStack() as stack:

        def make(model: Any = None, clock: Any = time.time, **options: Any) -> Api:
            options.setdefault("service_time", 0.05)
            app, queue = create_app(EmulatorOptions(**options), model=model, clock=clock)
            client = stack.enter_context(TestClient(app))
            return Api(client, queue)

        yield make


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """A default in-process emulator: 2 workers, 0.05 s service time."""
    return make_api()


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Emulator]]]:
    """`fal(**options)`: a started emulator and an unmodified `fal_client.SyncClient` on it.

    fal_client fixes its host at import and httpx reads SSL_CERT_FILE when a client is
    made, so both are set before the SyncClient makes its httpx client.
    """
    with ExitStack() as stack:

        def make(**options: Any) -> tuple[Any, Emulator]:
            options.setdefault("service_time", 0.05)
            emu = stack.enter_context(start(**options))
            monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://{emu.host}/")
            monkeypatch.setenv("SSL_CERT_FILE", emu.ca_bundle)
            client = fal_client.SyncClient(key="test-key")
            stack.callback(lambda: client._client.close())
            return client, emu

        yield make
