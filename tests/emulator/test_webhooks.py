"""Webhook deliveries (Qiniu's shape), to loopback receivers only, retried on failure."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import AUTH, SUBMIT, Api, SmallModel, body, image_uri, wait_for


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records JSON posts; the first `fail` get a 500."""

    def __init__(self, fail: int = 0):
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                data = json.loads(self.rfile.read(int(self.headers["content-length"])))
                receiver.attempts += 1
                ok = receiver.attempts > receiver.fail
                if ok:
                    receiver.bodies.append(data)
                self.send_response(200 if ok else 500)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # keep test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def wait(self, count: int) -> list[dict[str, Any]]:
        wait_for(lambda: len(self.bodies) >= count)
        return self.bodies

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _submit(api: Api, hook: str, payload: dict[str, Any] | None = None) -> Any:
    return api.client.post(
        SUBMIT, params={"fal_webhook": hook}, json=payload or body(), headers=AUTH
    )


def test_success_delivers_in_progress_then_ok_with_the_output(api: Api, receiver: Receiver) -> None:
    sub = _submit(api, receiver.url).json()
    started, done = receiver.wait(2)
    rid = sub["request_id"]
    assert started == {
        "request_id": rid,
        "gateway_request_id": started["gateway_request_id"],
        "status": "IN_PROGRESS",
        "payload": None,
        "error": None,
    }
    assert done["status"] == "OK" and done["error"] is None and done["request_id"] == rid
    assert done["payload"] == api.client.get(sub["response_url"], headers=AUTH).json()
    assert api.queue.totals["webhooks_delivered"] == 2


def test_failure_delivers_error_with_a_detail_object(api: Api, receiver: Receiver) -> None:
    _submit(api, receiver.url, body(prompt=""))
    _, done = receiver.wait(2)
    assert done["status"] == "ERROR" and done["error"]
    detail = done["payload"]["detail"]
    assert set(detail) == {"loc", "msg", "type", "url"}
    assert detail["loc"] == ["body", "prompt"] and detail["msg"] == done["error"]


def test_cancelled_queued_job_delivers_only_error(make_api: Any, receiver: Receiver) -> None:
    api = make_api(model=SmallModel(), workers=1, service_time=5.0)
    api.submit()
    sub = _submit(api, receiver.url).json()
    api.client.put(sub["cancel_url"], headers=AUTH)
    (only,) = receiver.wait(1)
    assert only["status"] == "ERROR" and only["payload"]["detail"]["type"] == "cancelled"


def test_failed_deliveries_are_retried_in_order(make_api: Any) -> None:
    receiver = Receiver(fail=2)
    try:
        api = make_api(model=SmallModel())
        _submit(api, receiver.url)
        bodies = receiver.wait(2)
        assert [b["status"] for b in bodies] == ["IN_PROGRESS", "OK"]
        assert receiver.attempts == 4
        assert api.queue.totals["webhook_failures"] == 2
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "hook",
    [
        "http://example.com/hook",
        "https://10.0.0.1/hook",
        "http://127.0.0.1.nip.io/hook",
        "http://[::ffff:8.8.8.8]/hook",
        "ftp://127.0.0.1/hook",
        "not a url",
    ],
)
def test_non_loopback_webhooks_are_refused_at_submit(api: Api, hook: str) -> None:
    response = _submit(api, hook)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "fal_webhook"] and "loopback" in detail["msg"]
    assert not api.queue.jobs


@pytest.mark.parametrize(
    "hook", ["http://localhost:9/x", "http://127.0.0.2:9/x", "https://[::1]:9/x"]
)
def test_loopback_webhooks_are_accepted(make_api: Any, hook: str) -> None:
    api = make_api(model=SmallModel(), webhook_attempts=1)
    assert _submit(api, hook).status_code == 200


def test_fal_client_webhook_url_reaches_the_receiver(fal: Any, receiver: Receiver) -> None:
    client, _ = fal()
    args = {"prompt": "sketch of <<<image_1>>>", "image_urls": [image_uri()]}
    handle = client.submit("fal-ai/kling-image/o1", args, webhook_url=receiver.url)
    _, done = receiver.wait(2)
    assert done["request_id"] == handle.request_id and done["status"] == "OK"
