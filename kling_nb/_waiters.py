"""Who waits on a journal row: this process, another live one, or nobody any more.

A row's `owner` is `host#start:pid` — the process start time makes a PID reused after a
restart look like what it is, another process. `resume()` and `history()` use it to leave a
job to the live process waiting on it, and to tell a job a dead kernel left behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

_active: set[tuple[str, int]] = set()  # (journal path, row id) a thread here is waiting on
_active_lock = threading.Lock()


class _Row(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def owner(self) -> str | None: ...


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
def marked_waiting(path: Path, row_id: int | None) -> Iterator[None]:
    """Mark a row of the journal at `path` as waited on by this thread while the block runs."""
    if row_id is None:
        yield
        return
    key = (str(path), row_id)
    with _active_lock:
        _active.add(key)
    try:
        yield
    finally:
        with _active_lock:
            _active.discard(key)


class Hold:
    """A row counted as waited on by this process from its submit until the wait that follows
    ends (or the Job it was handed to is gone): an identical request admitted in between
    follows it instead of paying again."""

    def __init__(self, path: Path, row_id: int):
        self.key = (str(path), row_id)
        with _active_lock:
            _active.add(self.key)

    def hand_to(self, owner: object) -> None:
        """Release the hold when `owner` (the Job) is garbage-collected, if not before."""
        weakref.finalize(owner, self.release)

    def release(self) -> None:
        with _active_lock:
            _active.discard(self.key)


def is_waited_on(path: Path, entry: _Row) -> bool:
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
            return (str(path), entry.id) in _active
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """True when a process with this PID exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True
