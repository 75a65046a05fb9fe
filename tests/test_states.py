"""The journal's states (`_states.py`): one writer, one table of moves, and a journal written by
the previous version (schema 2) that opens with nothing dropped."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import kling_nb
from kling_nb._config import Connection
from kling_nb._journal import Journal
from kling_nb._schema import SCHEMA_VERSION
from kling_nb._states import MOVES, STATES, JobState, allowed
from kling_nb._wire import ENDPOINT, Handle

# Written by kling_nb at d095f9d (schema 2) with the emulator: an edit of 2 images, its replay,
# a run_fal_task of 1 image, and an edit cancelled by its deadline; a budget of 5 USD.
REPO = Path(__file__).resolve().parents[1]
V2_JOURNAL = Path(__file__).parent / "data" / "journal_v2.sqlite3"
V2_COLUMNS = (
    "id, state, endpoint, backend, host, arguments, request_id, created_at, result, error,"
    " fingerprint, cost, currency, replay_of"
)


def fake_conn(home: Path) -> Connection:
    return Connection("custom", "127.0.0.1:9/queue", "k-test-1234", home=home)


def queued_row(journal: Journal, n: int = 1) -> int:
    row = journal.begin(fake_conn(journal.home), ENDPOINT, {"prompt": f"p{n}"})
    base = f"https://127.0.0.1:9/fal-ai/kling-image/requests/r{n}"
    journal.submitted(row, Handle(f"r{n}", base, base + "/status", base + "/cancel"))
    return row


def test_every_state_has_its_moves_and_final_states_never_move_on() -> None:
    assert set(MOVES) == set(STATES)
    finals = {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED}
    for target, sources in MOVES.items():
        assert not (sources & finals), f"{target} may be reached from a final state"
    assert allowed("running", JobState.COMPLETED) and not allowed("completed", JobState.CANCELLED)


def test_a_late_cancel_never_rewrites_a_completed_row(home: Path) -> None:
    journal = Journal(home)
    row = queued_row(journal)
    assert journal.running(row) and journal.completed(row, result={"images": []})
    assert not journal.cancelled(row, "too late")  # refused: nothing written
    entry = journal.get(row)
    assert entry is not None and entry.state == "completed" and entry.error is None


@pytest.mark.parametrize(
    ("steps", "target", "applied"),
    [
        ((), JobState.RUNNING, False),  # submitting → running: the submit never answered
        ((JobState.QUEUED,), JobState.RUNNING, True),
        ((JobState.QUEUED, JobState.FAILED), JobState.COMPLETED, False),
        ((JobState.QUEUED, JobState.RUNNING), JobState.QUEUED, False),  # never backwards
        ((JobState.QUEUED, JobState.RUNNING), JobState.RUNNING, True),  # the same, again
        ((JobState.QUEUED,), JobState.REJECTED, False),  # a job the service took
    ],
)
def test_the_one_writer_refuses_moves_the_table_does_not_allow(
    home: Path, steps: tuple[JobState, ...], target: JobState, applied: bool
) -> None:
    journal = Journal(home)
    row = journal.begin(fake_conn(home), ENDPOINT, {"prompt": "p"})
    for step in steps:
        assert journal.advance(row, step)
    before = journal.get(row)
    assert journal.advance(row, target) is applied
    after = journal.get(row)
    assert after is not None and before is not None
    assert after.state == (str(target) if applied else before.state)


def test_note_writes_facts_but_never_a_state(home: Path) -> None:
    journal = Journal(home)
    row = queued_row(journal)
    assert journal.note(row, error="a note", cancel="requested")
    entry = journal.get(row)
    assert entry is not None and entry.state == "queued" and entry.cancel == "requested"
    with pytest.raises(ValueError, match="advance"):
        journal.note(row, state="completed")


def test_a_journal_written_by_the_previous_version_opens_with_nothing_dropped(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(V2_JOURNAL, home / "journal.sqlite3")
    before = sqlite3.connect(home / "journal.sqlite3")
    old_rows = before.execute(f"SELECT {V2_COLUMNS} FROM jobs ORDER BY id").fetchall()
    old_budget = before.execute("SELECT * FROM budget").fetchall()
    before.close()
    assert before and len(old_rows) == 4

    entries = Journal(home).entries()  # opening migrates
    assert [e.id for e in entries] == [4, 3, 2, 1]
    db = sqlite3.connect(home / "journal.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert db.execute(f"SELECT {V2_COLUMNS} FROM jobs ORDER BY id").fetchall() == old_rows
    assert db.execute("SELECT * FROM budget").fetchall() == old_budget
    columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    assert {"cancel", "region"} <= columns
    db.close()
    # The version-2 cancel was never confirmed by anyone: marked legacy, still counted.
    cancelled = next(e for e in entries if e.state == "cancelled")
    assert cancelled.cancel == "legacy"
    spent = kling_nb.budget(home=home)
    assert spent.amount == Decimal(5) and spent.spent == Decimal("0.112")
    assert spent.unsure == Decimal("0.028")
    assert len(kling_nb.history(home=home)) == 4


READ_ONLY_SCRIPT = """
import warnings; warnings.simplefilter("ignore")
import kling_nb
home = {home!r}
print(len(kling_nb.history(home=home)), kling_nb.budget(home=home).amount)
for call in (lambda: kling_nb.set_budget(3, "USD", home=home),
             lambda: kling_nb.edit("x <<<image_1>>>", kling_nb.sample_image(), progress=False)):
    try:
        call()
        print("WROTE")
    except kling_nb.KlingJournalError as exc:
        print(type(exc).__name__, "older kling_nb" in str(exc), "KLING_NB_HOME" in str(exc))
"""


def test_a_version_2_journal_in_a_read_only_home_reads_but_refuses_writes_in_words(
    tmp_path: Path,
) -> None:
    """Root ignores file modes: there, the home is a read-only bind mount in a private
    mount namespace (gone with the child process)."""
    home = tmp_path / "ro_home"
    home.mkdir()
    shutil.copy(V2_JOURNAL, home / "journal.sqlite3")
    home.chmod(0o555)
    (home / "journal.sqlite3").chmod(0o444)
    command = [sys.executable, "-c", READ_ONLY_SCRIPT.format(home=str(home))]
    if os.geteuid() == 0:
        mount = f'mount --bind {home} {home} && mount -o remount,bind,ro {home} && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, "sh", *command]
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip("root without a mount namespace: cannot make a read-only home")
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "KLING_NB_HOME": str(home),
        "KLING_NB_LANG": "en",
    }
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    finally:
        home.chmod(0o755)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("kling_nb →")]
    assert lines[0] == "4 5"  # reading works: every row, the budget
    assert lines[1:] == ["KlingJournalError True True"] * 2  # writing says why and what to do
    assert "Traceback" not in done.stderr
