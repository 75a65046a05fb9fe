"""`kling-nb classroom …` in real subprocesses: one line per student, one line per failure."""

from __future__ import annotations

import argparse
import csv
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kling_nb import emulator
from kling_nb.classroom.cli import _parser

from .conftest import APP, add, body, http, open_room, wait_for

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QINIU_API_KEY", "FAL_KEY")}
    env.update(KLING_NB_LANG="en", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "classroom", *args],
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def serving(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """`serve` running; its student lines (until KLING_NB_PROFILE) read."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kling_nb.cli", "classroom", "serve", "--port", "0", *args],
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: dict[str, str] = {}
        assert proc.stdout is not None
        while "KLING_NB_PROFILE" not in lines:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            name, _, value = line.strip().partition("=")
            lines[name] = value
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_add_prints_one_line_per_student_name_then_token(tmp_path: Path) -> None:
    done = cli("add", "ana", "王小明", "--budget", "2", "USD", "--dir", str(tmp_path))
    assert done.returncode == 0
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [r[0] for r in rows] == ["ana", "王小明"] and all(r[1].startswith("knc_") for r in rows)
    assert "shown only now" in done.stderr
    listed = cli("list", "--dir", str(tmp_path)).stdout
    assert "王小明" in listed and "2 USD" in listed and rows[0][1] not in listed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["add", "a b"], "cannot be a student's name"),
        (["add", "ana", "--budget", "lots"], "is not an amount"),
        (["add", "ana", "--budget", "-1", "USD"], "is not an amount"),
        (["top-up", "nobody", "1", "USD"], "No student called 'nobody'"),
        (["revoke", "nobody"], "No student called"),
        (["serve", "--upstream", "moon"], "invalid choice"),
        (["serve", "--upstream", "qiniu", "--port", "0"], "QINIU_API_KEY"),
        (
            ["serve", "--upstream", "emulator", "--cert", "/nonexistent.pem", "--port", "0"],
            "go together",
        ),
        (["report", "--bogus"], "unrecognized arguments"),
        (["serve", "--upstream", "emulator", "--workers", "0"], "must be from 1"),
        (["serve", "--upstream", "emulator", "--host", "192.0.2.1"], "Choose another --port"),
        (["serve", "--upstream", "emulator", "--public-url", "http://x"], "https://"),
    ],
)
def test_bad_input_fails_in_one_line_with_exit_2(
    tmp_path: Path, args: list[str], words: str
) -> None:
    done = cli(*args, "--dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and words in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_serving_qiniu_with_budgets_needs_a_price(tmp_path: Path) -> None:
    cli("add", "ana", "--budget", "5", "CNY", "--dir", str(tmp_path))
    done = cli(
        "serve",
        "--upstream",
        "qiniu",
        "--port",
        "0",
        "--dir",
        str(tmp_path),
        env=_env(QINIU_API_KEY="sk-test-1234"),
    )
    assert done.returncode == 2 and "--price" in done.stderr and "sk-test-1234" not in done.stderr


@pytest.mark.slow
def test_budgets_in_another_currency_than_the_price_are_refused_at_start(tmp_path: Path) -> None:
    cli("add", "ana", "--dir", str(tmp_path))  # 1 USD, the default
    done = cli(
        "serve",
        "--upstream",
        "emulator",
        "--port",
        "0",
        "--price",
        "0.2 CNY",
        "--dir",
        str(tmp_path),
    )
    assert done.returncode == 2 and "ana (USD)" in done.stderr and "top-up" in done.stderr


def test_every_option_of_every_command_has_help_text() -> None:
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)


@pytest.mark.slow
def test_serve_prints_the_student_lines_first_then_the_dashboard(tmp_path: Path) -> None:
    with serving("--upstream", "emulator", "--dir", str(tmp_path)) as (proc, lines):
        assert list(lines) == ["FAL_QUEUE_RUN_HOST", "SSL_CERT_FILE", "KLING_NB_PROFILE"]
        assert lines["KLING_NB_PROFILE"] == "plain" and Path(lines["SSL_CERT_FILE"]).is_file()
        again = cli("serve", "--upstream", "emulator", "--port", "0", "--dir", str(tmp_path))
        assert again.returncode == 2 and "Another classroom gateway" in again.stderr
    err = proc.stderr.read() if proc.stderr else ""
    assert "/_classroom/#t=knt_" in err and "emulated: nothing is billed" in err
    # The price's source in words (was the bare message key "price.source_fal").
    assert "per output image (fal.ai's model page" in err and "price.source" not in err


@pytest.mark.slow
def test_plain_http_is_said_loudly_and_gives_no_bundle(tmp_path: Path) -> None:
    with serving("--upstream", "emulator", "--plain-http", "--dir", str(tmp_path)) as (proc, lines):
        assert list(lines) == ["FAL_QUEUE_RUN_HOST", "KLING_NB_PROFILE"]
    err = proc.stderr.read() if proc.stderr else ""
    assert "!!! PLAIN HTTP" in err and "reverse proxy" in err


def test_report_and_collect_show_what_each_student_did(
    upstream_emu: emulator.Emulator, tmp_path: Path
) -> None:
    folder = tmp_path / "class"
    with open_room(folder, upstream_emu) as room:
        token = add(room, "1", name="ana")
        add(room, "1", name="bo")
        with http(room, token) as web:
            rid = web.post(f"/queue/{APP}", json=body(prompt="ink <<<image_1>>>")).json()[
                "request_id"
            ]
            web.post(f"/queue/{APP}", json=body(num_images=99))
        wait_for(lambda: (j := room.store.job(rid)) and j.kept)
        report = cli("report", "--csv", "--dir", str(folder))
        table = cli("report", "--dir", str(folder))
        collected = cli("collect", "--out", str(tmp_path / "out"), "--dir", str(folder))
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(report.stdout))}
    assert (
        rows["ana"]["spent"] == "0.028"
        and rows["ana"]["jobs"] == "1"
        and rows["ana"]["refusals"] == "1"
    )
    assert rows["bo"]["jobs"] == "0" and rows["bo"]["left"] == "1"
    assert "Total spent: 0.028 USD" in table.stdout
    assert collected.returncode == 0 and "1 picture(s) of 1 job(s)" in collected.stdout
    (picture,) = (tmp_path / "out" / "ana" / rid).iterdir()
    assert picture.read_bytes() == (folder / "results" / rid / picture.name).read_bytes()
    manifest = list(csv.DictReader((tmp_path / "out" / "manifest.csv").open(encoding="utf-8")))
    assert manifest[0]["prompt"] == "ink <<<image_1>>>" and manifest[0]["student"] == "ana"
