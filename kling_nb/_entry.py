"""A journal row as read: `JournalEntry`, decoded from sqlite with its JSON columns."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ._states import ACTIVE_STATES, FINAL_STATES, RESUMABLE_STATES
from ._wire import Output


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
    # Schema version 3: what a cancel asked and was answered; a region edit's plan (JSON).
    cancel: str | None = None
    region: dict[str, Any] | None = None

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
            ("region", None),
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
    def active(self) -> bool:
        """True while the job is not over (its submit may not even have answered yet)."""
        return self.state in ACTIVE_STATES

    @property
    def output(self) -> Output | None:
        """The stored result as an `Output` (None when absent or not a Kling O1 output)."""
        try:
            return Output.parse(self.result) if self.result is not None else None
        except ValueError:
            return None

    @property
    def image_count(self) -> int:
        if self.cached:
            return len(self.cached)
        output = self.output
        return len(output.images) if output is not None else 0

    def created(self) -> str:
        """Local time the row was written, to the second."""
        return datetime.fromtimestamp(self.created_at).strftime("%Y-%m-%d %H:%M:%S")


COLUMNS = frozenset(f.name for f in fields(JournalEntry)) - {"id"}


def decode_rows(rows: Iterable[sqlite3.Row]) -> list[JournalEntry]:
    """Rows as entries; a row that does not decode is left out (the caller counts)."""
    entries: list[JournalEntry] = []
    for row in rows:
        try:
            entries.append(JournalEntry.from_row(row))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return entries
