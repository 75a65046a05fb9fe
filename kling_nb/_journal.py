"""The job journal: one sqlite row per submit, so that nothing paid for is lost.

A row is written just before a submit is sent (state `submitting`), updated the moment
the submit answers (`queued`, or `unknown` when the answer was lost) and on every later
change of state, until it ends. It lives in `KLING_NB_HOME/journal.sqlite3` and holds the
endpoint, the backend's host, the arguments (each `data:` URI replaced by its hash, size
and a small thumbnail under `KLING_NB_HOME/thumbs/`), the request id and URLs, times, the
result JSON, the error and the cached and saved paths. Never the API key: every text
written is scrubbed of the keys this process has used.

States:

    submitting ─► queued ─► running ─► completed            (a dict was returned)
        │            │         │     └► downloading ─► completed  (images being cached)
        │            └─────────┴─────► failed | cancelled
        ├─► unknown     the submit was sent but its answer was lost: not resent
        └─► rejected    the service refused the submit (nothing was created)

Several kernels may write at once: WAL mode, one short statement per write, a busy
timeout. A connection is opened per operation, so threads and forks are safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import KlingConfigError
from ._i18n import message
from ._secrets import remember_secret, scrub

if TYPE_CHECKING:
    from ._config import Connection
    from ._transport import Handle

FILE_NAME = "journal.sqlite3"
THUMBS = "thumbs"
SCHEMA_VERSION = 2  # see MIGRATIONS
BUSY_TIMEOUT = 30.0  # s a writer waits for another kernel's write to finish
THUMB_SIDE = 128
THUMB_BYTES = 12_000
DATA_URI_KEPT = 256  # shorter data: URIs are kept as they are

ACTIVE_STATES = ("submitting", "queued", "running", "downloading")
FINAL_STATES = ("completed", "failed", "cancelled", "rejected", "unknown")
STATES = ACTIVE_STATES + FINAL_STATES
# States a waiting process can still bring to an end: it has a request id to ask about.
RESUMABLE_STATES = ("queued", "running", "downloading")
WIRE_STATES = {"IN_QUEUE": "queued", "IN_PROGRESS": "running"}

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

# Steps from one schema version to the next, applied in order by `migrate`. A step only
# adds (columns, tables, indexes): a file written by any version keeps every row, and older
# code still reads a newer file (it selects the columns it knows).
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
}


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


_active: set[tuple[str, int]] = set()  # (journal path, row id) a thread here is waiting on
_active_lock = threading.Lock()
_ready: set[str] = set()  # journal paths whose schema this process has checked
_local = threading.local()  # each thread's open connections
_ready_lock = threading.Lock()
_warned = False


@dataclass(frozen=True)
class JournalEntry:
    """One journal row, as read."""

    id: int
    state: str
    endpoint: str
    backend: str
    host: str
    arguments: dict[str, Any]
    inputs: list[str]
    request_id: str | None
    response_url: str | None
    status_url: str | None
    cancel_url: str | None
    created_at: float
    submitted_at: float | None
    started_at: float | None
    finished_at: float | None
    updated_at: float
    result: dict[str, Any] | None
    error: str | None
    error_type: str | None
    cached: list[str]
    saved: list[str]
    owner: str | None
    # Schema version 2 (money): absent from older files until migrated, hence the defaults.
    fingerprint: str | None = None
    cost: str | None = None  # a Decimal as text, in `currency`; None when unknown
    currency: str | None = None
    replay_of: str | None = None  # the request id this row replayed instead of paying

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JournalEntry:
        """From a `SELECT *` row; JSON columns decoded."""
        values = dict(row)
        for name, empty in (
            ("arguments", {}),
            ("inputs", []),
            ("result", None),
            ("cached", []),
            ("saved", []),
        ):
            text = values.get(name)
            values[name] = json.loads(text) if text else empty
            if empty is not None and not isinstance(values[name], type(empty)):
                raise ValueError(f"journal column {name} holds {type(values[name]).__name__}")
        known: dict[str, Any] = {f.name: values.get(f.name) for f in fields(cls)}
        return cls(**known)

    @property
    def prompt(self) -> str:
        return str(self.arguments.get("prompt", ""))

    @property
    def finished(self) -> bool:
        """True once nothing more will happen to this job by waiting."""
        return self.state in FINAL_STATES

    @property
    def resumable(self) -> bool:
        """True when waiting (or downloading) again can bring it to an end."""
        return self.state in RESUMABLE_STATES and bool(self.request_id and self.response_url)

    @property
    def image_count(self) -> int:
        if self.cached:
            return len(self.cached)
        images = (self.result or {}).get("images")
        return len(images) if isinstance(images, list) else 0

    def created(self) -> str:
        """Local time the row was written, to the second."""
        return datetime.fromtimestamp(self.created_at).strftime("%Y-%m-%d %H:%M:%S")


COLUMNS = frozenset(f.name for f in fields(JournalEntry)) - {"id"}


class Journal:
    """The journal of one `KLING_NB_HOME`."""

    def __init__(self, home: str | Path):
        self.home = Path(home).expanduser().absolute()
        self.path = self.home / FILE_NAME
        self.skipped_rows = 0  # rows the last read could not decode
        self.moved_aside: Path | None = None  # where a corrupt journal file went

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # --- storage ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (kept open: closing the last one checkpoints the WAL)."""
        key = (str(self.path), os.getpid())  # a forked child must not reuse its parent's
        cache: dict[tuple[str, int], sqlite3.Connection] = _local.__dict__.setdefault("dbs", {})
        if not self.path.exists():
            # Deleted meanwhile: an open connection would write to the unlinked file.
            stale = cache.pop(key, None)
            if stale is not None:
                stale.close()
            with _ready_lock:
                _ready.discard(str(self.path))
        db = cache.get(key)
        if db is None:
            try:
                self._prepare()
                db = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=True
                )
                # FULL: a committed request id survives a power cut, not only a crash.
                db.execute("PRAGMA synchronous=FULL")
            except (sqlite3.OperationalError, PermissionError):
                if not self.path.is_file():
                    raise
                db = None
            if db is None:
                with self._read_only() as ro:  # a read-only home still shows its history
                    yield ro
                return
            db.row_factory = sqlite3.Row
            cache[key] = db
        try:
            yield db
        except sqlite3.DatabaseError:
            cache.pop(key, None)  # start afresh next time (file replaced, disk trouble…)
            db.close()
            raise

    @contextlib.contextmanager
    def _read_only(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection, for a home this process may not write to."""
        uri = self.path.as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
            db.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            # A WAL journal whose folder refuses the shared-memory file: read the file as is.
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def _prepare(self) -> None:
        key = str(self.path)
        with _ready_lock:
            if key in _ready:
                return
            self.home.mkdir(parents=True, exist_ok=True)
            try:
                _create_schema(self.path)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) or not self.path.is_file():
                    raise
                self._move_aside(exc)  # not a database at all: keep it for inspection
                _create_schema(self.path)
            _ready.add(key)

    def _move_aside(self, exc: sqlite3.DatabaseError) -> None:
        """Rename a corrupt journal (and its WAL) out of the way, and say where it went."""
        moved = self.path.with_name(f"{FILE_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, moved)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(FILE_NAME + suffix)
            if side.exists():
                os.replace(side, moved.with_name(moved.name + suffix))
        self.moved_aside = moved
        warnings.warn(
            message("journal.corrupt", path=self.path, detail=exc, moved=moved),
            RuntimeWarning,
            stacklevel=4,
        )

    def _update(self, row_id: int, values: Mapping[str, Any]) -> None:
        unknown = set(values) - COLUMNS
        if unknown:  # column names go into the SQL text: only ours, never a caller's
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        values = {k: _storable(scrub(v)) for k, v in values.items()}
        values["updated_at"] = time.time()
        columns = ", ".join(f"{name} = ?" for name in values)
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", [*values.values(), row_id])

    # --- writing ---------------------------------------------------------------------------

    def begin(
        self,
        conn: Connection,
        endpoint: str,
        arguments: Mapping[str, Any],
        inputs: Sequence[str] = (),
    ) -> int:
        """Write the row of a submit about to be sent; KlingConfigError if it can't be."""
        from ._config import check_key

        remember_secret(conn.key)
        # A key no HTTP header can carry fails inside the client: say so before the row
        # exists, or it would read "may be billed" for a request never sent.
        check_key(conn.key, "key")
        now = time.time()
        try:
            summary = summarize(arguments, self.home)
            row = {
                "state": "submitting",
                "endpoint": endpoint,
                "backend": conn.backend,
                "host": conn.host,
                "arguments": _dumps(summary),
                "inputs": _dumps(list(inputs)) if inputs else None,
                "created_at": now,
                "updated_at": now,
                "owner": owner_tag(),
            }
            return self._insert(row)
        except (sqlite3.Error, OSError) as exc:
            # Refuse to send what could not be recorded: a lost request id is lost money.
            raise KlingConfigError(
                message("journal.unwritable", path=self.path, detail=exc)
            ) from None

    def submitted(self, row_id: int, handle: Handle) -> None:
        """The submit answered: keep the request id and the URLs the server gave."""
        self.record(
            row_id,
            state="queued",
            request_id=handle.request_id,
            response_url=handle.response_url,
            status_url=handle.status_url,
            cancel_url=handle.cancel_url,
            submitted_at=time.time(),
        )

    def record(self, row_id: int, **values: Any) -> None:
        """Update a row; a failure warns once and never breaks the wait of a paid job."""
        for name in ("result", "cached", "saved"):
            if name in values and values[name] is not None:
                values[name] = _dumps(summarize(values[name], self.home, thumbs=False))
        if values.get("state") in FINAL_STATES and "finished_at" not in values:
            values["finished_at"] = time.time()
        try:
            self._update(row_id, values)
        except (sqlite3.Error, OSError) as exc:
            _warn_once(message("journal.update_failed", path=self.path, detail=exc))

    def add_saved(self, request_id: str, paths: Iterable[str | Path]) -> None:
        """Remember where a result's images were saved (appended to earlier saves)."""
        new = [str(Path(p).resolve()) for p in paths]
        try:
            with self._db() as db:
                db.execute("BEGIN IMMEDIATE")  # read-modify-write: take the write lock first
                try:
                    found = db.execute(
                        "SELECT id, saved FROM jobs WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                        (request_id,),
                    ).fetchone()
                    if found is not None:
                        old = json.loads(found["saved"]) if found["saved"] else []
                        merged = old + [p for p in new if p not in old]
                        db.execute(
                            "UPDATE jobs SET saved = ?, updated_at = ? WHERE id = ?",
                            (scrub(_dumps(merged)), time.time(), found["id"]),
                        )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, OSError) as exc:
            _warn_once(message("journal.update_failed", path=self.path, detail=exc))

    # --- reading ---------------------------------------------------------------------------

    def get(self, row_id: int) -> JournalEntry | None:
        """The row with this id (None when missing or unreadable)."""
        rows = self._select("SELECT * FROM jobs WHERE id = ?", [row_id])
        return rows[0] if rows else None

    def find(self, request_id: str) -> JournalEntry | None:
        """The latest row with this request id (None when missing or unreadable)."""
        sql = "SELECT * FROM jobs WHERE request_id = ? ORDER BY id DESC LIMIT 1"
        rows = self._select(sql, [request_id])
        return rows[0] if rows else None

    def _select(self, sql: str, params: Sequence[Any]) -> list[JournalEntry]:
        """Decoded rows; a row that does not decode is skipped and counted, never raised."""
        try:
            with self._db() as db:
                rows = db.execute(sql, [_storable(p) for p in params]).fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise KlingConfigError(
                message("journal.unreadable", path=self.path, detail=exc)
            ) from None
        entries: list[JournalEntry] = []
        for row in rows:
            try:
                entries.append(JournalEntry.from_row(row))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
        self.skipped_rows = len(rows) - len(entries)
        if self.skipped_rows:
            warnings.warn(
                message("journal.bad_rows", count=self.skipped_rows), RuntimeWarning, stacklevel=3
            )
        return entries

    def entries(
        self,
        state: str | Sequence[str] | None = None,
        *,
        since: DateLike | None = None,
        until: DateLike | None = None,
        host: str | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Rows, newest first; `state` may also be "pending" (every unfinished state)."""
        where: list[str] = []
        params: list[Any] = []
        states = _states(state)
        if states is not None:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += states
        if since is not None:
            where.append("created_at >= ?")
            params.append(to_epoch(since))
        if until is not None:
            where.append("created_at < ?")
            params.append(to_epoch(until, end=True))
        if host is not None:
            where.append("host = ?")
            params.append(host)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(_row_limit(limit))
        if not self.path.exists():
            return []  # reading never creates a journal
        return self._select(sql, params)

    # --- money (prices, budget, replays: see _money.py) ---------------------------------------

    def completed_with(self, fingerprint: str, limit: int = 20) -> list[JournalEntry]:
        """Completed rows (not replays) of requests with this fingerprint, newest first."""
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE fingerprint = ? AND state = 'completed'"
                " AND replay_of IS NULL ORDER BY id DESC LIMIT ?",
                (fingerprint, int(limit)),
            ).fetchall()
        return [JournalEntry.from_row(r) for r in rows]

    def add_replay(self, original: JournalEntry) -> int:
        """Journal a replay of `original`: a completed row costing 0, `replay_of` its id."""
        now = time.time()
        row = {
            "state": "completed",
            "endpoint": original.endpoint,
            "backend": original.backend,
            "host": original.host,
            "arguments": _dumps(original.arguments),
            "inputs": _dumps(original.inputs) if original.inputs else None,
            "request_id": original.request_id,
            "response_url": original.response_url,
            "result": _dumps(original.result) if original.result is not None else None,
            "cached": _dumps(original.cached) if original.cached else None,
            "created_at": now,
            "finished_at": now,
            "updated_at": now,
            "owner": owner_tag(),
            "fingerprint": original.fingerprint,
            "cost": "0",
            "currency": original.currency,
            "replay_of": original.request_id,
        }
        return self._insert(row)

    def _insert(self, row: Mapping[str, Any]) -> int:
        """A new jobs row (keys are known column names), scrubbed and storable; its id."""
        values = {k: _storable(scrub(v)) for k, v in row.items()}
        with self._db() as db:
            cursor = db.execute(
                f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def costs_since(self, since: float, currency: str) -> list[tuple[str, str, str]]:
        """(cost as Decimal text, backend, host) of the rows sent since `since`, in `currency`.

        Replays and submits the service refused are not spend."""
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT cost, backend, host FROM jobs WHERE created_at >= ? AND currency = ?"
                " AND cost IS NOT NULL AND replay_of IS NULL AND state != 'rejected'",
                (since, currency),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def budget(self) -> tuple[str, str, float] | None:
        """The budget row: amount (Decimal text), currency, and since when it counts."""
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute("SELECT amount, currency, since FROM budget WHERE id = 1").fetchone()
        return (row[0], row[1], row[2]) if row is not None else None

    def set_budget(self, amount: str | None, currency: str = "", since: float = 0.0) -> None:
        """Write (or, with None, delete) the budget row."""
        with self._db() as db:
            if amount is None:
                db.execute("DELETE FROM budget WHERE id = 1")
            else:
                db.execute(
                    "INSERT OR REPLACE INTO budget (id, amount, currency, since)"
                    " VALUES (1, ?, ?, ?)",
                    (amount, currency, since),
                )


DateLike = datetime | date | timedelta | str | float | int
DATE_TYPES = (datetime, date, timedelta)


class _DateError(KlingConfigError, ValueError):
    """A date filter that is not a date."""


_journals: dict[str, Journal] = {}
_journals_lock = threading.Lock()


def journal_for(home: str | Path) -> Journal:
    """The journal of `home` (one object per folder)."""
    key = str(Path(home).expanduser().absolute())
    with _journals_lock:
        found = _journals.get(key)
        if found is None:
            found = _journals[key] = Journal(key)
        return found


def default_home() -> Path:
    """The connected home, else `KLING_NB_HOME`; never connects (that may start an emulator)."""
    from ._config import Settings, active_connection

    conn = active_connection()
    return conn.home if conn is not None else Settings.from_env().home


# --- who waits on a row -----------------------------------------------------------------------


def owner_tag() -> str:
    """This process, as written in `owner`: `host#start:pid` (start time where known)."""
    pid = os.getpid()
    start = process_start(pid)
    host = socket.gethostname()
    return f"{host}#{start}:{pid}" if start is not None else f"{host}:{pid}"


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, Linux), else None.

    With the PID alone, a PID reused after a restart would look like the old waiter.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        # Field 22; the command name (field 2) may hold spaces and parentheses.
        return int(stat.rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def waiting(journal: Journal, row_id: int | None) -> Iterator[None]:
    """Mark a row as waited on by this process, for as long as the block runs."""
    if row_id is None:
        yield
        return
    key = (str(journal.path), row_id)
    with _active_lock:
        _active.add(key)
    journal.record(row_id, owner=owner_tag())
    try:
        yield
    finally:
        with _active_lock:
            _active.discard(key)


def is_waited_on(journal: Journal, entry: JournalEntry) -> bool:
    """True when a live process (maybe this one) is still waiting on the row."""
    if not entry.owner:
        return False
    tag, _, pid_text = entry.owner.rpartition(":")
    host, _, start_text = tag.partition("#")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: we cannot know, so treat it as abandoned
    pid = int(pid_text)
    if start_text.isdigit():
        now = process_start(pid)
        if now is not None and now != int(start_text):
            return False  # the PID was reused: the process that waited is gone
    if pid == os.getpid():
        with _active_lock:
            return (str(journal.path), entry.id) in _active
    return _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


# --- what is written --------------------------------------------------------------------------


def summarize(value: Any, home: Path, *, thumbs: bool = True) -> Any:
    """`value` as JSON-ready data, each long `data:` URI replaced by its hash, size and a
    thumbnail path (relative to `home`)."""
    if isinstance(value, str):
        if value[:5].lower() == "data:" and len(value) > DATA_URI_KEPT:
            return _data_uri_summary(value, home, thumbs)
        return value
    if isinstance(value, Mapping):
        return {str(k): summarize(v, home, thumbs=thumbs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [summarize(v, home, thumbs=thumbs) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return repr(value)  # a PIL image or array the caller passed: describe, never embed


def _data_uri_summary(uri: str, home: Path, thumbs: bool) -> dict[str, Any]:
    from ._wire import decode_data_uri

    try:
        content_type, data = decode_data_uri(uri)
    except ValueError:
        content_type, data = "?", uri.encode()
    digest = hashlib.sha256(data).hexdigest()
    summary: dict[str, Any] = {
        "data_uri_sha256": digest,
        "content_type": content_type,
        "bytes": len(data),
    }
    if thumbs and content_type.startswith("image/"):
        thumb = write_thumbnail(data, home / THUMBS / f"{digest[:32]}.jpg")
        if thumb is not None:
            summary["thumbnail"] = thumb.relative_to(home).as_posix()
    return summary


def write_thumbnail(data: bytes, target: Path) -> Path | None:
    """A small JPEG of image bytes at `target` (kept if already there); None if undecodable."""
    if target.exists():
        return target
    from PIL import Image, UnidentifiedImageError

    from ._images import thumbnail_bytes
    from ._rules import MAX_DECODED_PIXELS

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_DECODED_PIXELS:
                return None
            img.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode small
            img.load()
            jpeg = thumbnail_bytes(img, THUMB_SIDE, THUMB_BYTES)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None  # a thumbnail is a nicety: an odd image must not stop the submit
    from ._files import atomic_write_bytes

    return atomic_write_bytes(target, jpeg)  # another kernel may write the same thumbnail


def to_epoch(value: DateLike, *, end: bool = False) -> float:
    """A date filter as epoch seconds: a datetime, a date (its start, or the next day's
    start when `end`), an ISO string, a timedelta back from now, or epoch seconds."""
    name = "until" if end else "since"
    if isinstance(value, bool) or not isinstance(value, (*DATE_TYPES, str, int, float)):
        raise _DateError(message("journal.date_bad", name=name, value=value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, timedelta):
        return time.time() - value.total_seconds()
    if isinstance(value, str):
        text = value.strip()
        words = {"today": date.today(), "yesterday": date.today() - timedelta(days=1)}
        try:
            if text.lower() in words:
                value = words[text.lower()]
            else:
                value = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
        except ValueError:
            raise _DateError(message("journal.date_bad", name=name, value=text[:80])) from None
    if isinstance(value, datetime):
        return value.timestamp()
    day = value + timedelta(days=1) if end else value
    return datetime(day.year, day.month, day.day).timestamp()


def _row_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, float, str)):
        raise KlingConfigError(message("journal.limit_bad", value=limit))
    try:
        return max(0, min(int(limit), 2**62))  # sqlite integers are 64-bit
    except (ValueError, OverflowError):
        raise KlingConfigError(message("journal.limit_bad", value=limit)) from None


def _states(state: str | Sequence[str] | None) -> list[str] | None:
    if state is None:
        return None
    wanted = [state] if isinstance(state, str) else list(state)
    out: list[str] = []
    for name in wanted:
        if name == "pending":
            out += ACTIVE_STATES
        elif name in STATES:
            out.append(name)
        else:
            allowed = ", ".join(("pending", *STATES))
            raise KlingConfigError(message("journal.state_unknown", value=name, allowed=allowed))
    return out


def _dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON's own escapes keep it, sqlite can't
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def _storable(value: Any) -> Any:
    """`value`, with any text sqlite cannot encode (a lone surrogate from a server's JSON or
    a file name) written as escapes, so that recording a paid job never fails on it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _create_schema(path: Path) -> None:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        _retry_busy(lambda: db.execute("PRAGMA journal_mode=WAL"))
        _retry_busy(lambda: db.executescript(SCHEMA))
        _retry_busy(lambda: migrate(db))
    finally:
        db.close()


def _retry_busy(action: Any, attempts: int = 50) -> Any:
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


def _warn_once(text: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(scrub(text), RuntimeWarning, stacklevel=3)
