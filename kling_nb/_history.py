"""`history()`: the journal as a table, with thumbnails in a notebook and text elsewhere.

A notebook gets one small `image/jpeg` contact sheet (a thumbnail per job: its first output,
else its first input) plus the table as `text/plain`, like every other kling_nb display:
nbval compares only the text, which depends on nothing but the journal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, overload

from PIL import Image

from ._config import on_loopback
from ._dates import DateLike
from ._digest import THUMBS
from ._entry import JournalEntry
from ._errors import KlingError
from ._gallery import Cell, contact_sheet, mime_bundle
from ._i18n import MESSAGES, message
from ._images import load_image
from ._journal import default_home, is_waited_on, journal_for
from ._money import row_cost
from ._price import amount_text
from ._text import clip

SHEET_MAX_CELLS = 24
CELL_SIDE = 120
PROMPT_WIDTH = 48


class HistoryRow(JournalEntry):
    """A journal row that prints as one readable line (a `JournalEntry` in every other way)."""

    @classmethod
    def of(cls, entry: JournalEntry) -> HistoryRow:
        return cls(**{f.name: getattr(entry, f.name) for f in fields(entry)})

    def __repr__(self) -> str:
        cost = _cost(self)
        parts = [
            f"#{self.id}",
            self.created(),
            _state(self.state),
            backend_name(self),
            self.request_id or "—",
            message("progress.images", count=self.image_count),
            *([cost] if cost != "—" else []),
            repr(clip(self.prompt, PROMPT_WIDTH)),
        ]
        return " · ".join(parts)

    __str__ = __repr__


@dataclass
class History(Sequence[JournalEntry]):
    """Journal rows, newest first; shows as a table (with thumbnails in a notebook)."""

    entries: list[JournalEntry]
    path: Path
    _sheet: bytes = field(default=b"", repr=False)
    skipped_rows: int = 0  # rows the journal could not decode
    moved_aside: Path | None = None  # where a corrupt journal file was moved
    filtered: bool = False  # a state or date filter chose the rows
    # Unfinished rows a live process (maybe this one) is still waiting on: not abandoned.
    waited: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        self.entries = [e if isinstance(e, HistoryRow) else HistoryRow.of(e) for e in self.entries]

    @overload
    def __getitem__(self, index: int) -> JournalEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[JournalEntry]: ...
    def __getitem__(self, index: int | slice) -> JournalEntry | list[JournalEntry]:
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries)

    def pending(self) -> list[JournalEntry]:
        """The rows that `resume()` can still bring to an end."""
        return [e for e in self.entries if e.resumable]

    def __repr__(self) -> str:
        if not self.entries:
            empty = "history.none_match" if self.filtered else "history.none_yet"
            return "\n".join([message(empty, path=self.path), *self._notices()])
        lines = [message("history.title", count=len(self.entries), path=self.path)]
        lines += _table(self.entries)
        lines += _days(self.entries)
        waited = [e for e in self.pending() if e.id in self.waited]
        abandoned = len(self.pending()) - len(waited)
        if waited:
            pids = ", ".join(sorted({_pid(e) for e in waited}))
            lines.append(message("history.waited_hint", count=len(waited), pids=pids))
        if abandoned:
            lines.append(message("history.abandoned_hint", count=abandoned))
        unknown = sum(1 for e in self.entries if e.state == "unknown")
        if unknown:
            lines.append(message("history.unknown_hint", count=unknown))
        return "\n".join(lines + self._notices())

    def _notices(self) -> list[str]:
        """What the journal reported about damage: skipped rows, a file moved aside."""
        lines = [message("journal.bad_rows", count=self.skipped_rows)] if self.skipped_rows else []
        if self.moved_aside is not None:
            lines.append(message("money.history_moved", moved=self.moved_aside))
        return lines

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        if not self._sheet:
            return {"text/plain": repr(self)}
        return mime_bundle(self._sheet, repr(self))


def history(
    state: str | Sequence[str] | None = None,
    *,
    since: DateLike | None = None,
    until: DateLike | None = None,
    limit: int | None = 50,
    home: str | Path | None = None,
) -> History:
    """The journal's jobs, newest first, filtered by state ("pending" = unfinished) and date.

    `since`/`until` take a datetime, a date, an ISO string or a timedelta back from now.
    """
    journal = journal_for(home if home is not None else default_home())
    entries = journal.entries(state, since=since, until=until, limit=limit)
    sheet = _sheet(entries, journal.home)
    filtered = bool(state) or since is not None or until is not None
    waited = frozenset(e.id for e in entries if e.resumable and is_waited_on(journal, e))
    return History(
        entries, journal.path, sheet, journal.skipped_rows, journal.moved_aside, filtered, waited
    )


def backend_name(entry: JournalEntry) -> str:
    """The backend a row ran on, as kling_nb names it now: "emulator" for every emulator
    (rows written before it had one name say "local", or "custom" for one on loopback)."""
    if entry.backend in ("local", "emulator") or on_loopback(entry.host):
        return "emulator"
    return entry.backend


def _pid(entry: JournalEntry) -> str:
    """The process id in a row's `owner` (`host#start:pid`)."""
    return (entry.owner or "").rpartition(":")[2] or "?"


def _table(entries: Sequence[JournalEntry]) -> list[str]:
    header = message("history.columns").split("|")
    header.insert(-1, message("money.history_cost"))
    rows = [
        [
            str(e.id),
            e.created(),
            _state(e.state),
            backend_name(e),
            e.request_id or "—",
            str(e.image_count),
            _cost(e),
            clip(e.prompt, PROMPT_WIDTH),
        ]
        for e in entries
    ]
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        cells = [c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=False)]
        out.append("  ".join([*cells, row[-1]]).rstrip())
    return out


def _cost(entry: JournalEntry) -> str:
    """What a row cost: its estimate, "—" when unknown, 0 marked for a replay, an emulated
    figure marked as such (no service billed it)."""
    cost = row_cost(entry)
    if cost is None or cost.amount is None:
        return "—"
    if cost.replay:
        return message("money.history_replay", cost=cost)
    return message("history.cost_emulated", cost=cost) if cost.emulated else str(cost)


Totals = dict[date, dict[str, Decimal]]


def _days(entries: Sequence[JournalEntry]) -> list[str]:
    """Estimated spend per day and currency of the rows shown; emulated figures apart, never
    counted as spend (replays and refused submits cost nothing)."""
    billed: Totals = {}
    emulated: Totals = {}
    for entry in entries:
        cost = row_cost(entry)
        if cost is None or cost.amount is None or cost.replay or entry.state == "rejected":
            continue
        per = (emulated if cost.emulated else billed).setdefault(
            datetime.fromtimestamp(entry.created_at).date(), {}
        )
        per[cost.currency] = per.get(cost.currency, Decimal(0)) + cost.amount
    if not billed and not emulated:
        return []
    lines = [message("history.days")]
    for day in sorted(set(billed) | set(emulated), reverse=True):
        spent = _amounts(billed.get(day)) or "0"
        text = message("history.day", day=day.isoformat(), amounts=spent)
        if day in emulated:
            text += message("history.day_emulated", amounts=_amounts(emulated[day]))
        lines.append(text)
    return lines


def _amounts(per: dict[str, Decimal] | None) -> str:
    return ", ".join(f"{amount_text(v)} {c}" for c, v in sorted((per or {}).items()))


def _state(state: str) -> str:
    """A journal state in the interface language (unknown names as they are)."""
    key = f"engine.state.{state}"
    return message(key) if key in MESSAGES else state


def _width(text: str) -> int:
    """Columns a string takes in a monospace font (CJK characters take two)."""
    return sum(2 if ord(ch) >= 0x1100 and not 0x2000 <= ord(ch) <= 0x2BFF else 1 for ch in text)


def _sheet(entries: Sequence[JournalEntry], home: Path) -> bytes:
    cells = []
    for entry in entries[:SHEET_MAX_CELLS]:
        picture = _thumbnail(entry, home)
        blank = Image.new("RGB", (96, 96), (215, 215, 212))  # none, or damaged: a grey tile
        cells.append(Cell(picture or blank, f"#{entry.id} {_state(entry.state)}"))
    if not cells:
        return b""
    return contact_sheet(cells, columns=min(8, len(cells)), cell_side=CELL_SIDE)


def _thumbnail(entry: JournalEntry, home: Path) -> Image.Image | None:
    """The first output's thumbnail (written when the job completed, else made here in
    memory: reading the history writes nothing), else the first input's."""
    candidates: list[Path] = []
    if entry.cached and entry.request_id:
        candidates += [home / THUMBS / f"out-{entry.request_id}.jpg", Path(entry.cached[0])]
    for url in entry.arguments.get("image_urls") or []:
        if isinstance(url, dict) and url.get("thumbnail"):
            candidates.append(home / str(url["thumbnail"]))
    for path in candidates:
        if path.is_file():
            try:
                picture = load_image(path)
            except (KlingError, OSError):
                continue
            picture.thumbnail((2 * CELL_SIDE, 2 * CELL_SIDE))
            return picture
    return None
