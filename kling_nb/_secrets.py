"""Secrets: the one scrubber every text built from server data or user input passes through.

A key is remembered when `connect()` sets it (or when a journal row records a job); from then
on `scrub()` replaces it, wherever it appears, by `***`. Messages, exception text (and the
`__cause__`/`__context__` text kling_nb attaches), log lines, journal values and CLI output
all pass through here before anyone can read them.
"""

from __future__ import annotations

import threading
from typing import TypeVar

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

T = TypeVar("T")


def remember_secret(key: str | None) -> None:
    """Never let `key` out, whatever text it would appear in."""
    if key and len(key) >= 4:
        with _lock:
            _secrets.add(key)


def scrub(value: T) -> T:
    """`value` with every remembered secret masked; non-strings pass unchanged."""
    if not isinstance(value, str) or not _secrets:
        return value
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    text: str = value
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text  # type: ignore[return-value]
