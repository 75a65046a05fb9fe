"""The one seam to the upstream queue (Qiniu, fal or an emulator): the only httpx here.

It holds the teacher's key, sends it only to the upstream's own origin, and lets nothing
the upstream says out unscrubbed: every text it returns has the key masked, and only a
few harmless headers are relayed. A submit is sent once: if its answer is lost the
outcome is `unknown`, never a resend (PROTOCOL.md: a resent submit can bill twice).
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .._config import EMULATOR_KEY
from .._secrets import remember_secret, scrub
from .._wire import ENDPOINT, Profile

Kind = Literal["qiniu", "fal", "emulator"]
# Relayed to students as they are (values scrubbed); every other upstream header is dropped.
RELAYED_HEADERS = (
    "content-type",
    "retry-after",
    "x-fal-retryable",
    "x-fal-error-type",
    "x-fal-request-timeout-type",
)
ANSWER_MAX_BYTES = 8 * 1024 * 1024  # a status or result JSON; images come by download
DOWNLOAD_MAX_BYTES = 64 * 1024 * 1024
OWNER_APP = "/".join(ENDPOINT.split("/")[:2])


class UpstreamDown(Exception):
    """The upstream could not be reached or broke off; its text is scrubbed."""


@dataclass(frozen=True)
class UpstreamSpec:
    """Which queue the class uses: its kind, host (as FAL_QUEUE_RUN_HOST spells it), key."""

    kind: Kind
    host: str
    key: str = field(repr=False)
    profile: Profile
    ca_bundle: str | None = None

    @property
    def base(self) -> str:
        return f"https://{self.host}/"

    @property
    def emulated(self) -> bool:
        """True when the pictures come from a kling_nb emulator."""
        return self.kind == "emulator"


@dataclass(frozen=True)
class Answer:
    """One upstream answer: status code, parsed JSON (or None), scrubbed text and headers."""

    code: int
    body: Any
    text: str
    headers: dict[str, str]
    request_id: bool = False  # the upstream app (not an ingress) answered: x-fal-request-id

    def words(self) -> str:
        """The answer's `detail` (or text) as one scrubbed sentence."""
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        if isinstance(detail, list):
            parts = [str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail[:5]]
            return scrub("; ".join(parts))[:500]
        if detail:
            return scrub(str(detail))[:500]
        return scrub(self.text.strip() or f"HTTP {self.code}")[:500]


@dataclass(frozen=True)
class Submitted:
    """What became of a submit: `accepted` (answer holds the job), `refused` (no job was
    made: nothing to pay), `unknown` (sent, answer lost) or `unreachable` (never sent)."""

    outcome: Literal["accepted", "refused", "unknown", "unreachable"]
    answer: Answer | None = None
    words: str = ""


@dataclass(frozen=True)
class Place:
    """Where an accepted job lives upstream, on the upstream's own origin only."""

    request_id: str
    status_url: str
    response_url: str
    cancel_url: str
    cancel_empty: bool


class Upstream:
    """An httpx.AsyncClient that carries the key, and one without it for result files."""

    def __init__(self, spec: UpstreamSpec, *, connections: int = 1000):
        self.spec = spec
        if spec.key != EMULATOR_KEY:  # the emulator's stand-in is no secret (and a common word)
            remember_secret(spec.key)  # whatever the upstream echoes, the key never shows
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=spec.ca_bundle) if spec.ca_bundle else True
        )
        from fal_client.client import USER_AGENT  # Qiniu's firewall refuses some agents

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(
            verify=verify,
            headers={"Authorization": f"Key {spec.key}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=limits,
            trust_env=False,
        )
        # Result files live on CDNs: never send them the key.
        self.files = httpx.AsyncClient(
            verify=verify,
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(120.0, connect=10.0),
            follow_redirects=True,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.files.aclose()

    async def submit(self, raw: bytes, headers: dict[str, str]) -> Submitted:
        """POST the body once; a lost answer is `unknown` (the job may exist), never resent."""
        url = self.spec.base + ENDPOINT
        sent = {"Content-Type": "application/json", **headers}
        try:
            response = await self.client.post(url, content=raw, headers=sent)
            answer = await _answer(response)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Submitted("unreachable", words=_transport_words(exc))
        except (httpx.HTTPError, UpstreamDown) as exc:
            return Submitted("unknown", words=_transport_words(exc))
        if answer.code in (502, 504) and not answer.request_id:
            # A gateway's 502/504: the app behind it may have taken the job.
            return Submitted("unknown", answer, f"HTTP {answer.code} from a gateway")
        if not 200 <= answer.code < 300:
            return Submitted("refused", answer, answer.words())
        rid = answer.body.get("request_id") if isinstance(answer.body, dict) else None
        if not isinstance(rid, str) or not rid.strip() or len(rid) > 200:
            return Submitted("unknown", answer, f"no request_id in {answer.text[:200]!r}")
        return Submitted("accepted", answer)

    def place(self, body: dict[str, Any]) -> Place:
        """The job's URLs from a submit answer, pinned to the upstream's origin (else the
        short form `…/requests/{id}/…`), so the key goes nowhere else."""
        rid = str(body["request_id"])
        base = f"{self.spec.base}{OWNER_APP}/requests/{quote(rid, safe='')}"

        def ours(value: Any, fallback: str) -> str:
            return value if _same_origin(value, self.spec.base) else fallback

        cancel = body.get("cancel_url")
        return Place(
            rid,
            ours(body.get("status_url"), base + "/status"),
            ours(body.get("response_url"), base),
            ours(cancel, base + "/cancel"),
            cancel_empty=cancel == "",
        )

    async def get(self, url: str, params: dict[str, str] | None = None) -> Answer:
        """A status or result call; UpstreamDown if the upstream cannot be reached."""
        return await self._call("GET", url, params)

    async def put(self, url: str) -> Answer:
        """A cancel call; UpstreamDown if the upstream cannot be reached."""
        return await self._call("PUT", url, None)

    async def _call(self, method: str, url: str, params: dict[str, str] | None) -> Answer:
        try:
            response = await self.client.request(method, url, params=params)
            return await _answer(response)
        except httpx.HTTPError as exc:
            raise UpstreamDown(_transport_words(exc)) from None

    async def open_stream(self, url: str, params: dict[str, str]) -> httpx.Response:
        """The status stream, opened (the caller closes it); UpstreamDown if unreachable."""
        request = self.client.build_request(
            "GET", url, params=params, timeout=httpx.Timeout(60.0, connect=10.0)
        )
        try:
            return await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise UpstreamDown(_transport_words(exc)) from None

    async def read_error(self, response: httpx.Response) -> Answer:
        """A stream that did not open: its answer, read (bounded) and scrubbed."""
        try:
            return await _answer(response)
        except httpx.HTTPError as exc:
            raise UpstreamDown(_transport_words(exc)) from None
        finally:
            await response.aclose()

    async def download_to(self, url: str, path: Path) -> None:
        """A result file written to `path` as it arrives (data: URIs decoded), at most
        DOWNLOAD_MAX_BYTES; UpstreamDown if it cannot be fetched."""
        if url[:5].lower() == "data:":
            from .._wire import decode_data_uri

            path.write_bytes(decode_data_uri(url)[1])
            return
        if not url[:8].lower().startswith(("http://", "https://")):
            raise UpstreamDown(f"not a downloadable URL: {url[:80]!r}")
        try:
            async with self.files.stream("GET", url) as response:
                response.raise_for_status()
                size = 0
                with open(path, "wb") as sink:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > DOWNLOAD_MAX_BYTES:
                            raise UpstreamDown(f"a result file is over {DOWNLOAD_MAX_BYTES} bytes")
                        sink.write(chunk)
        except httpx.HTTPError as exc:
            raise UpstreamDown(_transport_words(exc)) from None


async def _answer(response: httpx.Response) -> Answer:
    """The response read (bounded), parsed if JSON, with text and headers scrubbed."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > ANSWER_MAX_BYTES:
            await response.aclose()
            raise UpstreamDown(f"an answer over {ANSWER_MAX_BYTES} bytes")
    text = scrub(data.decode("utf-8", "replace"))
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    headers = {
        name: scrub(response.headers[name]) for name in RELAYED_HEADERS if name in response.headers
    }
    return Answer(response.status_code, body, text, headers, "x-fal-request-id" in response.headers)


def _same_origin(url: Any, base: str) -> bool:
    """True for a string URL on `base`'s scheme, host and port."""
    if not isinstance(url, str) or not url:
        return False
    try:
        theirs, mine = httpx.URL(url), httpx.URL(base)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return (theirs.scheme, theirs.host, theirs.port) == (mine.scheme, mine.host, mine.port)


def _transport_words(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return scrub(text)[:300]
