"""`kling_nb.doctor()` / `kling-nb doctor`: check a key and a host without paying for a job.

Every check is a free call about a made-up request id: the status call says whether the
host is reachable, TLS holds and the key is accepted (401/403 refused; 404/400 accepted);
the stream and cancel paths say how kling_nb will wait and cancel; the `Date` header says
how far the local clock is off. Each finding says what kling_nb will do about it.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import certifi
import httpx

from ._config import FAL_HOST, QINIU_HOST, Settings
from ._errors import KlingConfigError
from ._i18n import message
from ._secrets import remember_secret, scrub
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
    """What `doctor()` found; `ok` is True when kling_nb can use this key and host."""

    backend: str
    host: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return any(f.check == "key" and f.status == "ok" for f in self.findings) and not any(
            f.status == "fail" for f in self.findings
        )

    def finding(self, check: str) -> Finding | None:
        """The finding of `check` ('reachable', 'tls', 'key', 'stream', 'cancel', 'clock')."""
        return next((f for f in self.findings if f.check == check), None)

    def __str__(self) -> str:
        lines = [message("doctor.title", backend=self.backend, host=self.host)]
        lines += [f"  {MARKS[f.status]} {f.text}" for f in self.findings]
        lines.append(message("doctor.usable" if self.ok else "doctor.unusable"))
        return scrub("\n".join(lines))

    def __repr__(self) -> str:
        return str(self)


def doctor(
    backend: str = "auto",
    key: str | None = None,
    *,
    host: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> DoctorReport:
    """Check a key and host without paying; print nothing, return a `DoctorReport`."""
    settings = Settings.from_env(env)
    kind, target, chosen, variable = _target(backend, key, host, settings)
    if not chosen:
        return DoctorReport(kind, target, (Finding("key", "fail", message("doctor.no_key")),))
    remember_secret(chosen)
    # The CAs fal-client's httpx would trust: SSL_CERT_FILE from `env`, else certifi's.
    verify = ssl.create_default_context(cafile=settings.ca_bundle or certifi.where())
    from fal_client.client import USER_AGENT

    headers = {"Authorization": f"Key {chosen}", "User-Agent": USER_AGENT}
    with httpx.Client(verify=verify, headers=headers, timeout=timeout) as client:
        url = f"https://{target}/{APP}/requests/{uuid.uuid4()}"
        findings = _checks(client, url, variable, clock)
    return DoctorReport(kind, target, tuple(findings))


def _target(
    backend: str, key: str | None, host: str | None, settings: Settings
) -> tuple[str, str, str | None, str]:
    """(backend, host, key, variable naming the key) as `connect()` would choose them."""
    choice = backend.strip().lower()
    if choice not in ("auto", "qiniu", "fal"):  # the emulator needs no checking
        raise KlingConfigError(message("doctor.backend", value=backend))
    if choice == "auto":
        choice = settings.backend if settings.backend in ("qiniu", "fal") else "auto"
    if choice == "auto" and settings.queue_host and not host:
        host = settings.queue_host
        choice = "qiniu" if host == QINIU_HOST else "custom"
        return choice, host, key or settings.fal_key or settings.qiniu_key, "FAL_KEY"
    if choice == "auto":
        choice = "qiniu" if settings.qiniu_key else "fal" if settings.fal_key else "qiniu"
    if choice == "qiniu":
        return choice, host or QINIU_HOST, key or settings.qiniu_key, "QINIU_API_KEY"
    return choice, host or FAL_HOST, key or settings.fal_key, "FAL_KEY"


def _checks(
    client: httpx.Client, base: str, variable: str, clock: Callable[[], float]
) -> list[Finding]:
    """reachable → tls → key → stream → cancel → clock; after a failure the rest are skipped."""
    started = time.monotonic()
    try:
        status = client.get(f"{base}/status", params={"logs": "false"})
    except httpx.HTTPError as exc:
        return _unreachable(exc, base)
    clock_finding = _clock(status, clock())  # now, while its Date header is fresh
    netloc = status.url.netloc.decode()
    ms = (time.monotonic() - started) * 1000
    found = [Finding("reachable", "ok", message("doctor.reachable", netloc=netloc, ms=round(ms)))]
    found.append(Finding("tls", "ok", message("doctor.tls_ok")))
    key = _key(status, variable)
    found.append(key)
    if key.status == "fail":
        return found + [_skipped("stream"), _skipped("cancel")]
    return found + [_stream(client, base, status), _cancel(client, base), clock_finding]


def _unreachable(exc: httpx.HTTPError, base: str) -> list[Finding]:
    reason = scrub(_reason(exc))
    netloc = httpx.URL(base).netloc.decode()
    if _is_tls(exc):
        return [
            Finding("reachable", "ok", message("doctor.reachable_no_tls", netloc=netloc)),
            Finding("tls", "fail", message("doctor.tls_failed", reason=reason)),
        ] + [_skipped(c) for c in ("key", "stream", "cancel")]
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        text = message("doctor.no_answer", netloc=netloc)  # connected, then silence
    else:
        text = message("doctor.unreachable", netloc=netloc, reason=reason)
    return [Finding("reachable", "fail", text)]


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _skipped(check: str) -> Finding:
    return Finding(check, "skip", message("doctor.skipped", check=check))


def _detail(response: httpx.Response) -> str:
    """The server's words, short and printable: a body may hold anything, escapes included."""
    text = "".join(c if c.isprintable() else " " for c in response.text[:2000]).strip()
    return scrub(text)[:160] or response.reason_phrase


def _key(status: httpx.Response, variable: str) -> Finding:
    code = status.status_code
    if code == 403 and "1010" in status.text:
        return Finding("key", "fail", message("doctor.ua_refused"))
    if code in (401, 403):
        detail = _detail(status)
        return Finding(
            "key",
            "fail",
            message("doctor.key_refused", status=code, detail=detail, variable=variable),
        )
    if code in (400, 404, 422) or status.is_success:
        return Finding("key", "ok", message("doctor.key_ok", status=code))
    return Finding(
        "key", "warn", message("doctor.key_unclear", status=code, detail=_detail(status))
    )


def _stream(client: httpx.Client, base: str, status: httpx.Response) -> Finding:
    try:
        with client.stream("GET", f"{base}/status/stream", params={"logs": "false"}) as answer:
            code = answer.status_code
            kind = answer.headers.get("content-type", "")
            body = "" if "event-stream" in kind else answer.read().decode(errors="replace")
    except httpx.HTTPError as exc:
        return Finding("stream", "ok", message("doctor.stream_none", status=scrub(_reason(exc))))
    if code == 200 and "event-stream" in kind:
        return Finding("stream", "ok", message("doctor.stream_yes"))
    if code == status.status_code and body.strip() == status.text.strip():
        return Finding("stream", "ok", message("doctor.stream_maybe", status=code))
    if code in (401, 403, 429) or code >= 500:
        return Finding("stream", "warn", message("doctor.stream_unclear", status=code))
    return Finding("stream", "ok", message("doctor.stream_none", status=code))


def _cancel(client: httpx.Client, base: str) -> Finding:
    try:
        answer = client.put(f"{base}/cancel")
    except httpx.HTTPError as exc:
        return Finding(
            "cancel", "warn", message("doctor.cancel_missing", status=scrub(_reason(exc)))
        )
    code = answer.status_code
    if code in (400, 404) or answer.is_success:
        return Finding("cancel", "ok", message("doctor.cancel_ok", status=code))
    return Finding("cancel", "warn", message("doctor.cancel_missing", status=code))


def _clock(status: httpx.Response, local: float) -> Finding:
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
