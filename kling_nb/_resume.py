"""`resume()`: wait again for jobs a dead kernel (or a sleeping laptop) left behind.

Everything needed comes from the journal — the host and the URLs the server gave — except
the API key, which is never stored: it comes from the current connection when that points
at the same host, else from this process's environment for that host.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _config
from ._batch import DEFAULT_CONCURRENCY, Outcome, Slot, Work, run_blocking
from ._cache import finish_edit
from ._config import Connection, on_loopback
from ._entry import JournalEntry
from ._errors import (
    KlingCancelledError,
    KlingConfigError,
    KlingConnectionError,
    KlingJobError,
    KlingSubmitUnknownError,
)
from ._i18n import message
from ._job import DEFAULT_TIMEOUT, Job, ProgressArg
from ._journal import Journal, default_home, is_waited_on, journal_for
from ._states import RESUMABLE_STATES
from ._waiters import owner_tag
from ._wire import ENDPOINT, Handle, Output

if TYPE_CHECKING:
    from ._images import PreparedImage
    from ._request import KlingO1Request

PROBE_TIMEOUT = 3.0  # s to reach an emulator before deciding it is gone


def resume(
    request_id: str | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    connection: Connection | None = None,
    home: str | Path | None = None,
) -> Any:
    """Wait for unfinished jobs from the journal and return their results.

    With a request id: that job's result (an EditResult for Kling O1, else the output
    dict), or its KlingError raised. Without: a BatchResult of every unfinished job no
    live process is waiting on. Ctrl-C cancels the jobs on the server, as in `edit`.
    """
    chosen = Path(home) if home is not None else connection.home if connection else default_home()
    journal = journal_for(chosen)
    if request_id is not None:
        entry = journal.find(request_id)
        if entry is None:
            raise KlingJobError(
                message("resume.not_found", path=journal.path, request_id=request_id),
                request_id=request_id,
                endpoint="",
            )
        return resume_entry(entry, journal, connection, timeout, progress=progress)
    _settle_lost_submits(journal)
    pending = [e for e in journal.entries(RESUMABLE_STATES) if e.resumable]
    entries = [e for e in reversed(pending) if not is_waited_on(journal, e)]  # oldest first
    others = sorted({str(e.owner).rpartition(":")[2] for e in pending if e not in entries})
    labels = [e.prompt or e.endpoint for e in entries]
    works = [_resume_work(e, journal, connection, timeout) for e in entries]
    batch = run_blocking(works, labels, concurrency, progress)
    if others:
        skipped = len(pending) - len(entries)
        batch.note = message("resume.waited_elsewhere", count=skipped, pids=", ".join(others))
    return batch


def _resume_work(
    entry: JournalEntry, journal: Journal, connection: Connection | None, timeout: float | None
) -> Work:
    """One journal row's work for the batch runner: wait (holding a place), then finish."""

    async def work(slot: Slot) -> Outcome:
        _ended(entry)
        need_key = entry.state in RESUMABLE_STATES
        job = await asyncio.to_thread(_job_for, entry, journal, connection, need_key=need_key)
        output = _usable_result(entry)
        if output is None:
            async with slot.on_server():
                slot.register(job)
                output = await job.wait_output_async(timeout, None, slot.seen)
        return await asyncio.to_thread(_finish, entry, job, output, journal)

    return work


def resume_entry(
    entry: JournalEntry,
    journal: Journal,
    connection: Connection | None,
    timeout: float | None,
    *,
    progress: ProgressArg = True,
) -> Any:
    """Bring one journal row to an end: wait, fetch, cache; or raise what it ended with."""
    _ended(entry)
    job = _job_for(entry, journal, connection, need_key=entry.state in RESUMABLE_STATES)
    output = _usable_result(entry)
    if output is None:
        output = job.wait_output(timeout, None, progress)
    return _finish(entry, job, output, journal)


def _ended(entry: JournalEntry) -> None:
    """Raise what a row that can no longer be waited for ended with."""
    if entry.request_id is None or entry.response_url is None:
        raise _lost_submit(entry)
    if entry.state in ("failed", "cancelled", "rejected"):
        kind = KlingCancelledError if entry.state == "cancelled" else KlingJobError
        detail = entry.error or entry.state
        raise kind(
            message("resume.ended", request_id=entry.request_id, state=entry.state, detail=detail),
            request_id=entry.request_id,
            endpoint=entry.endpoint,
            detail=detail,
            error_type=entry.error_type,
        )


def _finish(entry: JournalEntry, job: Job, output: Output, journal: Journal) -> Any:
    """A resumed job's last step: its images cached (an EditResult; a region edit's pasted
    back into its kept original), or its output dict."""
    if entry.endpoint != ENDPOINT:
        if entry.state != "completed" and job.journal_id is not None:
            journal.completed(job.journal_id, result=output.raw)
        return output.raw
    request, inputs = _request_of(entry, journal.home)
    return finish_edit(job, output, request, inputs, region=entry.region)


def _job_for(
    entry: JournalEntry, journal: Journal, override: Connection | None, *, need_key: bool
) -> Job:
    assert entry.request_id and entry.response_url and entry.status_url  # cancel_url may be ''
    conn = connection_for(entry, override, journal.home, need_key=need_key)
    if need_key and conn.emulated:
        _probe_emulator(entry, journal)
    handle = Handle(entry.request_id, entry.response_url, entry.status_url, entry.cancel_url or "")
    job = Job(conn, entry.endpoint, handle, caches_images=entry.endpoint == ENDPOINT)
    job.journal_id = entry.id
    return job


def connection_for(
    entry: JournalEntry, override: Connection | None, home: Path, *, need_key: bool = True
) -> Connection:
    """A connection to the row's host, with a key from this process (never the journal)."""
    for conn in (override, _config.active_connection()):
        if conn is not None and conn.host == entry.host:
            return replace(conn, home=home)
    host = entry.host
    emulated = on_loopback(host)
    key, variable = _config.key_for_host(host)
    if not key:
        if need_key:
            raise KlingConfigError(
                message("resume.no_key", request_id=entry.request_id, host=host, variable=variable)
            )
        key = ""  # only cached files and keyless result URLs will be touched
    backend = entry.backend if entry.backend in ("local", "qiniu", "fal") else "custom"
    bundle = os.environ.get("SSL_CERT_FILE") if emulated else None
    return Connection(
        backend,  # type: ignore[arg-type]
        host,
        key,
        "fal" if backend == "fal" else "qiniu",
        ca_bundle=bundle,
        home=home,
    )


def _probe_emulator(entry: JournalEntry, journal: Journal) -> None:
    """An emulator's jobs die with it: say so at once rather than retry until the deadline."""
    name, _, port = entry.host.partition("/")[0].rpartition(":")
    try:
        with socket.create_connection((name.strip("[]"), int(port)), timeout=PROBE_TIMEOUT):
            return
    except (OSError, ValueError) as exc:
        text = message("resume.emulator_gone", request_id=entry.request_id, host=entry.host)
        journal.failed(entry.id, text, "emulator_gone")
        raise KlingConnectionError(text, host=entry.host) from exc


def _usable_result(entry: JournalEntry) -> Output | None:
    """The output the journal already holds, if its image URLs can still be fetched."""
    if entry.state not in ("downloading", "completed") or not entry.result:
        return None
    try:  # data: URIs were summarised away (not strings any more): fetch the result again
        return Output.parse(entry.result, images=entry.endpoint == ENDPOINT)
    except ValueError:
        return None


def _request_of(entry: JournalEntry, home: Path) -> tuple[KlingO1Request, list[PreparedImage]]:
    """The request a row was made from, as far as the journal keeps it (images as thumbnails)."""
    from ._images import PreparedImage
    from ._request import KlingO1Request
    from ._wire import data_uri

    args = entry.arguments
    request = KlingO1Request(
        prompt=str(args.get("prompt", "")),
        images=[],
        resolution=args.get("resolution", "1K"),
        num_images=args.get("num_images", 1),
        aspect_ratio=args.get("aspect_ratio", "auto"),
        output_format=args.get("output_format"),
    )
    inputs = []
    labels = entry.inputs or []
    for i, url in enumerate(args.get("image_urls") or []):
        label = labels[i] if i < len(labels) else f"image_{i + 1}"
        if isinstance(url, dict):
            thumb = home / str(url.get("thumbnail", ""))
            shown = data_uri(thumb.read_bytes(), "image/jpeg") if thumb.is_file() else ""
            inputs.append(PreparedImage(shown, None, None, url.get("content_type"), (), label))
        else:
            inputs.append(PreparedImage(str(url), None, None, None, (), label))
    return request, inputs


def _settle_lost_submits(journal: Journal) -> None:
    """A row still `submitting` whose process died will never learn its request id."""
    mine = owner_tag()
    for entry in journal.entries("submitting"):
        if entry.owner != mine and not is_waited_on(journal, entry):
            journal.unknown(entry.id, _lost_submit(entry).args[0])


def _lost_submit(entry: JournalEntry) -> KlingSubmitUnknownError:
    text = message(
        "resume.no_request_id",
        row=entry.id,
        state=entry.state,
        created=entry.created(),
        host=entry.host,
    )
    return KlingSubmitUnknownError(text, host=entry.host, journal_id=entry.id)
