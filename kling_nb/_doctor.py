"""`kling_nb.doctor()` / `kling-nb doctor`: check a backend without paying for a job.

Every check is a free call about a made-up request id: the status call says whether the
host is reachable, TLS holds and the key is accepted (401/403 refused; 404/400 accepted);
the stream and cancel paths say how kling_nb will wait and cancel; the `Date` header says
how far the local clock is off. Each finding says what kling_nb will do about it.

With no key (or `backend="emulator"`) the offline emulator is started and checked: it is
what `edit` would use. Every check has a total deadline (`timeout`), however slowly a
server trickles its answer: the stream and cancel checks run side by side, so a report takes
at most about 2 × `timeout` after the emulator (if any) is up.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Literal

from ._config import (
    BACKENDS,
    EMULATOR_KEY,
    FAL_HOST,
    QINIU_HOST,
    Settings,
    backend_named,
    check_key,
    on_loopback,
)
from ._errors import KlingConfigError
from ._i18n import message
from ._secrets import remember_secret, scrub
from ._transport import Probe, ProbeAnswer, ProbeFailure, probe_all
from ._wire import ENDPOINT

Status = Literal["ok", "warn", "fail", "skip"]
MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "·"}
APP = "/".join(ENDPOINT.split("/")[:2])  # status and cancel paths drop the sub-path
SKEW_LIMIT = 60.0  # seconds; beyond it, timestamps in the journal would mislead


@dataclass(frozen=True)
class Finding:
    """One check: its name, how it went, and the sentence to show (with what kling_nb does)."""

    check: str
    status: Status
    text: str


@dataclass(frozen=True)
class DoctorReport:
    """What `doctor()` found; `ok` is True when kling_nb can use this backend."""

    backend: str
    host: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return any(f.check == "key" and f.status == "ok" for f in self.findings) and not any(
            f.status == "fail" for f in self.findings
        )

    def finding(self, check: str) -> Finding | None:
        """The finding of `check` ('host', 'reachable', 'tls', 'key', 'stream', 'cancel',
        'clock')."""
        return next((f for f in self.findings if f.check == check), None)

    def __str__(self) -> str:
        label = message(f"doctor.kind_{self.backend}")
        lines = [message("doctor.title", backend=label, host=self.host)]
        lines += [f"  {MARKS[f.status]} {f.text}" for f in self.findings]
        verdict = "doctor.usable_emulator" if self.backend == "emulator" else "doctor.usable"
        lines.append(message(verdict if self.ok else "doctor.unusable"))
        return scrub("\n".join(lines))

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Target:
    """What is checked: backend kind, host, key (None: none set), where the host came from."""

    kind: Literal["emulator", "qiniu", "fal", "custom"]
    host: str
    key: str | None
    variable: str  # the variable naming the key
    origin: str  # the message key saying where the host came from
    ca_bundle: str | None = None
    ignored_host: str | None = None  # a FAL_QUEUE_RUN_HOST this backend does not use


def doctor(
    backend: str = "auto",
    key: str | None = None,
    *,
    host: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> DoctorReport:
    """Check a backend without paying; print nothing, return a `DoctorReport`."""
    settings = Settings.from_env(env)
    target = _target(backend, key, host, settings)
    if target.kind == "emulator" and target.key is None:
        with _started_emulator(settings) as (host, bundle):
            started = replace(target, host=host, key=EMULATOR_KEY, ca_bundle=bundle)
            return _examine(started, timeout, clock, emulator=True)
    if not target.key:
        return DoctorReport(
            target.kind, target.host, (Finding("key", "fail", message("doctor.no_key")),)
        )
    check_key(target.key, "key" if key is not None else target.variable)  # as connect() does
    remember_secret(target.key)
    return _examine(target, timeout, clock, emulator=False)


def _target(backend: str, key: str | None, host: str | None, settings: Settings) -> Target:
    """The backend, host and key `connect()` would choose (the emulator: not started yet)."""
    choice = backend_named(backend)
    if choice not in BACKENDS:
        raise KlingConfigError(message("config.backend_unknown", variable="backend", value=backend))
    choice = settings.backend if choice == "auto" else choice
    given = "doctor.origin_given"
    if choice == "auto" and (host or settings.queue_host):
        where = host or settings.queue_host or ""
        kind: Literal["qiniu", "custom"] = "qiniu" if where == QINIU_HOST else "custom"
        origin = given if host else "doctor.origin_variable"
        chosen = key or settings.fal_key or settings.qiniu_key
        return Target(kind, where, chosen, "FAL_KEY", origin, settings.ca_bundle)
    if choice == "auto":
        choice = "qiniu" if settings.qiniu_key else "fal" if settings.fal_key else "emulator"
    ignored = settings.queue_host if not host else None
    ca = settings.ca_bundle
    if choice == "emulator":
        return Target("emulator", "", None, "FAL_KEY", "doctor.origin_emulator")
    if choice == "qiniu":
        chosen = key or settings.qiniu_key
        origin = given if host else "doctor.origin_qiniu"
        return Target("qiniu", host or QINIU_HOST, chosen, "QINIU_API_KEY", origin, ca, ignored)
    origin = given if host else "doctor.origin_fal"
    chosen = key or settings.fal_key
    return Target("fal", host or FAL_HOST, chosen, "FAL_KEY", origin, ca, ignored)


@contextmanager
def _started_emulator(settings: Settings) -> Iterator[tuple[str, str]]:
    """The offline emulator `edit` would start, for the time of the checks: (host, CA)."""
    from . import emulator

    options = {"profile": settings.profile} if settings.profile else {}
    with emulator.start(**options) as emu:
        yield emu.host, str(emu.ca_bundle)


def _examine(
    target: Target, timeout: float, clock: Callable[[], float], *, emulator: bool
) -> DoctorReport:
    """reachable → tls → key, then stream, cancel (and "is it an emulator?") side by side,
    then the clock; after a failure the rest are skipped."""
    assert target.key is not None
    base = f"https://{target.host}/{APP}/requests/{uuid.uuid4()}"
    ask = _asker(target, timeout)
    found: list[Finding] = []
    if target.ignored_host:
        text = message("doctor.host_ignored", host=target.ignored_host, used=target.host)
        found.append(Finding("host", "skip", text))
    (status,) = ask([Probe("GET", f"{base}/status", {"logs": "false"})])
    local = clock()  # now, while the answer's Date header is fresh
    if isinstance(status, ProbeFailure):
        netloc = target.host.split("/")[0]
        return _report(target, emulator, found + _unreachable(status, netloc, target, timeout))
    found.append(
        Finding(
            "reachable",
            "ok",
            message("doctor.reachable", netloc=status.netloc, ms=round(status.seconds * 1000)),
        )
    )
    found.append(Finding("tls", "ok", message("doctor.tls_ok")))
    refused = _refusal(status, target.variable)
    if refused is not None:
        return _report(target, emulator, found + [refused, _skipped("stream"), _skipped("cancel")])
    probes = [
        Probe("GET", f"{base}/status/stream", {"logs": "false"}, stream=True),
        Probe("PUT", f"{base}/cancel"),
    ]
    if not emulator and on_loopback(target.host):
        probes.append(Probe("GET", f"https://{target.host.split('/')[0]}/_emulator/stats"))
    stream, cancel, *stats = ask(probes)
    emulator = emulator or bool(stats and _is_emulator_stats(stats[0]))
    found.append(_key(status, emulator))
    found += [_stream(stream, status, timeout), _cancel(cancel, timeout), _clock(status, local)]
    return _report(target, emulator, found)


def _asker(
    target: Target, timeout: float
) -> Callable[[list[Probe]], list[ProbeAnswer | ProbeFailure]]:
    key, bundle = target.key or "", target.ca_bundle

    def ask(probes: list[Probe]) -> list[ProbeAnswer | ProbeFailure]:
        return probe_all(probes, key=key, ca_bundle=bundle, timeout=timeout)

    return ask


def _report(target: Target, emulator: bool, findings: list[Finding]) -> DoctorReport:
    kind = "emulator" if emulator else target.kind
    return DoctorReport(kind, target.host, tuple(findings))


def _unreachable(
    failure: ProbeFailure, netloc: str, target: Target, timeout: float
) -> list[Finding]:
    origin = message(target.origin, host=target.host)
    rest = [_skipped(c) for c in ("key", "stream", "cancel")]
    if failure.stage == "tls":
        reason = failure.reason or message("doctor.tls_slow", seconds=timeout)
        return [
            Finding("reachable", "ok", message("doctor.reachable_no_tls", netloc=netloc)),
            Finding("tls", "fail", message("doctor.tls_failed", reason=reason)),
            *rest,
        ]
    if failure.stage == "answer":  # connected, then silence (or a trickle)
        text = message("doctor.no_answer", netloc=netloc, seconds=timeout)
        return [Finding("reachable", "fail", text)]
    reason = failure.reason or message("doctor.connect_slow", seconds=timeout)
    text = message("doctor.unreachable", netloc=netloc, reason=reason, origin=origin)
    return [Finding("reachable", "fail", text)]


def _skipped(check: str) -> Finding:
    return Finding(check, "skip", message("doctor.skipped", check=check))


def _detail(answer: ProbeAnswer) -> str:
    """The server's words, short and printable: a body may hold anything, escapes included."""
    text = "".join(c if c.isprintable() else " " for c in answer.text[:2000]).strip()
    return scrub(text)[:160] or str(answer.status_code)


def _refusal(status: ProbeAnswer, variable: str) -> Finding | None:
    """The key finding when the host refused the key (or this client), else None."""
    code = status.status_code
    if code == 403 and "1010" in status.text:
        return Finding("key", "fail", message("doctor.ua_refused"))
    if code in (401, 403):
        detail = _detail(status)
        text = message("doctor.key_refused", status=code, detail=detail, variable=variable)
        return Finding("key", "fail", text)
    return None


def _key(status: ProbeAnswer, emulator: bool) -> Finding:
    code = status.status_code
    if code in (400, 404, 422) or 200 <= code < 300:
        if emulator:
            return Finding("key", "ok", message("doctor.key_emulator", status=code))
        return Finding("key", "ok", message("doctor.key_ok", status=code))
    return Finding(
        "key", "warn", message("doctor.key_unclear", status=code, detail=_detail(status))
    )


def _is_emulator_stats(answer: ProbeAnswer | ProbeFailure) -> bool:
    """True when a host's root answers like a kling_nb emulator's statistics page."""
    import json

    if not isinstance(answer, ProbeAnswer) or answer.status_code != 200:
        return False
    try:
        body = json.loads(answer.text)
    except ValueError:
        return False
    totals = body.get("totals") if isinstance(body, dict) else None
    return isinstance(totals, dict) and "submits" in totals


def _stream(answer: ProbeAnswer | ProbeFailure, status: ProbeAnswer, timeout: float) -> Finding:
    if isinstance(answer, ProbeFailure):
        reason = answer.reason or message("doctor.stream_slow", seconds=timeout)
        return Finding("stream", "ok", message("doctor.stream_none", status=reason))
    code, kind = answer.status_code, answer.headers.get("content-type", "")
    if code == 200 and "event-stream" in kind:
        return Finding("stream", "ok", message("doctor.stream_yes"))
    if code == status.status_code and answer.text.strip() == status.text.strip():
        return Finding("stream", "ok", message("doctor.stream_maybe", status=code))
    if code in (401, 403, 429) or code >= 500:
        return Finding("stream", "warn", message("doctor.stream_unclear", status=code))
    return Finding("stream", "ok", message("doctor.stream_none", status=code))


def _cancel(answer: ProbeAnswer | ProbeFailure, timeout: float) -> Finding:
    if isinstance(answer, ProbeFailure):
        reason = answer.reason or message("doctor.cancel_slow", seconds=timeout)
        return Finding("cancel", "warn", message("doctor.cancel_missing", status=reason))
    code = answer.status_code
    if code in (400, 404) or 200 <= code < 300:
        return Finding("cancel", "ok", message("doctor.cancel_ok", status=code))
    return Finding("cancel", "warn", message("doctor.cancel_missing", status=code))


def _clock(status: ProbeAnswer, local: float) -> Finding:
    """Compare the server's `Date` header with this machine's clock when it arrived."""
    try:
        date = parsedate_to_datetime(status.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return Finding("clock", "skip", message("doctor.clock_unknown"))
    # Date has whole seconds: round so that an exact clock reads as 0, not -0.4.
    skew = round(local - date)
    if abs(skew) > SKEW_LIMIT:
        return Finding("clock", "warn", message("doctor.clock_skew", skew=skew))
    return Finding("clock", "ok", message("doctor.clock_ok", limit=SKEW_LIMIT))
