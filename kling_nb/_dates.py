"""Date filters for the journal and `history()`: dates, datetimes, ISO text, "today",
"yesterday", a timedelta back from now, or epoch seconds."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from ._errors import KlingDateError
from ._i18n import message

DateLike = datetime | date | timedelta | str | float | int
DATE_TYPES = (datetime, date, timedelta)


def to_epoch(value: DateLike, *, end: bool = False) -> float:
    """A date filter as epoch seconds: a datetime, a date (its start, or the next day's
    start when `end`), an ISO string, a timedelta back from now, or epoch seconds."""
    name = "until" if end else "since"
    if isinstance(value, bool) or not isinstance(value, (*DATE_TYPES, str, int, float)):
        raise KlingDateError(message("journal.date_bad", name=name, value=value))
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
            raise KlingDateError(message("journal.date_bad", name=name, value=text[:80])) from None
    if isinstance(value, datetime):
        return value.timestamp()
    day = value + timedelta(days=1) if end else value
    return datetime(day.year, day.month, day.day).timestamp()
