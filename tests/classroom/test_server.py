"""A gateway stopped and restarted on the same class folder: jobs still answer, results kept."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kling_nb import emulator

from .conftest import APP, body, wait_for

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(
    folder: Path, emu: emulator.Emulator, port: int
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "KLING_NB_LANG": "en"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    argv = [
        sys.executable,
        "-m",
        "kling_nb.cli",
        "classroom",
        "serve",
        "--upstream",
        "emulator",
        "--upstream-host",
        emu.host,
        "--upstream-ca",
        emu.ca_bundle,
        "--port",
        str(port),
        "--dir",
        str(folder),
    ]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
    return proc, lines


@pytest.mark.slow
def test_a_gateway_killed_mid_job_answers_after_restart_and_keeps_the_result(
    tmp_path: Path,
) -> None:
    folder, port = tmp_path / "class", _free_port()
    with emulator.start(service_time=3.0, workers=2) as emu:  # the upstream outlives the gateway
        done = subprocess.run(
            [sys.executable, "-m", "kling_nb.cli", "classroom", "add", "ana", "--dir", str(folder)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        )
        token = done.stdout.split()[1]
        first, lines = _serve(folder, emu, port)
        bundle = Path(lines["SSL_CERT_FILE"]).read_bytes()
        trust = ssl.create_default_context(cafile=lines["SSL_CERT_FILE"])
        base = "https://" + lines["FAL_QUEUE_RUN_HOST"].removesuffix("/queue")
        with httpx.Client(
            base_url=base, verify=trust, headers={"Authorization": f"Key {token}"}
        ) as web:
            answer = web.post(f"/queue/{APP}", json=body()).json()
            first.send_signal(signal.SIGKILL)  # mid-job: no goodbye, no flush
            first.wait(10)
        second, again = _serve(folder, emu, port)
        try:
            assert again == lines and Path(again["SSL_CERT_FILE"]).read_bytes() == bundle
            with httpx.Client(
                base_url=base, verify=trust, headers={"Authorization": f"Key {token}"}
            ) as web:
                status = web.get(answer["status_url"])
                assert status.status_code in (200, 202)
                wait_for(lambda: web.get(answer["status_url"]).json()["status"] == "COMPLETED", 20)
                result = web.get(answer["response_url"])
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
    assert result.status_code == 200
    (image,) = result.json()["images"]
    name = image["url"].rsplit("/", 1)[1]
    assert (folder / "results" / answer["request_id"] / name).is_file()
