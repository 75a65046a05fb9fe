"""The key canary: an upstream that echoes the teacher's key everywhere it can (bodies, error
details, logs, headers) — and nothing a student, a log or a file sees holds it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kling_nb import classroom
from kling_nb.classroom import Classroom, UpstreamSpec

from ..conftest import CANARY_KEY
from .conftest import APP, ServedApp, add, body, http, wait_for

REPO = Path(__file__).resolve().parents[2]


def echo_app() -> Starlette:
    """A queue that puts the Authorization it received into every answer it gives."""
    jobs: dict[str, int] = {}

    def echoed(request: Request) -> str:
        return request.headers.get("authorization", "")

    async def submit(request: Request) -> Response:
        key = echoed(request)
        if b"refuse-me" in await request.body():
            return JSONResponse({"detail": f"bad key {key}"}, 401, headers={"x-echo": key})
        rid = str(uuid.uuid4())
        jobs[rid] = 0
        base = f"https://{request.url.netloc}/queue/{APP}/requests/{rid}"
        return JSONResponse(
            {
                "request_id": rid,
                "status_url": base + "/status",
                "response_url": base,
                "cancel_url": base + "/cancel",
                "status": "IN_QUEUE",
                "echo": key,
            },
            headers={"x-echo": key, "x-fal-request-id": rid},
        )

    async def status(request: Request) -> Response:
        rid, key = request.path_params["rid"], echoed(request)
        jobs[rid] = jobs.get(rid, 0) + 1
        log = [{"message": f"using {key}", "level": "INFO", "source": "USER", "timestamp": "t"}]
        if jobs[rid] < 3:
            return JSONResponse(
                {"status": "IN_PROGRESS", "logs": log}, 202, headers={"x-echo": key}
            )
        return JSONResponse(
            {"status": "COMPLETED", "logs": log, "error": f"failed with {key}", "error_type": key},
            headers={"x-echo": key, "X-Fal-Error-Type": key},
        )

    async def result(request: Request) -> Response:
        key = echoed(request)
        detail = [{"loc": ["body", "prompt"], "msg": f"your key {key} is wrong", "type": key}]
        return JSONResponse(
            {"detail": detail}, 422, headers={"x-echo": key, "X-Fal-Retryable": key}
        )

    async def cancel(request: Request) -> Response:
        return PlainTextResponse(f"cannot cancel with {echoed(request)}", 405)

    prefix = "/queue/{owner:path}/requests/{rid}"
    return Starlette(
        routes=[
            Route(prefix + "/status", status),
            Route(prefix + "/cancel", cancel, methods=["PUT"]),
            Route(prefix, result),
            Route("/queue/{endpoint:path}", submit, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    served = ServedApp(echo_app(), tmp_path_factory.mktemp("echo_tls"))
    yield served
    served.stop()


@pytest.fixture
def echo_room(echo: ServedApp, tmp_path: Path) -> Iterator[Classroom]:
    spec = UpstreamSpec("fal", echo.host, CANARY_KEY, "fal", str(echo.tls.bundle))
    with classroom.start(
        tmp_path / "class", upstream_spec=spec, port=0, sweep_interval=0.2
    ) as room:
        yield room


def _no_canary(responses: list[httpx.Response]) -> None:
    for response in responses:
        assert CANARY_KEY not in response.text, response.text
        for name, value in response.headers.items():
            assert CANARY_KEY not in value, (name, value)


def _files_hold_no_canary(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_an_upstream_echoing_the_key_everywhere_is_scrubbed_for_students(
    echo_room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Response] = []
    with http(echo_room, add(echo_room)) as web:
        submitted = web.post(f"/queue/{APP}", json=body())
        seen.append(submitted)
        answer = submitted.json()
        for _ in range(4):
            seen.append(web.get(answer["status_url"], params={"logs": "1"}))
        seen.append(web.get(answer["response_url"]))
        seen.append(web.put(answer["status_url"].removesuffix("/status") + "/cancel"))
        seen.append(web.post(f"/queue/{APP}", json=body(prompt="refuse-me <<<image_1>>>")))
        seen.append(web.get("/_classroom/whoami"))
    assert submitted.status_code == 200 and "echo" not in answer
    assert seen[-2].status_code == 503 and "teacher's key" in seen[-2].json()["detail"]
    assert any("***" in r.text for r in seen)  # the echo arrived, masked
    _no_canary(seen)
    assert CANARY_KEY not in caplog.text
    _files_hold_no_canary(echo_room.folder)


def test_the_dashboard_state_holds_no_key(echo_room: Classroom) -> None:
    with http(echo_room, add(echo_room)) as web:
        web.post(f"/queue/{APP}", json=body())
    with http(echo_room) as web:
        state = web.get(
            "/_classroom/api/state", headers={"Authorization": f"Bearer {echo_room.teacher_token}"}
        )
        page = web.get("/")
    assert state.status_code == 200 and state.json()["jobs"]
    _no_canary([state, page])


@pytest.mark.slow
def test_the_gateway_process_never_logs_or_prints_the_key(echo: ServedApp, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FAL_KEY": CANARY_KEY,
        "KLING_NB_LANG": "en",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    folder = tmp_path / "class"
    add_run = subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "classroom", "add", "eve", "--dir", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = add_run.stdout.split()[1]
    argv = [
        sys.executable,
        "-m",
        "kling_nb.cli",
        "classroom",
        "serve",
        "--upstream",
        "fal",
        "--upstream-host",
        echo.host,
        "--upstream-ca",
        str(echo.tls.bundle),
        "--port",
        "0",
        "--dir",
        str(folder),
    ]
    log = tmp_path / "gateway.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=sink, text=True)
        try:
            assert proc.stdout is not None
            lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
            room_url = "https://" + lines["FAL_QUEUE_RUN_HOST"].removesuffix("/queue")
            import ssl

            trust = ssl.create_default_context(cafile=lines["SSL_CERT_FILE"])
            with httpx.Client(
                base_url=room_url, verify=trust, headers={"Authorization": f"Key {token}"}
            ) as web:
                answer = web.post(f"/queue/{APP}", json=body()).json()
                wait_for(lambda: web.get(answer["status_url"]).json()["status"] == "COMPLETED")
                web.get(answer["response_url"])
                web.post(f"/queue/{APP}", json=body(prompt="refuse-me <<<image_1>>>"))
            time.sleep(0.5)
        finally:
            proc.terminate()
            rest = proc.communicate(timeout=20)[0]
    text = log.read_text() + rest + add_run.stdout + add_run.stderr
    assert "submitted" in text and CANARY_KEY not in text
    _files_hold_no_canary(folder)
