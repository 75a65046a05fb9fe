"""resume(): jobs a killed process left behind are waited for again, from a new process."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

import kling_nb
from kling_nb import (
    ENDPOINT,
    EditResult,
    KlingConfigError,
    KlingConnectionError,
    KlingJobError,
    KlingSubmitUnknownError,
    _config,
)
from kling_nb._job import Job
from kling_nb._journal import Journal, journal_for
from kling_nb._states import JobState
from kling_nb._wire import Handle

from .conftest import CANARY_KEY


def photo() -> Image.Image:
    img = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    img.paste((20, 160, 90), (100, 100, 300, 260))
    return img


def args() -> dict[str, object]:
    return {"prompt": "watercolor of <<<image_1>>>", "image_urls": [photo()]}


@pytest.fixture
def emulator_process() -> Iterator[dict[str, str]]:
    """An emulator in another process, as `python -m kling_nb.emulator` starts it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kling_nb.emulator", "--port", "0", "--service-time", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        while len(found) < 2:
            line = proc.stdout.readline()
            assert line, "the emulator exited before printing its address"
            name, _, value = line.strip().partition("=")
            found[name] = value
        yield found
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CHILD = """
import kling_nb
from PIL import Image
img = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
kling_nb.connect(quiet=True)
kling_nb.edit("watercolor of <<<image_1>>>", img, progress=False)
print("finished, which it should not have")
"""


def stats(host: str, bundle: str) -> dict[str, object]:
    root = host.split("/")[0]
    tls = ssl.create_default_context(cafile=bundle)
    return httpx.get(f"https://{root}/_emulator/stats", verify=tls, timeout=10).json()  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_job_killed_while_waiting_is_resumed_from_a_new_process(
    emulator_process: dict[str, str], home: Path
) -> None:
    host, bundle = emulator_process["FAL_QUEUE_RUN_HOST"], emulator_process["SSL_CERT_FILE"]
    env = {
        **os.environ,
        "FAL_QUEUE_RUN_HOST": host,
        "SSL_CERT_FILE": bundle,
        "FAL_KEY": CANARY_KEY,
        "KLING_NB_HOME": str(home),
    }
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env)
    journal = Journal(home)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [e for e in journal.entries() if e.request_id]:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    (entry,) = journal.entries()
    assert entry.state in ("queued", "running") and entry.request_id

    out = home / "out"
    resumed = subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "resume", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    saved = [Path(line) for line in resumed.stdout.split()]
    assert len(saved) == 1 and saved[0].is_file() and saved[0].parent == out
    after = journal.find(entry.request_id)
    assert after is not None and after.state == "completed" and after.cached
    assert after.saved == [str(saved[0].resolve())]

    # And in this process too, by request id, with a key from here (never the journal's).
    conn = kling_nb.Connection("custom", host, CANARY_KEY, ca_bundle=bundle, home=home)
    again = kling_nb.resume(entry.request_id, connection=conn, progress=False)
    assert isinstance(again, EditResult) and again.request_id == entry.request_id
    assert again.paths == [Path(p) for p in after.cached]
    assert stats(host, bundle)["totals"]["submits"] == 1  # type: ignore[index]
    listing = subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "history"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert entry.request_id in listing.stdout and "completed" in listing.stdout
    data = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert CANARY_KEY.encode() not in data


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_resume_takes_over_abandoned_rows_and_leaves_live_ones(emu, conn) -> None:  # type: ignore[no-untyped-def]
    journal = journal_for(conn.home)
    abandoned = Job.submit(ENDPOINT, args(), connection=conn)
    live = Job.submit(ENDPOINT, args(), connection=conn)
    me = socket.gethostname()
    journal.note(abandoned.journal_id, owner=f"{me}:{dead_pid()}")  # type: ignore[arg-type]
    journal.note(live.journal_id, owner=f"{me}:{os.getppid()}")  # type: ignore[arg-type]
    lost = journal.begin(conn, ENDPOINT, {"prompt": "never answered"})
    journal.note(lost, owner=f"{me}:{dead_pid()}")

    batch = kling_nb.resume(progress=False)
    assert len(batch) == 1 and isinstance(batch[0], EditResult)
    assert batch[0].request_id == abandoned.request_id
    assert batch[0].parameters["prompt"] == "watercolor of <<<image_1>>>"
    assert journal.get(live.journal_id).state == "queued"  # type: ignore[arg-type,union-attr]
    assert f"pid {os.getppid()}" in batch.summary()
    assert journal.get(lost).state == "unknown"  # type: ignore[union-attr]

    explicit = kling_nb.resume(live.request_id, progress=False)
    assert isinstance(explicit, EditResult) and explicit.request_id == live.request_id
    assert len(kling_nb.resume(progress=False)) == 0
    with pytest.raises(KlingSubmitUnknownError, match="usage page"):
        from kling_nb._resume import resume_entry

        resume_entry(journal.get(lost), journal, conn, 10)  # type: ignore[arg-type]


def fake_row(home: Path, host: str, state: str = "queued") -> str:
    journal = Journal(home)
    conn = kling_nb.Connection("custom", host, "sk-canary-other", home=home)
    row = journal.begin(conn, ENDPOINT, {"prompt": "p", "image_urls": ["https://x/a.jpg"]})
    base = f"https://{host}/fal-ai/kling-image/requests/req-{row}"
    journal.submitted(row, Handle(f"req-{row}", base, base + "/status", base + "/cancel"))
    journal.note(row, owner="elsewhere:1")
    if state != "queued":
        journal.advance(row, JobState(state), error="the model refused")
    return f"req-{row}"


def test_resume_needs_a_key_for_the_rows_host_and_names_the_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FAL_KEY", "QINIU_API_KEY", "FAL_QUEUE_RUN_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_config, "_current", None)
    request_id = fake_row(home, _config.QINIU_HOST)
    with pytest.raises(KlingConfigError, match="QINIU_API_KEY"):
        kling_nb.resume(request_id, progress=False)


def test_resume_reports_a_gone_emulator_at_once(home: Path) -> None:
    request_id = fake_row(home, "127.0.0.1:1/queue")
    started = time.monotonic()
    with pytest.raises(KlingConnectionError, match="no longer running"):
        kling_nb.resume(request_id, home=home, progress=False)
    assert time.monotonic() - started < 5
    assert Journal(home).find(request_id).state == "failed"  # type: ignore[union-attr]


def test_resume_of_an_ended_job_raises_what_it_ended_with(home: Path) -> None:
    request_id = fake_row(home, "127.0.0.1:1/queue", state="failed")
    with pytest.raises(KlingJobError, match="the model refused") as caught:
        kling_nb.resume(request_id, home=home, progress=False)
    assert caught.value.request_id == request_id
    with pytest.raises(KlingJobError, match="no job with request id"):
        kling_nb.resume("nope", home=home, progress=False)
