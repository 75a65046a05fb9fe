"""The paid probe (`doctor(probe=True)`, `kling-nb doctor --probe`): learn what a service
really answers, once, with the user's consent and the cost shown first.

The facts kling_nb relies on are read from documentation, and some are unverified
(docs/services.md): whether data: URIs are accepted, whether the status stream is offered,
what a cancel does, how a refusal is worded. The probe asks the service itself: one real 1K
job with a small local picture sent as the image transport sends it (its stream read, its
result fetched), a second job cancelled at once, and one malformed submit (refused before
any work). What it saw is written to `KLING_NB_HOME/probes/` as JSON and shown on screen, so
the unverified rows become verified the first time anyone runs it with a key.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._config import Connection
from ._errors import KlingConfigError, KlingError
from ._files import atomic_write_bytes, safe_name
from ._i18n import message
from ._samples import GUIDE_URL
from ._secrets import scrub
from ._version import __version__
from ._wire import ENDPOINT, JobStatus

# Output images the probe may be billed for: the job, the cancelled one (if the service cannot
# cancel), and the malformed one (fal: "validation errors may be billed").
PROBE_IMAGES = 3
PROBE_SIDE = 512  # px of the probe's input picture (small, as a phone thumbnail)
PROMPT = "turn <<<image_1>>> into a watercolor painting"


@dataclass
class ProbeFindings:
    """What the service answered, as written to the probe's JSON file."""

    host: str
    backend: str
    emulated: bool
    started_at: str
    kling_nb: str = __version__
    transport: str = ""
    data_uris_accepted: bool | None = None
    submit_error: str | None = None
    request_id: str | None = None
    statuses_seen: list[str] = field(default_factory=list)
    stream_offered: bool | None = None
    result_inline: bool | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    seconds: float | None = None
    cancel_outcome: str | None = None
    cancel_said: str | None = None
    refusal: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def __str__(self) -> str:
        yes_no = {True: message("probe.yes"), False: message("probe.no"), None: "?"}
        lines = [
            message("probe.title", host=self.host),
            message("probe.transport", transport=self.transport),
            message("probe.data_uris", value=yes_no[self.data_uris_accepted]),
            message("probe.stream", value=yes_no[self.stream_offered]),
            message("probe.statuses", value=" → ".join(self.statuses_seen) or "?"),
            message("probe.images", value=len(self.images), seconds=self.seconds or 0),
            message("probe.cancel", value=self.cancel_outcome or "?"),
            message(
                "probe.refusal",
                at=self.refusal.get("at", "?"),
                value=self.refusal.get("status", "?"),
            ),
            message("probe.saved", path=self.path),
        ]
        if self.submit_error:
            lines.insert(3, message("probe.submit_error", detail=self.submit_error))
        return scrub("\n".join(lines))


def run_probe(
    conn: Connection,
    *,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    timeout: float = 600.0,
) -> ProbeFindings:
    """Show the cost, ask (unless `yes`), then probe the service behind `conn`."""
    from ._money import price_for

    price = price_for(conn)
    cost = repr(price.cost(PROBE_IMAGES)) if price is not None else message("money.price_unknown")
    say(message("probe.consent", host=conn.host, images=PROBE_IMAGES, cost=cost))
    if not yes and ask(message("probe.ask")).strip().lower() not in ("y", "yes", "是", "好"):
        raise KlingConfigError(message("probe.declined"))
    found = ProbeFindings(
        conn.host, conn.backend, conn.emulated, time.strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    _paid_job(conn, found, timeout)
    _cancelled_job(conn, found)
    _refusal(conn, found)
    found.path = str(_write(conn, found))
    return found


def _picture() -> bytes:
    """A small local picture, as a user's photo would be sent (PNG bytes)."""
    from PIL import Image

    from ._samples import sample_path

    with Image.open(sample_path("cat.jpg")) as image:
        image.thumbnail((PROBE_SIDE, PROBE_SIDE))
        out = io.BytesIO()
        image.convert("RGB").save(out, "PNG")
    return out.getvalue()


def _paid_job(conn: Connection, found: ProbeFindings, timeout: float) -> None:
    """One real 1K job: does the transport's image get in, which statuses come, by which path."""
    from ._job import Job
    from ._uploads import mode_for

    body = {"prompt": PROMPT, "image_urls": [_picture()]}
    mode = mode_for(conn, {"image_urls": ["data:"]})
    found.transport = mode if isinstance(mode, str) else "callable"
    started = time.monotonic()
    try:
        job = Job.submit(ENDPOINT, body, connection=conn)
    except KlingError as exc:
        found.data_uris_accepted = False if found.transport == "data" else None
        found.submit_error = scrub(str(exc))[:400]
        return
    found.data_uris_accepted = True if found.transport == "data" else None
    found.request_id = job.request_id

    def seen(status: JobStatus, elapsed: float) -> None:
        if not found.statuses_seen or found.statuses_seen[-1] != status.state:
            found.statuses_seen.append(status.state)
        if status.result is not None:
            found.result_inline = True

    try:
        output = job.wait_output(timeout, None, seen)
    except KlingError as exc:
        found.submit_error = scrub(str(exc))[:400]
        return
    finally:
        found.stream_offered = job.client.stream_ok
    found.seconds = round(time.monotonic() - started, 1)
    found.result_inline = bool(found.result_inline)
    found.images = [
        {"content_type": im.content_type, "width": im.width, "height": im.height}
        for im in output.images
    ]


def _cancelled_job(conn: Connection, found: ProbeFindings) -> None:
    """A second job, cancelled at once: what the service answers and does."""
    from ._job import Job

    try:
        job = Job.submit(ENDPOINT, {"prompt": PROMPT, "image_urls": [_picture()]}, connection=conn)
        cancel = job.cancel()
    except KlingError as exc:
        found.cancel_said = scrub(str(exc))[:400]
        return
    found.cancel_outcome, found.cancel_said = cancel.outcome, scrub(str(cancel))[:400]


def _refusal(conn: Connection, found: ProbeFindings) -> None:
    """A malformed request (an unknown resolution): how the service words a refusal — at the
    submit, or (as fal's queue does) as the job's failure; no picture comes of it."""
    from ._job import send
    from ._money import reservation

    body = {"prompt": PROMPT, "image_urls": [GUIDE_URL], "resolution": "9K"}
    try:  # journaled like any submit: were it taken, resume() would still find it
        job = send(conn, ENDPOINT, body, reservation(conn, ENDPOINT, body))
    except KlingError as exc:
        status = getattr(exc, "status_code", None)
        found.refusal = {"at": "submit", "status": status, "said": scrub(str(exc))[:400]}
        return
    try:
        job.wait_output(120.0, None, False)
    except KlingError as exc:
        found.refusal = {
            "at": "result",
            "request_id": job.request_id,
            "status": getattr(exc, "status_code", None),
            "error_type": getattr(exc, "error_type", None),
            "said": scrub(str(exc))[:400],
        }
        return
    found.refusal = {"at": "nowhere: the service made pictures", "request_id": job.request_id}


def _write(conn: Connection, found: ProbeFindings) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = safe_name(f"probe-{conn.host.split('/')[0]}-{stamp}", "probe") + ".json"
    text = json.dumps(asdict(found), ensure_ascii=False, indent=2)
    return atomic_write_bytes(conn.home / "probes" / name, scrub(text).encode("utf-8"))
