"""A damaged journal never stops reading: a corrupt file is moved aside (and said where), bad
rows are skipped and counted, a read-only home still shows its history, a relative home stays
put after a chdir, and a reused PID does not look like a live waiter."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import kling_nb
from kling_nb import KlingError
from kling_nb._config import Settings
from kling_nb._journal import Journal, is_waited_on, journal_for
from kling_nb._states import JobState
from kling_nb._waiters import owner_tag, process_start

REPO = Path(__file__).resolve().parents[2]


def _row(journal: Journal, **values: object) -> int:
    """A journal row as a submit writes it (through the journal, a real sqlite file)."""
    from kling_nb._config import Connection

    conn = Connection("custom", "127.0.0.1:1/queue", "k-test-1234")
    row_id = journal.begin(conn, kling_nb.ENDPOINT, {"prompt": "a cat"})
    state = values.pop("state", None)
    if state is not None:  # as a job gets there: queued first, then running
        journal.advance(row_id, JobState.QUEUED)
        journal.advance(row_id, JobState(state))
    if values:
        journal.note(row_id, **values)
    return row_id


def test_a_corrupt_journal_is_moved_aside_with_a_message_saying_where(home: Path) -> None:
    home.mkdir(parents=True)
    garbage = b"this is not sqlite, it is a half-written download " * 100
    (home / "journal.sqlite3").write_bytes(garbage)
    with pytest.warns(RuntimeWarning, match="moved aside to .*journal.sqlite3.corrupt-") as said:
        shown = kling_nb.history(home=home)
    assert len(shown) == 0
    moved = list(home.glob("journal.sqlite3.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == garbage
    assert str(moved[0]) in str(said[0].message)
    _row(Journal(home))  # a new journal was started and takes submits
    assert len(kling_nb.history(home=home)) == 1


def test_bad_rows_are_skipped_and_counted(home: Path) -> None:
    journal = Journal(home)
    for _ in range(3):
        _row(journal)
    with sqlite3.connect(home / "journal.sqlite3") as db:
        db.execute("UPDATE jobs SET arguments = '{not json' WHERE id = 2")
        db.execute("UPDATE jobs SET cached = '\"a string\"' WHERE id = 3")
    with pytest.warns(RuntimeWarning, match="2 journal row\\(s\\) could not be read"):
        shown = kling_nb.history(home=home)
    assert [e.id for e in shown] == [1] and journal_for(home).skipped_rows == 2
    with pytest.warns(RuntimeWarning, match="1 journal row"):
        assert journal.get(2) is None  # a single bad row reads as missing, not as a crash


def test_history_and_resume_raise_only_kling_errors(home: Path) -> None:
    _row(Journal(home))
    for call in (
        lambda: kling_nb.history(since="the day before", home=home),
        lambda: kling_nb.history(until=object(), home=home),  # type: ignore[arg-type]
        lambda: kling_nb.history("finished", home=home),
        lambda: kling_nb.history(limit="many", home=home),  # type: ignore[arg-type]
        lambda: kling_nb.history(limit=float("inf"), home=home),
    ):
        with pytest.raises(KlingError):
            call()


def test_a_read_only_home_still_shows_its_history(tmp_path: Path) -> None:
    """Root ignores file modes: there, the home is a read-only bind mount in a private
    mount namespace (gone with the child process)."""
    home = tmp_path / "ro_home"
    _row(Journal(home), state="completed", request_id="r-ro")
    home.chmod(0o555)
    (home / "journal.sqlite3").chmod(0o444)
    script = (
        "import warnings; warnings.simplefilter('ignore'); import kling_nb; "
        f"shown = kling_nb.history(home={str(home)!r}); "
        "print(len(shown), shown[0].request_id)"
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        mount = f'mount --bind {home} {home} && mount -o remount,bind,ro {home} && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, "sh", *command]
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip("root without a mount namespace: cannot make a read-only home")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    finally:
        home.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "r-ro"]


def test_a_relative_home_is_resolved_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"KLING_NB_HOME": "rel_home"})
    assert settings.home == tmp_path / "rel_home"
    _row(journal_for(settings.home))
    monkeypatch.chdir(tmp_path.parent)  # %cd in a notebook
    assert len(kling_nb.history(home=settings.home)) == 1
    assert journal_for(settings.home).path == tmp_path / "rel_home" / "journal.sqlite3"


def test_a_reused_pid_does_not_look_alive(home: Path) -> None:
    journal = Journal(home)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        start = process_start(sleeper.pid)
        assert start is not None
        host = owner_tag().rpartition(":")[0].partition("#")[0]
        alive = _row(journal, state="running", owner=f"{host}#{start}:{sleeper.pid}")
        reused = _row(journal, state="running", owner=f"{host}#{start - 1}:{sleeper.pid}")
        legacy = _row(journal, state="running", owner=f"{host}:{sleeper.pid}")
        entries = {e.id: e for e in journal.entries()}
        assert is_waited_on(journal, entries[alive])
        assert not is_waited_on(journal, entries[reused])  # same PID, another process
        assert is_waited_on(journal, entries[legacy])  # old rows: PID alone, as before
    finally:
        sleeper.stdin.close()  # type: ignore[union-attr]
        sleeper.wait(10)
    entries = {e.id: e for e in journal.entries()}
    assert not is_waited_on(journal, entries[alive])


def test_this_process_tags_its_rows_with_its_start_time() -> None:
    tag = owner_tag()
    assert tag.endswith(f":{os.getpid()}")
    assert f"#{process_start(os.getpid())}:" in tag


def test_text_sqlite_cannot_encode_is_recorded_escaped_not_raised(home: Path) -> None:
    journal = Journal(home)
    row_id = _row(journal)
    # A lone surrogate, as a server's JSON "\udcff" escape decodes to.
    journal.advance(row_id, JobState.QUEUED, request_id="req-\udcff", result={"x": "\udcff"})
    entry = journal.get(row_id)
    assert entry is not None and entry.request_id == "req-\\udcff"
    assert entry.result == {"x": "\udcff"}  # JSON's own escape keeps it exactly
    found = journal.find("req-\udcff")
    assert found is not None and found.id == row_id
