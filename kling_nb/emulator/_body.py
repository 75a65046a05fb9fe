"""Request and response bodies of a size that matters: capped reads, streamed JSON answers."""

from __future__ import annotations

import asyncio
import ctypes
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from functools import cache

from starlette.requests import Request
from starlette.responses import StreamingResponse

MAX_BODY_BYTES = 64 * 1024 * 1024
# A too-large body is still read (and dropped) up to here, so the client gets its 413
# instead of a broken pipe; beyond it the connection is closed.
DRAIN_LIMIT = 4 * MAX_BODY_BYTES
# Strings at least this long are sent as their own chunk (data: URIs of whole pictures),
# so an answer never needs a second copy of them in memory.
LONG_STRING = 64 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytearray | None:
    """The body, or None when it exceeds the limit (read and dropped, so a 413 can follow)."""
    declared = request.headers.get("content-length", "")
    too_big = declared.isdigit() and int(declared) > limit
    body = bytearray()  # one buffer, not chunks plus their join: a third less at the peak
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        too_big = too_big or size > limit
        if size > DRAIN_LIMIT:
            break
        if not too_big:
            body += chunk
    return None if too_big else body


def json_chunks(value: object) -> Iterator[bytes]:
    """`value` as JSON, in pieces: each long string alone, encoded once, never joined."""
    if isinstance(value, Mapping):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield (b"," if i else b"") + json.dumps(str(key)).encode() + b":"
            yield from json_chunks(item)
        yield b"}"
    elif isinstance(value, (list, tuple)):
        yield b"["
        for i, item in enumerate(value):
            if i:
                yield b","
            yield from json_chunks(item)
        yield b"]"
    elif isinstance(value, str) and len(value) >= LONG_STRING and _plain(value):
        yield b'"'
        yield value.encode("ascii")  # base64 needs no escaping: one copy, sent, dropped
        yield b'"'
    else:
        yield json.dumps(value).encode()


def _plain(text: str) -> bool:
    """ASCII without anything JSON escapes (the text of a base64 data: URI)."""
    return text.isascii() and '"' not in text and "\\" not in text and text.isprintable()


def release_memory() -> None:
    """Hand freed heap pages back to the system (glibc's `malloc_trim`; elsewhere nothing).

    Results held as data: URIs are tens of MB each, built and dropped in worker threads;
    glibc keeps such freed blocks in its arenas, so the process would stay as large as its
    busiest moment. Called after big results are dropped or sent; on a running event loop
    it runs in a worker thread, so that walking the heap never holds up a poll."""
    trim = _malloc_trim()
    if trim is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        trim(0)
        return
    loop.run_in_executor(None, trim, 0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


class JSONStream(StreamingResponse):
    """A JSON answer written piece by piece (`json_chunks`), for bodies holding pictures."""

    def __init__(
        self, value: object, status_code: int = 200, headers: Mapping[str, str] | None = None
    ):
        async def pieces() -> AsyncIterator[bytes]:
            small = bytearray()  # the short pieces go out together, not one write each
            for piece in json_chunks(value):
                if len(piece) < LONG_STRING:
                    small += piece
                    continue
                if small:
                    yield bytes(small)
                    small.clear()
                yield piece
            if small:
                yield bytes(small)
            release_memory()  # the encoded copies of the pictures are gone now

        super().__init__(pieces(), status_code, headers, media_type="application/json")
