"""`kling-nb emulator` / `python -m kling_nb.emulator` in real subprocesses: the default
profile is the guide's service (qiniu), three shell lines are printed, and the profile is
also told by a header on every answer; `--help` names the command it was run as."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import AUTH, body

REPO = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", ""), "KLING_NB_LANG": "en"}


@contextmanager
def _cli(*argv: str, env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """The emulator CLI in a child process; the lines it printed, until it is stopped."""
    proc = subprocess.Popen(
        [sys.executable, *argv, "--service-time", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**ENV, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        yield dict(line.split("=", 1) for line in lines if "=" in line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _client(printed: dict[str, str]) -> httpx.Client:
    base = "https://" + printed["FAL_QUEUE_RUN_HOST"]
    trust = ssl.create_default_context(cafile=printed["SSL_CERT_FILE"])
    return httpx.Client(base_url=base, verify=trust, headers=AUTH, trust_env=False, timeout=20)


def test_the_cli_defaults_to_qiniu_and_prints_three_shell_lines() -> None:
    with _cli("-m", "kling_nb.emulator") as printed, _client(printed) as http:
        assert list(printed) == ["FAL_QUEUE_RUN_HOST", "SSL_CERT_FILE", "KLING_NB_PROFILE"]
        assert printed["KLING_NB_PROFILE"] == "qiniu"
        submitted = http.post("/fal-ai/kling-image/o1", json={"prompt": "a lighthouse"})
        assert submitted.status_code == 200  # text-to-image: Qiniu's rules, as the client's
        assert submitted.json()["cancel_url"] == ""
        assert submitted.headers["x-kling-nb-emulator-profile"] == "qiniu"


def test_kling_nb_emulator_runs_the_same_cli_with_its_own_profile_flag() -> None:
    with _cli("-m", "kling_nb.cli", "emulator", "--profile", "fal") as printed:
        assert printed["KLING_NB_PROFILE"] == "fal"
        with _client(printed) as http:
            stats = http.get(http.base_url.copy_with(path="/_emulator/stats"))
        assert stats.json()["options"]["profile"] == "fal"
        assert stats.headers["x-kling-nb-emulator-profile"] == "fal"


def test_help_names_the_command_it_was_run_as() -> None:
    def usage(*argv: str) -> str:
        run = subprocess.run(
            [sys.executable, *argv, "--help"], capture_output=True, text=True, env=ENV, timeout=60
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    via_cli = usage("-m", "kling_nb.cli", "emulator")
    assert via_cli.startswith("usage: kling-nb emulator")
    assert "KLING_NB_PROFILE" in via_cli and "default qiniu" in via_cli
    assert usage("-m", "kling_nb.emulator").startswith("usage: python -m kling_nb.emulator")


def test_lang_sets_the_language_of_the_log_lines() -> None:
    with _cli("-m", "kling_nb.emulator", "--lang", "zh") as printed, _client(printed) as http:
        sub = http.post("/fal-ai/kling-image/o1", json=body()).json()
        status: dict[str, object] = {"status": "IN_QUEUE"}
        while status["status"] != "COMPLETED":
            status = http.get(sub["status_url"], params={"logs": "1"}).json()
        messages = [entry["message"] for entry in status["logs"]]  # type: ignore[attr-defined]
        assert messages[0].startswith("运行器 1 已接手")
        english = http.get(
            sub["status_url"], params={"logs": "1"}, headers={"Accept-Language": "en-GB,en"}
        ).json()
        assert english["logs"][0]["message"].startswith("Runner 1 picked up")
