"""Admission: before anything is paid, replay what was paid before, or follow an identical
job already on its way, or reserve the cost and submit — a tagged `Submitted | Replayed`.

A request's fingerprint (`_money.fingerprint`) finds a completed job that made the same
pictures: they are returned from the cache (or fetched again from the stored result URL while
it is valid) and journaled as a replay costing nothing. Unless `fresh`, an identical request
still running in a live process is waited for, then replayed: two identical edits at once
submit once. Otherwise the journal row is written under the budget check, in one
transaction (`_money.Reservation`), and the submit is sent (`_job.send`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ._cache import Pictures, cache_for, region_pictures
from ._config import FAL_HOST, QINIU_HOST, Connection, on_loopback
from ._entry import JournalEntry
from ._errors import KlingBudgetError, KlingError, KlingReplayError
from ._i18n import message
from ._images import PreparedImage
from ._job import Job, ProgressArg, send
from ._journal import Reader, default_home, journal_for
from ._money import Reservation, request_fingerprint, reservation, split_by_budget
from ._progress import announce
from ._request import KlingO1Request
from ._results import EditResult, make_result
from ._text import clip
from ._transport import client_for
from ._waiters import is_waited_on, owner_tag
from ._wire import ENDPOINT, Output

# How long a finished job's result URL can still be fetched (docs/services.md): fal keeps
# results about an hour, Qiniu 7 days; any other host gets the shorter, safer figure.
RESULT_LIFETIME = {QINIU_HOST: 7 * 86400.0, FAL_HOST: 3600.0}
DEFAULT_LIFETIME = 3600.0
REPLAY_CANDIDATES = 20  # completed rows of one fingerprint looked at, newest first
FOLLOW_POLL = 0.25  # s between looks at an identical job another waiter is bringing in


@dataclass(frozen=True)
class Replay:
    """What the journal offers instead of paying again for a request."""

    source: Literal["cache", "url", "expired", "none"]
    entry: JournalEntry | None = None
    files: list[Path] = field(default_factory=list)
    until: float | None = None  # the result URL's expiry, for `url`

    def __bool__(self) -> bool:
        return self.source in ("cache", "url")

    def __repr__(self) -> str:
        request_id = self.entry.request_id if self.entry is not None else ""
        until = datetime.fromtimestamp(self.until).strftime("%Y-%m-%d %H:%M") if self.until else ""
        return message(f"money.replay_{self.source}", request_id=request_id, until=until)


@dataclass(frozen=True)
class Pay:
    """Admitted to be paid for: the reservation its journal row will be written under."""

    reservation: Reservation


@dataclass(frozen=True)
class Reuse:
    """Admitted as a replay of an identical completed request: nothing to pay."""

    replay: Replay


Admission = Pay | Reuse


@dataclass(frozen=True)
class Submitted:
    """Sent (and paid for): the job to wait on, and the inputs as sent."""

    job: Job
    inputs: list[PreparedImage] = field(default_factory=list)


@dataclass(frozen=True)
class Replayed:
    """Not sent: the pictures of an identical request paid before (an EditResult for an
    edit, the output dict for `run_fal_task`)."""

    value: Any
    request_id: str


Started = Submitted | Replayed


class _InFlight(Exception):
    """Inside a reservation: an identical request is on its way in a live process."""

    def __init__(self, entry: JournalEntry):
        super().__init__(entry.id)
        self.entry = entry


# --- finding what was paid before ------------------------------------------------------------


def find_replay(
    fingerprint: str,
    *,
    home: str | Path | None = None,
    now: float | None = None,
    host: str | None = None,
) -> Replay:
    """The most recent completed job of this fingerprint whose pictures can still be had.

    `host` is the queue host in use: an emulator's result URLs live only as long as that
    emulator, so a URL from another loopback host counts as expired."""
    now = time.time() if now is None else now
    journal = journal_for(home if home is not None else default_home())
    entries = journal.completed_with(fingerprint, REPLAY_CANDIDATES)
    for entry in entries:
        files = _cached_files(entry)
        if files:  # `until` set too when its result URLs still work
            return Replay("cache", entry, files, until=_urls_until(entry, now, host))
    for entry in entries:
        until = _urls_until(entry, now, host)
        if until is not None:
            return Replay("url", entry, until=until)
    return Replay("expired", entries[0]) if entries else Replay("none")


def admit(
    conn: Connection,
    endpoint: str,
    body: Mapping[str, Any],
    request: KlingO1Request | None = None,
    *,
    fresh: bool = False,
) -> Admission:
    """Before a submit: a replay to use instead (unless `fresh`), else what paying reserves.

    Raises KlingBudgetError when it would pass the budget, and KlingReplayError when it was
    paid before but its pictures are gone (paying again needs `fresh=True`)."""
    (one,) = admit_all(conn, [(endpoint, body, request)], fresh=fresh)
    if isinstance(one, KlingBudgetError):
        raise one
    return one


def admit_all(
    conn: Connection,
    items: Sequence[tuple[str, Mapping[str, Any], KlingO1Request | None]],
    *,
    fresh: bool = False,
) -> list[Admission | KlingBudgetError]:
    """`admit` for a batch of (endpoint, body, request): replays first, then the budget
    split over the rest in order, each item whole or refused (nothing is half-sent). Each
    submit is checked again, atomically, when its row is written."""
    journal_for(conn.home).check_writable()  # a home that cannot record a job pays nothing
    out: list[Admission | KlingBudgetError] = []
    for endpoint, body, request in items:
        found = request_fingerprint(conn, endpoint, body, request)
        replay = Replay("none") if fresh else find_replay(found, home=conn.home, host=conn.host)
        pay = reservation(conn, endpoint, body, request, None if fresh else _not_in_flight(found))
        if replay.source == "expired":
            rid = replay.entry.request_id if replay.entry is not None else ""
            text = message("money.replay_expired_error", request_id=rid)
            out.append(KlingReplayError(text, cost=pay.cost))
        else:
            out.append(Reuse(replay) if replay else Pay(pay))
    to_pay = [i for i, a in enumerate(out) if isinstance(a, Pay)]
    costs = [a.reservation.cost for i in to_pay if isinstance(a := out[i], Pay)]
    _, refused = split_by_budget(costs, home=conn.home)
    for position, error in refused:
        out[to_pay[position]] = error
    return out


def _not_in_flight(found: str) -> Any:
    """A reservation check: refuse (with `_InFlight`) while an identical request is on its
    way in a live process — submitting right now, or waited on."""
    mine = owner_tag()

    def check(reader: Reader) -> None:
        for entry in reader.in_flight_with(found):
            submitting_here = entry.state == "submitting" and entry.owner == mine
            if submitting_here or is_waited_on(reader.path, entry):
                raise _InFlight(entry)

    return check


# --- starting: replay, follow, or pay ---------------------------------------------------------


def start(
    conn: Connection,
    endpoint: str,
    body: Mapping[str, Any],
    *,
    request: KlingO1Request | None = None,
    inputs: Sequence[PreparedImage] = (),
    admission: Admission | None = None,
    fresh: bool = False,
    progress: ProgressArg = True,
    follow_timeout: float | None = None,
) -> Started:
    """Admit (unless a batch already did), then replay or submit once: `Submitted | Replayed`.

    An identical request in flight elsewhere is followed until it ends (within
    `follow_timeout`), then this one is admitted again (a replay, or a submit if it failed)."""
    fresh = fresh or not conn.replay
    deadline = None if follow_timeout is None else time.monotonic() + follow_timeout
    while True:
        chosen = admission or admit(conn, endpoint, body, request, fresh=fresh)
        admission = None
        if isinstance(chosen, Reuse):
            return replayed(conn, endpoint, chosen.replay, request, inputs, progress)
        labels = [p.source_label for p in inputs]
        try:
            job = send(
                conn,
                endpoint,
                body,
                chosen.reservation,
                inputs=labels,
                caches_images=endpoint == ENDPOINT,
                region=_region_record(conn, request),
                hold=True,
            )
        except _InFlight as flight:
            _follow(conn, flight.entry, deadline, progress)
            continue
        return Submitted(job, list(inputs))


def _follow(
    conn: Connection, entry: JournalEntry, deadline: float | None, say: ProgressArg
) -> None:
    """Wait while an identical request another waiter is bringing in is unfinished."""
    announce(say, message("money.following", request_id=entry.request_id or f"#{entry.id}"))
    journal = journal_for(conn.home)
    while deadline is None or time.monotonic() < deadline:
        now = journal.get(entry.id)
        if now is None or not now.active or not _still_waited(journal.path, now):
            return
        time.sleep(FOLLOW_POLL)


def _still_waited(path: Path, entry: JournalEntry) -> bool:
    return entry.state == "submitting" or is_waited_on(path, entry)


def _region_record(conn: Connection, request: KlingO1Request | None) -> dict[str, Any] | None:
    """A region edit's plan for its journal row, its original kept first (`_composites`)."""
    send = request.region_send(conn.profile) if request is not None else None
    if send is None:
        return None
    from ._composites import region_record

    return region_record(conn.home, send)


# --- replays ---------------------------------------------------------------------------------


def record_replay(replay: Replay, *, home: str | Path | None = None) -> int:
    """Journal a replay (cost 0, `replay_of` the original request id); the new row's id."""
    assert replay.entry is not None
    return journal_for(home if home is not None else default_home()).add_replay(replay.entry)


def replayed(
    conn: Connection,
    endpoint: str,
    replay: Replay,
    request: KlingO1Request | None,
    inputs: Sequence[PreparedImage],
    progress: ProgressArg,
) -> Replayed:
    """The pictures of an identical completed request, journaled as a replay (not billed)."""
    entry = replay.entry
    assert entry is not None and entry.request_id is not None  # completed rows have one
    if endpoint == ENDPOINT and request is not None:
        value: Any = replay_edit(conn, request, inputs, replay)
    else:
        value = replay_output(conn, replay)
    key = "money.replay_cache" if replay.source == "cache" else "money.replayed_url"
    announce(progress, message(key, request_id=entry.request_id))
    return Replayed(value, entry.request_id)


def replay_edit(
    conn: Connection,
    request: KlingO1Request,
    inputs: Sequence[PreparedImage],
    replay: Replay,
) -> EditResult:
    """The cached pictures of an identical completed edit (fetched again from its stored
    result URL when the cache is gone or damaged), journaled as a replay, not billed."""
    entry = replay.entry
    assert entry is not None and entry.request_id is not None
    journal = journal_for(conn.home)
    try:
        output = Output.parse(dict(entry.result or {}))
        raw = cache_for(conn, entry.request_id, output, client_for(conn).download)
        pictures = Pictures(raw, raw)
        if entry.region is not None:
            _region_record(conn, request)  # its original, kept again if it went missing
            pictures = region_pictures(conn, entry.request_id, raw, entry.region)
    except (OSError, ValueError, KlingError) as exc:
        text = message("money.replay_gone", request_id=entry.request_id, detail=clip(str(exc)))
        raise KlingReplayError(text) from None
    row = journal.add_replay(entry)
    journal.note(row, cached=[str(im.path) for im in pictures.images])
    return make_result(
        output.raw,
        pictures.images,
        request_id=entry.request_id,
        endpoint=entry.endpoint,
        connection=conn,
        request=request,
        inputs=list(inputs),
        on_saved=journal.add_saved,
        raw_images=pictures.raw,
        region=pictures.region,
        covers=pictures.covers,
        drifts=pictures.drifts,
    )


def replay_output(conn: Connection, replay: Replay) -> dict[str, Any]:
    """`run_fal_task`'s replay: the stored output as it was while its URLs still work, else
    its cached images as `data:` URIs."""
    entry = replay.entry
    assert entry is not None
    output = dict(entry.result or {})
    if replay.source == "cache" and replay.until is None:
        images = [dict(im) for im in output.get("images") or [] if isinstance(im, dict)]
        for image, path in zip(images, replay.files, strict=False):
            kind = str(image.get("content_type") or "image/png")
            image["url"] = f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()
        output["images"] = images
    journal_for(conn.home).add_replay(entry)
    return output


def _urls_until(entry: JournalEntry, now: float, host: str | None) -> float | None:
    """Until when this entry's result URLs can still be fetched (None: they cannot)."""
    until = (entry.finished_at or entry.created_at) + RESULT_LIFETIME.get(
        entry.host, DEFAULT_LIFETIME
    )
    gone = on_loopback(entry.host) and host is not None and entry.host != host
    return until if until > now and not gone and _result_urls(entry) else None


def _cached_files(entry: JournalEntry) -> list[Path]:
    """The row's cached pictures, if every one is there and decodes whole."""
    from ._files import EXTENSIONS, cached_image_ok

    types = {ext: kind for kind, ext in EXTENSIONS.items()} | {".jpeg": "image/jpeg"}
    paths = [Path(p) for p in entry.cached]
    if not paths or len(paths) < _result_count(entry):
        return []
    for path in paths:
        if not cached_image_ok(path, types.get(path.suffix.lower(), "")):
            return []
    return paths


def _result_count(entry: JournalEntry) -> int:
    output = entry.output
    return len(output.images) if output is not None else 0


def _result_urls(entry: JournalEntry) -> list[str]:
    """The stored result's image URLs, if every one is a web address (still fetchable)."""
    output = entry.output
    urls = [im.url for im in output.images] if output is not None else []
    good = [u for u in urls if u.lower().startswith(("https://", "http://"))]
    return good if good and len(good) == len(urls) else []
