"""The class file (sqlite): students, hashed tokens, budgets, jobs, refusals and results.

One file per class (`<class folder>/class.sqlite3`), in WAL mode: the gateway and the
teacher's commands use it at once. A budget check and its reservation are one
`BEGIN IMMEDIATE` transaction, so no two submits (two students, or one student from two
kernels, or two gateway processes) can both pass a budget that fits only one of them.
Nothing here holds the upstream key: it is never given to the store.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._errors import KlingConfigError
from .._i18n import message
from . import _tokens

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 10.0
NAME_MAX = 40
ACTIVE = ("submitting", "queued", "running")
# Job states: submitting → queued → running → completed (result kept when result_code is
# set); `unknown`: the submit's answer was lost (never resent); `lost`: the upstream
# forgot a job it had taken.
STATES = (*ACTIVE, "completed", "unknown", "lost")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS students (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_id TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL,
    budget TEXT,
    currency TEXT NOT NULL DEFAULT '',
    spent TEXT NOT NULL DEFAULT '0',
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    student_id INTEGER NOT NULL REFERENCES students(id),
    state TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request_json TEXT NOT NULL,
    images INTEGER NOT NULL,
    cost TEXT,
    currency TEXT NOT NULL DEFAULT '',
    emulated INTEGER NOT NULL,
    submitted_at REAL NOT NULL,
    upstream_id TEXT,
    status_url TEXT,
    response_url TEXT,
    cancel_url TEXT,
    cancel_empty INTEGER NOT NULL DEFAULT 0,
    forwarded_at REAL,
    completed_at REAL,
    status_json TEXT,
    result_code INTEGER,
    result_json TEXT,
    cancel_requested_at REAL,
    cancel_answer TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_student ON jobs (student_id, state);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    student_id INTEGER REFERENCES students(id),
    at REAL NOT NULL,
    code INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refusals_by_student ON refusals (student_id);
"""


@dataclass(frozen=True)
class Student:
    """One student: name, budget (None: no cap), what was spent, whether revoked."""

    id: int
    name: str
    budget: Decimal | None
    currency: str
    spent: Decimal
    created_at: float
    revoked_at: float | None

    @property
    def left(self) -> Decimal | None:
        return None if self.budget is None else max(Decimal(0), self.budget - self.spent)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class Job:
    """One forwarded (or being forwarded) job, as the class file keeps it."""

    id: str
    student_id: int
    state: str
    fingerprint: str
    request: dict[str, Any]
    images: int
    cost: Decimal | None
    currency: str
    emulated: bool
    submitted_at: float
    upstream_id: str | None
    status_url: str | None
    response_url: str | None
    cancel_url: str | None
    cancel_empty: bool
    completed_at: float | None
    status: dict[str, Any] | None
    result_code: int | None
    result: Any
    cancel_requested_at: float | None
    note: str | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def kept(self) -> bool:
        """True once the gateway holds the final answer (result or failure) for good."""
        return self.result_code is not None


@dataclass(frozen=True)
class Refusal:
    """Why a reservation was refused: a reason key and the facts to word it."""

    code: int
    reason: str
    facts: dict[str, Any]


class Store:
    """The class file; every method is one short transaction."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()  # one connection, shared by the gateway's threads
        self._db = sqlite3.connect(
            str(self.path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(32),))
        self.salt = bytes.fromhex(self._meta("salt") or "")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: the write lock is taken before anything is read."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _meta(self, name: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    # --- students ----------------------------------------------------------------------------

    def add_student(self, name: str, budget: Decimal | None, currency: str) -> str:
        """Add `name` with a budget (None: no cap); returns the token, which is not kept."""
        name = check_name(name)
        token_id, token = _tokens.mint(_tokens.STUDENT)
        with self._write() as db:
            if db.execute("SELECT 1 FROM students WHERE name = ?", (name,)).fetchone():
                raise KlingConfigError(message("classroom.name_taken", name=name))
            db.execute(
                "INSERT INTO students (name, token_id, token_hash, budget, currency, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    token_id,
                    _tokens.digest(self.salt, token),
                    None if budget is None else str(budget),
                    currency,
                    self._clock(),
                ),
            )
        return token

    def students(self) -> list[Student]:
        rows = self._read(f"SELECT {_STUDENT_COLUMNS} FROM students ORDER BY id")
        return [_student(row) for row in rows]

    def student(self, name: str) -> Student:
        """The student called `name`; KlingConfigError naming the class's students if none."""
        rows = self._read(
            f"SELECT {_STUDENT_COLUMNS} FROM students WHERE name = ?", (_normal(name),)
        )
        if not rows:
            known = ", ".join(s.name for s in self.students()[:20]) or "—"
            raise KlingConfigError(message("classroom.no_such_student", name=name, known=known))
        return _student(rows[0])

    def student_by_id(self, student_id: int) -> Student | None:
        rows = self._read(f"SELECT {_STUDENT_COLUMNS} FROM students WHERE id = ?", (student_id,))
        return _student(rows[0]) if rows else None

    def student_by_token(self, token: str) -> Student | None:
        """The student holding `token` (revoked ones too: the caller says so), else None."""
        token_id = _tokens.token_id(token, _tokens.STUDENT)
        if token_id is None:
            return None
        rows = self._read(
            f"SELECT {_STUDENT_COLUMNS}, token_hash FROM students WHERE token_id = ?", (token_id,)
        )
        if not rows or not _tokens.matches(self.salt, token, rows[0][-1]):
            return None
        return _student(rows[0][:-1])

    def top_up(self, name: str, amount: Decimal, currency: str) -> Student:
        """Raise `name`'s budget by `amount`; a student who spent nothing may change currency."""
        student = self.student(name)
        with self._write() as db:
            row = db.execute(
                "SELECT budget, currency, spent FROM students WHERE id = ?", (student.id,)
            ).fetchone()
            budget, old, spent = row[0], row[1], Decimal(row[2])
            if budget is None:
                raise KlingConfigError(message("classroom.no_cap", name=student.name))
            if currency != old and spent == 0:
                new, old = amount, currency  # never usable in the old currency: replace it
            elif currency != old:
                raise KlingConfigError(
                    message(
                        "classroom.currency_mismatch",
                        name=student.name,
                        currency=currency,
                        theirs=old,
                    )
                )
            else:
                new = Decimal(budget) + amount
            db.execute(
                "UPDATE students SET budget = ?, currency = ? WHERE id = ?",
                (str(new), old, student.id),
            )
        return self.student(name)

    def revoke(self, name: str) -> Student:
        """Revoke `name`'s token from now on (the next request is refused)."""
        student = self.student(name)
        with self._write() as db:
            db.execute(
                "UPDATE students SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (self._clock(), student.id),
            )
        return self.student(name)

    # --- the teacher's token -----------------------------------------------------------------

    def new_teacher_token(self) -> str:
        """A new teacher token (the old one stops working); returned once, stored hashed."""
        token_id, token = _tokens.mint(_tokens.TEACHER)
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('teacher', ?)",
                (f"{token_id}:{_tokens.digest(self.salt, token)}",),
            )
        return token

    def has_teacher_token(self) -> bool:
        return self._meta("teacher") is not None

    def teacher_ok(self, token: str) -> bool:
        stored = self._meta("teacher")
        token_id = _tokens.token_id(token, _tokens.TEACHER)
        if stored is None or token_id is None:
            return False
        kept_id, _, kept_hash = stored.partition(":")
        return kept_id == token_id and _tokens.matches(self.salt, token, kept_hash)

    # --- reservations ------------------------------------------------------------------------

    def reserve(
        self,
        student_id: int,
        job_id: str,
        *,
        fingerprint: str,
        request: dict[str, Any],
        images: int,
        cost: Decimal | None,
        currency: str,
        emulated: bool,
        max_jobs: int,
    ) -> Refusal | None:
        """Check revocation, concurrent jobs and budget, and reserve the cost: one transaction.

        None when the job was reserved (its row is `submitting`, its cost already spent);
        else the refusal, recorded."""
        with self._write() as db:
            row = db.execute(
                "SELECT budget, currency, spent, revoked_at FROM students WHERE id = ?",
                (student_id,),
            ).fetchone()
            refusal = _refusal(db, row, student_id, images, cost, currency, max_jobs)
            if refusal is not None:
                self._record_refusal(db, student_id, refusal.code, refusal.reason, refusal.facts)
                return refusal
            db.execute(
                "INSERT INTO jobs (id, student_id, state, fingerprint, request_json, images,"
                " cost, currency, emulated, submitted_at)"
                " VALUES (?, ?, 'submitting', ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    student_id,
                    fingerprint,
                    json.dumps(request, ensure_ascii=False),
                    images,
                    None if cost is None else str(cost),
                    currency,
                    int(emulated),
                    self._clock(),
                ),
            )
            if cost is not None:
                spent = Decimal(row[2]) + cost
                db.execute("UPDATE students SET spent = ? WHERE id = ?", (str(spent), student_id))
        return None

    def release(self, job_id: str, code: int, reason: str, detail: str) -> None:
        """The upstream refused the submit: no job exists, its cost is given back."""
        with self._write() as db:
            row = db.execute(
                "SELECT student_id, cost FROM jobs WHERE id = ? AND state = 'submitting'",
                (job_id,),
            ).fetchone()
            if row is None:
                return
            student_id, cost = row
            if cost is not None:
                spent = db.execute(
                    "SELECT spent FROM students WHERE id = ?", (student_id,)
                ).fetchone()[0]
                back = max(Decimal(0), Decimal(spent) - Decimal(cost))
                db.execute("UPDATE students SET spent = ? WHERE id = ?", (str(back), student_id))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            self._record_refusal(db, student_id, code, reason, {"detail": detail})

    def refuse(self, student_id: int | None, code: int, reason: str, detail: str = "") -> None:
        """Record a refusal that reserved nothing (invalid input, unknown endpoint, …)."""
        with self._write() as db:
            self._record_refusal(db, student_id, code, reason, {"detail": detail})

    def _record_refusal(
        self,
        db: sqlite3.Connection,
        student_id: int | None,
        code: int,
        reason: str,
        facts: dict[str, Any],
    ) -> None:
        detail = json.dumps(facts, ensure_ascii=False, default=str)[:2000]
        db.execute(
            "INSERT INTO refusals (student_id, at, code, reason, detail) VALUES (?, ?, ?, ?, ?)",
            (student_id, self._clock(), code, reason, detail),
        )

    # --- jobs --------------------------------------------------------------------------------

    def forwarded(
        self,
        job_id: str,
        *,
        upstream_id: str,
        status_url: str,
        response_url: str,
        cancel_url: str,
        cancel_empty: bool,
    ) -> None:
        """The upstream took the job: where it lives there."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = 'queued', upstream_id = ?, status_url = ?,"
                " response_url = ?, cancel_url = ?, cancel_empty = ?, forwarded_at = ?"
                " WHERE id = ?",
                (
                    upstream_id,
                    status_url,
                    response_url,
                    cancel_url,
                    int(cancel_empty),
                    self._clock(),
                    job_id,
                ),
            )

    def set_state(self, job_id: str, state: str, note: str | None = None) -> None:
        """Move a job on (queued → running, or to `unknown`/`lost` with a note)."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = ?, note = COALESCE(?, note) WHERE id = ?",
                (state, note, job_id),
            )

    def completed(self, job_id: str, status: dict[str, Any]) -> None:
        """The upstream said COMPLETED: keep that status answer."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = 'completed', status_json = ?,"
                " completed_at = COALESCE(completed_at, ?) WHERE id = ?",
                (json.dumps(status, ensure_ascii=False), self._clock(), job_id),
            )

    def keep_result(self, job_id: str, code: int, body: Any, note: str | None = None) -> None:
        """The final answer of the result call (the output with local files, or a failure)."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET result_code = ?, result_json = ?, note = COALESCE(?, note),"
                " state = CASE WHEN state IN ('submitting','queued','running') THEN 'completed'"
                " ELSE state END, completed_at = COALESCE(completed_at, ?) WHERE id = ?",
                (code, json.dumps(body, ensure_ascii=False), note, self._clock(), job_id),
            )

    def cancel_requested(self, job_id: str, answer: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET cancel_requested_at = ?, cancel_answer = ? WHERE id = ?",
                (self._clock(), answer, job_id),
            )

    def job(self, job_id: str) -> Job | None:
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, *, states: Sequence[str] = (), limit: int | None = None) -> list[Job]:
        """Jobs, newest first; only in `states` when given."""
        where = f"WHERE state IN ({','.join('?' * len(states))})" if states else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY submitted_at DESC{tail}",
            tuple(states),
        )
        return [_job(row) for row in rows]

    def to_collect(self) -> list[Job]:
        """Jobs the gateway must still follow: running upstream, or completed but not kept."""
        rows = self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running')"
            " OR (state = 'completed' AND result_code IS NULL) ORDER BY submitted_at"
        )
        return [_job(row) for row in rows]

    def orphans(self) -> int:
        """Submits a stopped gateway left unanswered become `unknown` (never resent)."""
        with self._write() as db:
            return db.execute(
                "UPDATE jobs SET state = 'unknown', note = ? WHERE state = 'submitting'",
                (message("classroom.orphan_note", "en"),),
            ).rowcount

    # --- the report --------------------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """Per student: budget, spent, left, jobs by state, refusals."""
        jobs = self._read("SELECT student_id, state, count(*) FROM jobs GROUP BY student_id, state")
        refusals = self._read("SELECT student_id, count(*) FROM refusals GROUP BY student_id")
        by_state: dict[int, dict[str, int]] = {}
        for student_id, state, count in jobs:
            by_state.setdefault(student_id, {})[state] = count
        refused = dict(refusals)
        rows = []
        for s in self.students():
            counts = by_state.get(s.id, {})
            rows.append(
                {
                    "name": s.name,
                    "budget": s.budget,
                    "currency": s.currency,
                    "spent": s.spent,
                    "left": s.left,
                    "jobs": sum(counts.values()),
                    "active": sum(counts.get(state, 0) for state in ACTIVE),
                    "completed": counts.get("completed", 0),
                    "unknown": counts.get("unknown", 0) + counts.get("lost", 0),
                    "refusals": refused.get(s.id, 0),
                    "revoked": s.revoked,
                }
            )
        return rows

    def refusals(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT r.at, s.name, r.code, r.reason, r.detail FROM refusals r"
            " LEFT JOIN students s ON s.id = r.student_id ORDER BY r.id DESC LIMIT ?",
            (limit,),
        )
        return [
            {"at": at, "student": name, "code": code, "reason": reason, "detail": detail}
            for at, name, code, reason, detail in rows
        ]


def _refusal(
    db: sqlite3.Connection,
    row: tuple[Any, ...] | None,
    student_id: int,
    images: int,
    cost: Decimal | None,
    currency: str,
    max_jobs: int,
) -> Refusal | None:
    """Why this student may not reserve this job now, read inside the write transaction."""
    if row is None or row[3] is not None:
        return Refusal(401, "revoked", {})
    active = db.execute(
        "SELECT count(*) FROM jobs WHERE student_id = ? AND state IN (?, ?, ?)",
        (student_id, *ACTIVE),
    ).fetchone()[0]
    if active >= max_jobs:
        return Refusal(429, "too_many_jobs", {"active": active, "limit": max_jobs})
    budget, theirs, spent = row[0], row[1], Decimal(row[2])
    if budget is None:
        return None
    left = max(Decimal(0), Decimal(budget) - spent)
    facts = {"images": images, "left": left, "budget": Decimal(budget), "currency": theirs}
    if cost is None:
        return Refusal(402, "price_unknown", facts)
    if currency != theirs:
        return Refusal(402, "budget_currency", {**facts, "price_currency": currency})
    if cost > left:
        return Refusal(402, "budget", {**facts, "cost": cost})
    return None


_STUDENT_COLUMNS = "id, name, budget, currency, spent, created_at, revoked_at"
_JOB_COLUMNS = (
    "id, student_id, state, fingerprint, request_json, images, cost, currency, emulated,"
    " submitted_at, upstream_id, status_url, response_url, cancel_url, cancel_empty,"
    " completed_at, status_json, result_code, result_json, cancel_requested_at, note"
)


def _student(row: Sequence[Any]) -> Student:
    sid, name, budget, currency, spent, created, revoked = row
    return Student(
        sid,
        name,
        None if budget is None else Decimal(budget),
        currency,
        Decimal(spent),
        created,
        revoked,
    )


def _job(row: Sequence[Any]) -> Job:
    return Job(
        id=row[0],
        student_id=row[1],
        state=row[2],
        fingerprint=row[3],
        request=json.loads(row[4]),
        images=row[5],
        cost=None if row[6] is None else Decimal(row[6]),
        currency=row[7],
        emulated=bool(row[8]),
        submitted_at=row[9],
        upstream_id=row[10],
        status_url=row[11],
        response_url=row[12],
        cancel_url=row[13],
        cancel_empty=bool(row[14]),
        completed_at=row[15],
        status=json.loads(row[16]) if row[16] else None,
        result_code=row[17],
        result=json.loads(row[18]) if row[18] else None,
        cancel_requested_at=row[19],
        note=row[20],
    )


def _normal(name: str) -> str:
    return unicodedata.normalize("NFC", str(name)).strip()


def check_name(name: str) -> str:
    """A student's name, NFC: 1–40 letters, digits, `.`, `-`, `_` (any script)."""
    text = _normal(name)
    # No spaces or controls (one shell word, one CSV cell, one folder name), and a letter
    # or digit somewhere: "." and ".." name no folder.
    ok = 0 < len(text) <= NAME_MAX and all(c.isalnum() or c in "._-" for c in text)
    if not ok or text.startswith("-") or not any(c.isalnum() for c in text):
        raise KlingConfigError(message("classroom.bad_name", name=name[:60], limit=NAME_MAX))
    return text
