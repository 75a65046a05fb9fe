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


def scrub_exception(exc: BaseException | None) -> None:
    """Mask remembered secrets in `exc` and its `__cause__`/`__context__` chain, in place:
    every attribute a user can reach. Texts and containers are masked; objects a server's
    answer rides in (an httpx response or request of a chained library error, with its
    headers and body) are dropped from the error, since they can echo the key."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        ours = type(exc).__module__.startswith("kling_nb")  # built from scrubbed text
        try:
            exc.args = tuple(scrub(a) if ours else _masked(a) for a in exc.args)
            for name, value in list(vars(exc).items()):
                if not name.startswith("__"):
                    setattr(exc, name, scrub(value) if ours else _masked(value))
        except (AttributeError, TypeError):
            pass  # an exception type with read-only attributes: its text stays as it is
        exc = exc.__cause__ or exc.__context__


_PLAIN = (int, float, bool, type(None), bytes)
_SECRET_NAMES = ("authorization", "x-api-key", "key", "token")


def _masked(value: object, depth: int = 0) -> object:
    """`value` with secrets masked: texts scrubbed, containers copied masked, header names
    that carry credentials blanked; any other object (a response, a request) dropped."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, _PLAIN) or depth > 4:
        return value if isinstance(value, _PLAIN) else None
    if isinstance(value, BaseException):
        return value  # walked as part of the chain, or its own text is scrubbed when shown
    if isinstance(value, dict):
        return {
            k: MASK if str(k).lower() in _SECRET_NAMES else _masked(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(v, depth + 1) for v in value)
    return None
