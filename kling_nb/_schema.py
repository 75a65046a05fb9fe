"""The journal file's schema and its migrations: a file written by any version keeps every
row and opens with every later version.

A step only adds (columns, tables, indexes): nothing is ever dropped, and older code still
reads a newer file (it selects the columns it knows). `PRAGMA user_version` holds the
version; `migrate` brings a file up to `SCHEMA_VERSION` under one write lock, so two kernels
opening an old file at once migrate it once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

SCHEMA_VERSION = 3  # see MIGRATIONS
BUSY_TIMEOUT = 30.0  # s a writer waits for another kernel's write to finish

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    state        TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    backend      TEXT NOT NULL,
    host         TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    inputs       TEXT,
    request_id   TEXT,
    response_url TEXT,
    status_url   TEXT,
    cancel_url   TEXT,
    created_at   REAL NOT NULL,
    submitted_at REAL,
    started_at   REAL,
    finished_at  REAL,
    updated_at   REAL NOT NULL,
    result       TEXT,
    error        TEXT,
    error_type   TEXT,
    cached       TEXT,
    saved        TEXT,
    owner        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_request_id ON jobs (request_id);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
"""

# Steps from one schema version to the next, applied in order by `migrate`.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (  # money: what each row cost, its request's fingerprint, replays, the budget
        "ALTER TABLE jobs ADD COLUMN fingerprint TEXT",
        "ALTER TABLE jobs ADD COLUMN cost TEXT",
        "ALTER TABLE jobs ADD COLUMN currency TEXT",
        "ALTER TABLE jobs ADD COLUMN replay_of TEXT",
        "CREATE INDEX IF NOT EXISTS jobs_fingerprint ON jobs (fingerprint, state, id)",
        "CREATE TABLE IF NOT EXISTS budget ("
        " id INTEGER PRIMARY KEY CHECK (id = 1), amount TEXT NOT NULL,"
        " currency TEXT NOT NULL, since REAL NOT NULL)",
    ),
    3: (  # honest cancels, region edits
        # What a cancel asked and the service answered: confirmed | requested | unsupported |
        # failed. Rows cancelled by an older version are marked "legacy": whether the service
        # confirmed those is not known, so their cost still counts as spent.
        "ALTER TABLE jobs ADD COLUMN cancel TEXT",
        "UPDATE jobs SET cancel = 'legacy' WHERE state = 'cancelled'",
        # A region edit's plan (JSON): region, crop, the original's hash and path, so that a
        # resume finishes the paste-back and a replay gives the same composites.
        "ALTER TABLE jobs ADD COLUMN region TEXT",
    ),
}

T = TypeVar("T")


def migrate(db: sqlite3.Connection) -> int:
    """Bring a journal's schema up to SCHEMA_VERSION (`PRAGMA user_version`); the old version."""
    # Outside the try: a BEGIN that failed (busy) has nothing to roll back, and is retried.
    db.execute("BEGIN IMMEDIATE")  # another kernel may migrate the same file at once
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return int(version)


def needs_migration(path: Path) -> bool:
    """True when the file at `path` is older than this version's schema (read-only check;
    a WAL file in a folder that refuses its shared-memory file is read as it is)."""
    for mode in ("mode=ro", "immutable=1"):
        db = sqlite3.connect(f"{path.as_uri()}?{mode}", uri=True, timeout=BUSY_TIMEOUT)
        try:
            return int(db.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION
        except sqlite3.OperationalError:
            continue
        finally:
            db.close()
    return False


def create_schema(path: Path) -> None:
    """Create or migrate the journal at `path`, waiting while another process holds it."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        retry_busy(lambda: db.execute("PRAGMA journal_mode=WAL"))
        retry_busy(lambda: db.executescript(SCHEMA))
        retry_busy(lambda: migrate(db))
    finally:
        db.close()


def retry_busy(action: Callable[[], T], attempts: int = 50) -> T:
    """Run a schema statement, waiting while another process holds the lock.

    Changing the journal mode can report "locked" at once, without the busy timeout.
    """
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            time.sleep(min(0.5, 0.01 * 2**attempt))
    return action()
