"""The doctor's probes: a few free questions to a queue host, each under a total deadline."""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from .._i18n import message
from .._secrets import remember_secret, scrub
from ._queue import transport_words

if TYPE_CHECKING:
    pass

# What a cancel request was answered; what it did is learnt from the status after it.
CancelAnswer = Literal["accepted", "already_completed", "unsupported"]
CANCEL_UNSUPPORTED = frozenset({404, 405, 501})


# --- doctor's probes ------------------------------------------------------------------------------
# `doctor()` asks a queue host a few free questions. httpx's timeouts bound each read, not a
# whole request: a server trickling a byte a second never trips them. So each probe runs under
# its own total deadline, on a private event loop in a worker thread: cancelling an asyncio
# read is clean, and any caller (a notebook's running loop or none) can wait for the thread.

PROBE_BODY_MAX = 64 * 1024  # an error body is short; more is not read
PROBE_GRACE = 2.0  # beyond the deadlines: closing the client and the thread


@dataclass(frozen=True)
class Probe:
    """One free question to a host; with `stream`, an event-stream answer's body is not read."""

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    stream: bool = False


@dataclass(frozen=True)
class ProbeAnswer:
    """What the host answered: status, headers (lower-case names), the start of the body."""

    status_code: int
    headers: dict[str, str]
    text: str
    netloc: str
    seconds: float


@dataclass(frozen=True)
class ProbeFailure:
    """No answer: how far the exchange got (connect, tls, answer) and why, in one line."""

    stage: Literal["connect", "tls", "answer"]
    reason: str
    timed_out: bool


def probe_all(
    probes: list[Probe], *, key: str, ca_bundle: str | None, timeout: float
) -> list[ProbeAnswer | ProbeFailure]:
    """Ask every probe at once, each within `timeout` seconds in all, with fal-client's user
    agent and the CAs its httpx would trust; network failures are answers, never raised."""

    outcome: list[list[ProbeAnswer | ProbeFailure] | BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(_probe_all(probes, key, ca_bundle, timeout)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            outcome.append(exc)

    worker = threading.Thread(target=run, name="kling_nb-doctor", daemon=True)
    worker.start()
    worker.join(timeout + PROBE_GRACE)  # the deadlines inside end it well before
    if not outcome:
        late = message("doctor.probe_late", seconds=timeout)
        return [ProbeFailure("answer", late, True) for _ in probes]
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


async def _probe_all(
    probes: list[Probe], key: str, ca_bundle: str | None, timeout: float
) -> list[ProbeAnswer | ProbeFailure]:

    import certifi
    from fal_client.client import USER_AGENT

    remember_secret(key)
    verify = ssl.create_default_context(cafile=ca_bundle or certifi.where())
    headers = {"Authorization": f"Key {key}", "User-Agent": USER_AGENT}
    async with httpx.AsyncClient(verify=verify, headers=headers, timeout=timeout) as client:
        return list(await asyncio.gather(*(_probe(client, p, timeout) for p in probes)))


async def _probe(
    client: httpx.AsyncClient, probe: Probe, timeout: float
) -> ProbeAnswer | ProbeFailure:
    import time

    reached: set[str] = set()

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(".complete"):
            reached.add(event.rsplit(".", 1)[0])

    started = time.monotonic()
    try:
        return await asyncio.wait_for(_ask(client, probe, trace, started), timeout)
    except asyncio.TimeoutError:
        return ProbeFailure(_stage(reached), "", True)
    except httpx.HTTPError as exc:
        stage = "tls" if _is_tls(exc) else _stage(reached)
        timed_out = isinstance(exc, httpx.TimeoutException)
        return ProbeFailure(stage, scrub(transport_words(exc)).splitlines()[0][:200], timed_out)


async def _ask(client: httpx.AsyncClient, probe: Probe, trace: Any, started: float) -> ProbeAnswer:
    import time

    request = client.build_request(
        probe.method, probe.url, params=probe.params, extensions={"trace": trace}
    )
    response = await client.send(request, stream=True)
    try:
        body = b""
        kind = response.headers.get("content-type", "")
        if not (probe.stream and "event-stream" in kind):
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= PROBE_BODY_MAX:
                    break
    finally:
        await response.aclose()
    return ProbeAnswer(
        response.status_code,
        {name.lower(): value for name, value in response.headers.items()},
        body[:PROBE_BODY_MAX].decode("utf-8", "replace"),
        response.url.netloc.decode(),
        time.monotonic() - started,
    )


def _stage(reached: set[str]) -> Literal["connect", "tls", "answer"]:
    """How far a request got, from httpcore's trace events."""
    if "connection.connect_tcp" not in reached:
        return "connect"
    if "connection.start_tls" not in reached:
        return "tls"
    return "answer"


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
