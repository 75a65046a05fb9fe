"""Unmodified fal_client against a real emulator over HTTPS on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fal_client
import httpx
import pytest
from PIL import Image

from benchmarks.guide import SOURCE as GUIDE_SOURCE

from .conftest import GUIDE_URL, image_uri

APP = "fal-ai/kling-image/o1"


def _args(**fields: Any) -> dict[str, Any]:
    return {
        "prompt": "turn <<<image_1>>> into an oil painting",
        "image_urls": [image_uri()],
        **fields,
    }


def test_submit_status_result_round_trip(fal: Any) -> None:
    client, emu = fal()
    handle = client.submit(APP, _args())
    assert isinstance(handle.status(), (fal_client.Queued, fal_client.InProgress))
    output = handle.get(interval=0.02)
    status = client.status(APP, handle.request_id, with_logs=True)  # the short path form
    assert isinstance(status, fal_client.Completed) and status.error is None
    assert any(log["message"].startswith("Style: oil painting") for log in status.logs or [])
    assert client.result(APP, handle.request_id) == output
    (image,) = output["images"]
    assert image["url"].startswith(emu.files_url + "/files/" + handle.request_id + "/")
    served = httpx.get(image["url"], trust_env=False)  # plain HTTP: a browser needs no CA
    assert served.status_code == 200 and len(served.content) == image["file_size"]
    assert Image.open(io.BytesIO(served.content)).size == (image["width"], image["height"])


def test_iter_events_sees_queued_then_in_progress_then_completed(fal: Any) -> None:
    client, _ = fal(workers=1, service_time=0.3)
    client.submit(APP, _args())
    handle = client.submit(APP, _args())
    events = list(handle.iter_events(with_logs=True, interval=0.02))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Queued" and events[0].position == 0
    assert "InProgress" in kinds and kinds[-1] == "Completed"
    assert kinds.index("InProgress") > kinds.index("Queued")


def test_subscribe_reports_queue_updates_with_logs(fal: Any) -> None:
    client, _ = fal()
    updates: list[Any] = []
    enqueued: list[str] = []
    output = client.subscribe(
        APP,
        _args(num_images=2, aspect_ratio="1:1"),
        with_logs=True,
        interval=0.02,
        on_enqueue=enqueued.append,
        on_queue_update=updates.append,
    )
    assert len(output["images"]) == 2 and enqueued
    assert all(img["width"] == img["height"] for img in output["images"])
    logged = [log["message"] for u in updates for log in (getattr(u, "logs", None) or [])]
    assert "Rendering image 2/2" in logged


def test_cancel_ends_the_job_and_its_result_raises(fal: Any) -> None:
    client, _ = fal(workers=1, service_time=5.0)
    client.submit(APP, _args())
    handle = client.submit(APP, _args())
    client.cancel(APP, handle.request_id)
    status = handle.status()
    assert isinstance(status, fal_client.Completed) and status.error_type == "cancelled"
    with pytest.raises(fal_client.FalClientHTTPError) as raised:
        client.result(APP, handle.request_id)
    assert raised.value.status_code == 400 and raised.value.error_type == "cancelled"
    with pytest.raises(fal_client.FalClientHTTPError) as again:
        handle.cancel()
    assert again.value.status_code == 400


def test_validation_errors_raise_fal_client_http_error_422(fal: Any) -> None:
    client, _ = fal()
    with pytest.raises(fal_client.FalClientHTTPError) as raised:
        client.subscribe(APP, _args(prompt="", num_images=12), interval=0.02)
    error = raised.value
    assert error.status_code == 422 and error.response_headers["x-fal-retryable"] == "false"
    detail: Any = error.message  # fal-client passes the 422's `detail` list through
    assert [d["loc"] for d in detail] == [["body", "prompt"], ["body", "num_images"]]


def test_the_async_client_works_too(fal: Any) -> None:
    _, emu = fal()

    async def run() -> Any:
        client = fal_client.AsyncClient(key="test-key")
        handle = await client.submit(APP, _args())
        return await handle.get(interval=0.02)

    assert asyncio.run(run())["images"]


def test_https_result_urls_verify_with_the_emulator_ca(fal: Any) -> None:
    client, emu = fal(result_urls="https")
    (image,) = client.subscribe(APP, _args(), interval=0.02)["images"]
    assert image["url"].startswith(emu.url + "/files/")
    assert httpx.get(image["url"], verify=emu.ssl_context(), trust_env=False).status_code == 200
    again = client.subscribe(APP, _args(image_urls=[image["url"]]), interval=0.02)
    assert again["images"]  # an own https result URL is a valid next input


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every address a socket connects to, and every name looked up, in this process."""
    seen: list[object] = []
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def spy_connect(self: socket.socket, address: Any) -> Any:
        seen.append(address)
        return connect(self, address)

    def spy_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(host)
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", spy_connect)
    monkeypatch.setattr(socket, "getaddrinfo", spy_lookup)
    yield seen


def test_a_job_on_the_guides_remote_url_never_leaves_loopback(
    fal: Any, connections: list[object]
) -> None:
    client, emu = fal()
    output = client.subscribe(APP, _args(image_urls=[GUIDE_URL]), interval=0.02)
    assert httpx.get(output["images"][0]["url"], trust_env=False).status_code == 200
    hosts = {a[0] if isinstance(a, tuple) else a for a in connections}
    assert hosts and hosts <= {"127.0.0.1", "localhost", b"127.0.0.1"}, hosts


GUIDE_SCRIPT = (
    "import json, time\nimport fal_client\n"
    + GUIDE_SOURCE  # the guide's helper, verbatim; the call below polls faster
    + textwrap.dedent(
        """
    result = run_fal_task(
        "fal-ai/kling-image/o1",
        arguments={
            "prompt": "将这张图片转换为赛博朋克风格，添加霓虹灯光效果",
            "image_urls": [
                "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"
            ],
            "aspect_ratio": "16:9"
        },
        poll_interval=0.05,
    )
    print("RESULT " + json.dumps(result))
    """
    )
)


def _start_cli(*flags: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`python -m kling_nb.emulator` in a child process, and the three lines it printed."""
    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "PATH": os.environ.get("PATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kling_nb.emulator", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    names = [line.split("=")[0] for line in lines]
    assert names == ["FAL_QUEUE_RUN_HOST", "SSL_CERT_FILE", "KLING_NB_PROFILE"], lines
    return proc, dict(line.split("=", 1) for line in lines)


def _stop_cli(proc: subprocess.Popen[str], sig: int) -> None:
    proc.send_signal(sig)
    try:
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_guides_own_helper_works_with_only_the_printed_variables(tmp_path: Path) -> None:
    proc, printed = _start_cli("--service-time", "0.2")  # the default profile: the guide's
    try:
        assert printed["KLING_NB_PROFILE"] == "qiniu"
        assert printed["FAL_QUEUE_RUN_HOST"].startswith("127.0.0.1:")
        assert printed["FAL_QUEUE_RUN_HOST"].endswith("/queue")
        script = tmp_path / "guide.py"
        script.write_text(GUIDE_SCRIPT, encoding="utf-8")
        env = {**printed, "FAL_KEY": "any-key-works"}
        run = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        out = run.stdout
        assert "请求已提交，request_id: " in out and "任务完成!" in out
        assert (
            "当前状态: Completed" in out and "Style: cyberpunk (emulated filters, not Kling)" in out
        )
        result = json.loads(out.split("RESULT ", 1)[1])
        (image,) = result["images"]
        assert set(image) == {"url", "content_type"}  # as Qiniu documents its output
        served = httpx.get(image["url"], trust_env=False)
        width, height = Image.open(io.BytesIO(served.content)).size
        assert width / height == pytest.approx(16 / 9, rel=0.02)
    finally:
        _stop_cli(proc, signal.SIGTERM)
    assert not Path(printed["SSL_CERT_FILE"]).exists()  # temp files go with the process


def test_the_cli_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc, printed = _start_cli("--workers", "1", "--profile", "fal", "--seed", "3")
    host = printed["FAL_QUEUE_RUN_HOST"].removesuffix("/queue")
    trust = ssl.create_default_context(cafile=printed["SSL_CERT_FILE"])
    stats = httpx.get(f"https://{host}/_emulator/stats", verify=trust, trust_env=False)
    assert stats.json()["options"]["profile"] == "fal"
    assert stats.json()["options"]["workers"] == 1
    _stop_cli(proc, signal.SIGINT)
