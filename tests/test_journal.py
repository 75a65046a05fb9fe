"""The job journal: written before every submit, safe with many writers, never holds the key."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

import kling_nb
from kling_nb import ENDPOINT, KlingConfigError, KlingError, KlingSubmitUnknownError, emulator
from kling_nb._job import Job
from kling_nb._journal import Journal, journal_for, summarize
from kling_nb._transport import QueueClient
from kling_nb._wire import Handle, data_uri

from .conftest import CANARY_KEY, connect_to


def photo(w: int = 640, h: int = 480) -> Image.Image:
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    img.paste((30, 90, 200), (w // 3, h // 3, w // 2, h // 2))
    return img


def jpeg_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return data_uri(buf.getvalue(), "image/jpeg")


def args(**extra: object) -> dict[str, object]:
    return {"prompt": "watercolor of <<<image_1>>>", "image_urls": [jpeg_uri(photo())], **extra}


def handle(n: int) -> Handle:
    base = f"https://127.0.0.1:9/queue/fal-ai/kling-image/requests/r{n}"
    return Handle(f"r{n}", base, base + "/status", base + "/cancel")


def journal_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_row_is_written_before_the_submit_and_completed_after(conn, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    journal = journal_for(conn.home)
    seen_during_post: list[str] = []
    real_submit = QueueClient.submit

    def spying_submit(self, endpoint, arguments, webhook_url=None):  # type: ignore[no-untyped-def]
        seen_during_post.extend(e.state for e in journal.entries())
        return real_submit(self, endpoint, arguments, webhook_url)

    monkeypatch.setattr(QueueClient, "submit", spying_submit)
    result = kling_nb.edit("watercolor of <<<image_1>>>", photo(), progress=False, connection=conn)
    assert seen_during_post == ["submitting"]
    entry = journal.find(result.request_id)
    assert entry is not None and entry.state == "completed"
    assert entry.host == conn.host and entry.endpoint == ENDPOINT
    assert entry.status_url and entry.response_url and entry.cancel_url
    assert entry.created_at <= entry.submitted_at <= entry.finished_at  # type: ignore[operator]
    assert entry.cached == [str(p) for p in result.paths]
    assert entry.result and entry.result["images"][0]["url"]
    saved = result.save(conn.home / "out")
    assert journal.find(result.request_id).saved == [str(p.resolve()) for p in saved]  # type: ignore[union-attr]


def test_data_uris_become_a_hash_and_a_small_thumbnail(home: Path) -> None:
    body = args()
    summary = summarize(body, home)
    image = summary["image_urls"][0]
    assert set(image) == {"data_uri_sha256", "content_type", "bytes", "thumbnail"}
    thumb = home / image["thumbnail"]
    assert thumb.is_file() and thumb.stat().st_size < 12_000
    with Image.open(thumb) as img:
        assert max(img.size) <= 128
    journal = Journal(home)
    row = journal.begin(_fake_conn(home), ENDPOINT, body, ["photo.jpg"])
    entry = journal.get(row)
    assert entry is not None and entry.inputs == ["photo.jpg"]
    assert entry.arguments == summary
    assert (home / "journal.sqlite3").stat().st_size < 64_000


def _fake_conn(home: Path, key: str = CANARY_KEY) -> kling_nb.Connection:
    return kling_nb.Connection("custom", "127.0.0.1:9/queue", key, home=home)


def test_threads_write_at_once_without_losing_a_row(home: Path) -> None:
    journal = Journal(home)
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(40):
                row = journal.begin(_fake_conn(home), ENDPOINT, {"prompt": f"t{t}-{i}"})
                journal.submitted(row, handle(t * 1000 + i))
                journal.completed(row, result={"images": []})
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    entries = journal.entries()
    assert len(entries) == 320
    assert {e.state for e in entries} == {"completed"}
    assert len({e.request_id for e in entries}) == 320


WRITER = """
import sys
from pathlib import Path
import kling_nb
from kling_nb._journal import Journal
from kling_nb._wire import Handle
home, tag = Path(sys.argv[1]), sys.argv[2]
journal = Journal(home)
conn = kling_nb.Connection("custom", "127.0.0.1:9/queue", "sk-canary-proc", home=home)
for i in range(60):
    row = journal.begin(conn, "fal-ai/kling-image/o1", {"prompt": f"{tag}-{i}"})
    base = f"https://127.0.0.1:9/r/{tag}-{i}"
    journal.submitted(row, Handle(f"{tag}-{i}", base, base + "/status", base + "/cancel"))
    journal.running(row)
    journal.completed(row, result={"images": []})
print("ok")
"""


def test_processes_write_at_once_without_locking_errors(home: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), f"p{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and out.strip() == "ok", err
        assert "locked" not in err
    entries = Journal(home).entries()
    assert len(entries) == 240
    assert {e.state for e in entries} == {"completed"}
    assert {e.request_id for e in entries} == {f"p{n}-{i}" for n in range(4) for i in range(60)}
    with sqlite3.connect(home / "journal.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_key_never_reaches_the_journal_files(conn) -> None:  # type: ignore[no-untyped-def]
    assert conn.key == CANARY_KEY
    result = kling_nb.edit(
        "oil painting of <<<image_1>>>", photo(), progress=False, connection=conn
    )
    journal = journal_for(conn.home)
    row = journal.begin(conn, ENDPOINT, {"prompt": f"someone pasted {CANARY_KEY} here"})
    journal.rejected(row, f"server echoed Authorization: Key {CANARY_KEY}")
    result.save(conn.home / "saved")
    data = journal_bytes(conn.home)
    assert CANARY_KEY.encode() not in data
    assert b"sk-canary" not in data
    assert journal.get(row).error.endswith("Key ***")  # type: ignore[union-attr]


def test_history_filters_by_state_and_date_and_shows_text_and_thumbnails(home: Path) -> None:
    journal = Journal(home)
    conn = _fake_conn(home)
    rows = [journal.begin(conn, ENDPOINT, args(prompt=f"job {i}")) for i in range(4)]
    journal.submitted(rows[1], handle(1))
    journal.submitted(rows[2], handle(2))
    journal.failed(rows[2], "boom")
    journal.unknown(rows[3], "lost")
    old = datetime(2024, 5, 1, 12, 0).timestamp()
    with sqlite3.connect(home / "journal.sqlite3") as db:
        db.execute("UPDATE jobs SET created_at = ? WHERE id = ?", (old, rows[0]))

    assert [e.id for e in kling_nb.history(home=home)] == rows[::-1]
    assert [e.state for e in kling_nb.history("failed", home=home)] == ["failed"]
    assert {e.id for e in kling_nb.history("pending", home=home)} == {rows[0], rows[1]}
    assert [e.id for e in kling_nb.history(until=date(2024, 5, 1), home=home)] == [rows[0]]
    assert rows[0] not in [e.id for e in kling_nb.history(since=timedelta(days=1), home=home)]
    assert [e.id for e in kling_nb.history(since="2024-05-02", until="2024-06-01", home=home)] == []
    shown = kling_nb.history(home=home)
    text = repr(shown)
    assert text == repr(kling_nb.history(home=home))  # deterministic for the same journal
    assert "job 3" in text and "r1" in text and "resume()" in text and "'unknown'" in text
    bundle = shown._repr_mimebundle_()
    assert set(bundle) == {"image/jpeg", "text/plain"} and bundle["text/plain"] == text
    with pytest.raises(KlingConfigError, match="pending"):
        kling_nb.history("finished", home=home)
    with pytest.raises(ValueError, match="not a date") as refused:
        kling_nb.history(since="last tuesday", home=home)
    assert isinstance(refused.value, KlingError)  # history() raises only KlingErrors
    recent = kling_nb.history(since="yesterday", home=home)  # a word, as the CLI allows
    assert 0 < len(recent) < len(kling_nb.history(home=home))


def test_empty_history_is_text_only_and_creates_nothing(tmp_path: Path) -> None:
    shown = kling_nb.history(home=tmp_path / "nothing")
    assert len(shown) == 0 and "no jobs yet" in repr(shown)
    assert set(shown._repr_mimebundle_()) == {"text/plain"}
    assert not (tmp_path / "nothing").exists()


def test_an_unwritable_journal_refuses_to_send(emu, env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    conn = kling_nb.connect(env={**env, "KLING_NB_HOME": str(blocker)}, quiet=True)
    before = emu.stats()["totals"]["submits"]
    with pytest.raises(KlingConfigError, match="KLING_NB_HOME"):
        Job.submit(ENDPOINT, args(), connection=conn)
    assert emu.stats()["totals"]["submits"] == before


def test_a_lost_submit_answer_is_recorded_as_unknown_with_guidance(home: Path) -> None:
    with emulator.start(service_time=0.05, submit_drop_rate=1.0, seed=1) as emu:
        conn = connect_to(emu, home)
        started = time.monotonic()
        with pytest.raises(KlingSubmitUnknownError) as caught:
            Job.submit(ENDPOINT, args(), connection=conn)
        assert time.monotonic() - started < 5  # not resent ten times with back-off
        assert emu.stats()["totals"]["submits"] == 1
    entry = Journal(home).get(caught.value.journal_id)  # type: ignore[arg-type]
    assert entry is not None and entry.state == "unknown" and entry.request_id is None
    assert "not resend" in (entry.error or "")
    assert "usage page" in repr(kling_nb.history(home=home))
