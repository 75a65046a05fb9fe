"""The job journal: one sqlite row per submit, so that nothing paid for is lost.

A row is written just before a submit is sent (state `submitting`, holding the request's
estimated cost: the budget's reservation), updated the moment the submit answers (`queued`,
or `unknown` when the answer was lost) and at every later step, until it ends (the states
and their moves: `_states.py`). It lives in `KLING_NB_HOME/journal.sqlite3` and holds the
endpoint, the backend's host, the arguments (each `data:` URI replaced by its hash, size
and a small thumbnail under `KLING_NB_HOME/thumbs/`), the request id and URLs, times, the
result JSON, the error, the cancel asked for and its answer, and the cached and saved
paths. Never the API key: every text written is scrubbed of the keys this process has used.

Each step has a named method (`submitted`, `running`, `downloading`, `completed`,
`failed`, `cancelled`…); all of them go through `advance`, the one writer of `state`,
which applies a move only from a state `_states.MOVES` allows. Facts that change no state
(an error note, the owner, saved paths) go through `note`.

Several kernels may write at once: WAL mode, one short statement per write, a busy
timeout; the budget check and the new row are one `BEGIN IMMEDIATE` transaction, so two
kernels can never both spend the last of a budget. Connections are per thread and process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._dates import DateLike, to_epoch
from ._digest import summarize
from ._entry import COLUMNS, JournalEntry, decode_rows
from ._errors import KlingConfigError, KlingJournalError
from ._i18n import message
from ._schema import BUSY_TIMEOUT, SCHEMA_VERSION, create_schema, needs_migration
from ._secrets import remember_secret, scrub
from ._states import ACTIVE_STATES, FINAL_STATES, STATES, JobState, sources
from ._waiters import is_waited_on as _is_waited_on
from ._waiters import marked_waiting, owner_tag

if TYPE_CHECKING:
    from ._config import Connection
    from ._wire import Handle

FILE_NAME = "journal.sqlite3"
# A reservation check runs inside the row's transaction, with the transaction's reader.
Check = Callable[["Reader"], None]
T = TypeVar("T")

_ready: set[str] = set()  # journal paths whose schema this process has checked
_local = threading.local()  # each thread's open connections
_ready_lock = threading.Lock()
_warned = False


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
    def _db(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """This thread's connection (kept open: closing the last one checkpoints the WAL).

        A home this process may not write to still opens for reading; a `write` there raises
        KlingJournalError in words."""
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
            except (sqlite3.OperationalError, PermissionError) as exc:
                if not self.path.is_file():
                    raise
                if write:
                    raise self._read_only_error(exc) from None
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

    def _read_only_error(self, exc: BaseException) -> KlingJournalError:
        try:
            old = needs_migration(self.path)
        except sqlite3.Error:
            old = False
        key = "journal.read_only_old" if old else "journal.read_only"
        return KlingJournalError(
            message(key, path=self.path, version=SCHEMA_VERSION, detail=exc), path=self.path
        )

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
                create_schema(self.path)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) or not self.path.is_file():
                    raise
                self._move_aside(exc)  # not a database at all: keep it for inspection
                create_schema(self.path)
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

    def check_writable(self) -> None:
        """Raise KlingJournalError (in words) when this journal cannot record a new job."""
        with self._db(write=True):
            pass

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` … `COMMIT` (rolled back on any error): a read and the write
        that depends on it, with no other kernel's write between them."""
        with self._db(write=True) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- the one writer of a row's state -----------------------------------------------------

    def advance(self, row_id: int, state: JobState, **facts: Any) -> bool:
        """Move a row to `state` with `facts`, if `_states.MOVES` allows it from where the row
        is; True when applied. A move that is not allowed (a late cancel on a completed
        row) changes nothing. A storage failure warns once and never breaks a paid job's wait.
        """
        if state in FINAL_STATES and "finished_at" not in facts:
            facts["finished_at"] = time.time()
        if state is JobState.RUNNING and "started_at" not in facts:
            facts["started_at"] = time.time()
        allowed = sorted(str(s) for s in sources(state))
        condition = f"state IN ({', '.join('?' * len(allowed))})"
        return self._update(row_id, {"state": str(state), **facts}, condition, allowed)

    def note(self, row_id: int, **facts: Any) -> bool:
        """Record facts that change no state (an error note, the owner, a cancel's answer)."""
        if "state" in facts:
            raise ValueError("a state is written by advance(), never by note()")
        return self._update(row_id, facts)

    def _update(
        self,
        row_id: int,
        values: Mapping[str, Any],
        condition: str = "1",
        params: Sequence[Any] = (),
    ) -> bool:
        values = dict(values)
        unknown = set(values) - COLUMNS
        if unknown:  # column names go into the SQL text: only ours, never a caller's
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        for name in ("result", "cached", "saved", "region"):
            if name in values and values[name] is not None:
                values[name] = _dumps(summarize(values[name], self.home, thumbs=False))
        values = {k: _storable(scrub(v)) for k, v in values.items()}
        values["updated_at"] = time.time()
        columns = ", ".join(f"{name} = ?" for name in values)
        sql = f"UPDATE jobs SET {columns} WHERE id = ? AND {condition}"
        try:
            with self._db(write=True) as db:
                cursor = db.execute(sql, [*values.values(), row_id, *params])
        except (sqlite3.Error, OSError, KlingJournalError) as exc:
            _warn_once(message("journal.update_failed", path=self.path, detail=exc))
            return False
        return cursor.rowcount > 0

    # --- named steps ---------------------------------------------------------------------------

    def begin(
        self,
        conn: Connection,
        endpoint: str,
        arguments: Mapping[str, Any],
        inputs: Sequence[str] = (),
        *,
        cost: tuple[str | None, str | None] = (None, None),
        fingerprint: str | None = None,
        region: Mapping[str, Any] | None = None,
        check: Check | None = None,
    ) -> int:
        """Write the row of a submit about to be sent (state `submitting`) and return its id.

        `cost` is (amount as Decimal text, currency) and `check`, run in the same
        transaction with a `Reader`, may refuse it (a budget): the reservation and the check
        are one step, across threads and processes. KlingJournalError if it can't be written.
        """
        from ._config import check_key

        remember_secret(conn.key)
        # A key no HTTP header can carry fails inside the client: say so before the row
        # exists, or it would read "may be billed" for a request never sent.
        check_key(conn.key, "key")
        now = time.time()
        try:
            row = {
                "state": str(JobState.SUBMITTING),
                "endpoint": endpoint,
                "backend": conn.backend,
                "host": conn.host,
                "arguments": _dumps(summarize(arguments, self.home)),
                "inputs": _dumps(list(inputs)) if inputs else None,
                "created_at": now,
                "updated_at": now,
                "owner": owner_tag(),
                "fingerprint": fingerprint,
                "cost": cost[0],
                "currency": cost[1],
                "region": _dumps(region) if region is not None else None,
            }
            with self._transaction() as db:
                if check is not None:
                    check(Reader(db, self.path))
                return _insert(db, row)
        except (sqlite3.Error, OSError) as exc:
            # Refuse to send what could not be recorded: a lost request id is lost money.
            raise KlingJournalError(
                message("journal.unwritable", path=self.path, detail=exc), path=self.path
            ) from None

    def submitted(self, row_id: int, handle: Handle) -> bool:
        """The submit answered: keep the request id and the URLs the server gave."""
        return self.advance(
            row_id,
            JobState.QUEUED,
            request_id=handle.request_id,
            response_url=handle.response_url,
            status_url=handle.status_url,
            cancel_url=handle.cancel_url,
            submitted_at=time.time(),
        )

    def rejected(self, row_id: int, error: str) -> bool:
        """The service refused the submit: nothing was created, nothing billed."""
        return self.advance(row_id, JobState.REJECTED, error=error)

    def unknown(self, row_id: int, error: str) -> bool:
        """The submit was sent but its answer was lost: the job may exist; never resent."""
        return self.advance(row_id, JobState.UNKNOWN, error=error)

    def running(self, row_id: int) -> bool:
        """The service started the job."""
        return self.advance(row_id, JobState.RUNNING)

    def downloading(self, row_id: int, result: Mapping[str, Any]) -> bool:
        """The job succeeded; its images are being cached."""
        return self.advance(row_id, JobState.DOWNLOADING, result=dict(result))

    def completed(
        self,
        row_id: int,
        *,
        result: Mapping[str, Any] | None = None,
        cached: Sequence[str] | None = None,
    ) -> bool:
        """The job's output is had (and, for images, cached)."""
        facts: dict[str, Any] = {}
        if result is not None:
            facts["result"] = dict(result)
        if cached is not None:
            facts["cached"] = list(cached)
        return self.advance(row_id, JobState.COMPLETED, **facts)

    def failed(self, row_id: int, error: str, error_type: str | None = None) -> bool:
        """The job ended without output (or its output can no longer be had)."""
        return self.advance(row_id, JobState.FAILED, error=error, error_type=error_type)

    def cancelled(self, row_id: int, error: str, error_type: str = "cancelled") -> bool:
        """The service confirmed the cancel: the job will not run (nor be billed)."""
        return self.advance(
            row_id, JobState.CANCELLED, error=error, error_type=error_type, cancel="confirmed"
        )

    def add_saved(self, request_id: str, paths: Iterable[str | Path]) -> None:
        """Remember where a result's images were saved (appended to earlier saves)."""
        new = [str(Path(p).resolve()) for p in paths]
        try:
            with self._transaction() as db:  # read-modify-write under the write lock
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
        except (sqlite3.Error, OSError, KlingJournalError) as exc:
            _warn_once(message("journal.update_failed", path=self.path, detail=exc))

    def add_replay(self, original: JournalEntry) -> int:
        """Journal a replay of `original`: a completed row costing 0, `replay_of` its id."""
        now = time.time()
        row = {
            "state": str(JobState.COMPLETED),
            "endpoint": original.endpoint,
            "backend": original.backend,
            "host": original.host,
            "arguments": _dumps(original.arguments),
            "inputs": _dumps(original.inputs) if original.inputs else None,
            "request_id": original.request_id,
            "response_url": original.response_url,
            "result": _dumps(original.result) if original.result is not None else None,
            "cached": _dumps(original.cached) if original.cached else None,
            "region": _dumps(original.region) if original.region is not None else None,
            "created_at": now,
            "finished_at": now,
            "updated_at": now,
            "owner": owner_tag(),
            "fingerprint": original.fingerprint,
            "cost": "0",
            "currency": original.currency,
            "replay_of": original.request_id,
        }
        with self._transaction() as db:
            return _insert(db, row)

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
            raise KlingJournalError(
                message("journal.unreadable", path=self.path, detail=exc), path=self.path
            ) from None
        entries = decode_rows(rows)
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

    def read(self, reading: Callable[[Reader], T]) -> T:
        """`reading` over one connection (the journal must exist: check `path` first)."""
        try:
            with self._db() as db:
                return reading(Reader(db, self.path))
        except (sqlite3.Error, OSError) as exc:
            raise KlingJournalError(
                message("journal.unreadable", path=self.path, detail=exc), path=self.path
            ) from None

    def completed_with(self, fingerprint: str, limit: int = 20) -> list[JournalEntry]:
        """Completed rows (not replays) of requests with this fingerprint, newest first."""
        if not self.path.exists():
            return []
        return self.read(lambda reader: reader.completed_with(fingerprint, limit))

    def budget(self) -> tuple[str, str, float] | None:
        """The budget row: amount (Decimal text), currency, and since when it counts."""
        if not self.path.exists():
            return None
        return self.read(Reader.budget)

    def set_budget(self, amount: str | None, currency: str = "", since: float = 0.0) -> None:
        """Write (or, with None, delete) the budget row."""
        with self._transaction() as db:
            if amount is None:
                db.execute("DELETE FROM budget WHERE id = 1")
            else:
                db.execute(
                    "INSERT OR REPLACE INTO budget (id, amount, currency, since)"
                    " VALUES (1, ?, ?, ?)",
                    (amount, currency, since),
                )


class Reader:
    """Reads over one open connection: inside a reservation's transaction, or alone."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db = db
        self.path = path  # the journal file, for telling a live waiter from a dead one

    def budget(self) -> tuple[str, str, float] | None:
        """The budget row (None without one, or in a journal too old to have the table)."""
        try:
            row = self.db.execute(
                "SELECT amount, currency, since FROM budget WHERE id = 1"
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # a journal older than budgets, read where it cannot be upgraded
        return (row[0], row[1], row[2]) if row is not None else None

    def spend_rows(self, since: float, currency: str) -> list[JournalEntry]:
        """Rows created since `since` with a cost in `currency`, replays excluded."""
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE created_at >= ? AND currency = ?"
            " AND cost IS NOT NULL AND replay_of IS NULL",
            (since, currency),
        ).fetchall()
        return decode_rows(rows)

    def completed_with(self, fingerprint: str, limit: int = 20) -> list[JournalEntry]:
        """Completed rows (not replays) of requests with this fingerprint, newest first."""
        try:
            rows = self.db.execute(
                "SELECT * FROM jobs WHERE fingerprint = ? AND state = 'completed'"
                " AND replay_of IS NULL ORDER BY id DESC LIMIT ?",
                (fingerprint, int(limit)),
            ).fetchall()
        except sqlite3.OperationalError:
            return []  # a journal older than fingerprints: nothing to replay
        return decode_rows(rows)

    def in_flight_with(self, fingerprint: str) -> list[JournalEntry]:
        """Unfinished rows (not replays) of requests with this fingerprint, newest first."""
        marks = ", ".join("?" * len(ACTIVE_STATES))
        rows = self.db.execute(
            f"SELECT * FROM jobs WHERE fingerprint = ? AND state IN ({marks})"
            " AND replay_of IS NULL ORDER BY id DESC",
            (fingerprint, *(str(s) for s in ACTIVE_STATES)),
        ).fetchall()
        return decode_rows(rows)


def _insert(db: sqlite3.Connection, row: Mapping[str, Any]) -> int:
    """A new jobs row (keys are known column names), scrubbed and storable; its id."""
    values = {k: _storable(scrub(v)) for k, v in row.items()}
    cursor = db.execute(
        f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
        list(values.values()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


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


# --- who waits on a row (see _waiters) ---------------------------------------------------------


@contextlib.contextmanager
def waiting(journal: Journal, row_id: int | None) -> Iterator[None]:
    """Mark a row as waited on by this process, for as long as the block runs."""
    with marked_waiting(journal.path, row_id):
        if row_id is not None:
            journal.note(row_id, owner=owner_tag())
        yield


def is_waited_on(journal: Journal, entry: JournalEntry) -> bool:
    """True when a live process (maybe this one) is still waiting on the row."""
    return _is_waited_on(journal.path, entry)


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
            out += [str(s) for s in ACTIVE_STATES]
        elif name in STATES:
            out.append(str(name))
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


def _warn_once(text: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(scrub(text), RuntimeWarning, stacklevel=3)
