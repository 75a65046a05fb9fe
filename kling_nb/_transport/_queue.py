"""The queue client: fal_client's submit, plus what it lacks — the status stream, a submit
that is never blindly resent, result errors in words, downloads without the API key, async
clients closed with their event loop — every failure turned into a kling_nb error or one of
the signals the waiting engine handles (`Transient`, `StreamUnavailable`, in `_wire`)."""

from __future__ import annotations

import asyncio
import atexit
import json
import ssl
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager, suppress
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx

from .._errors import (
    KlingConfigError,
    KlingConnectionError,
    KlingJobError,
    KlingSubmitUnknownError,
)
from .._i18n import message
from .._rules import Violation
from .._secrets import remember_secret, scrub
from .._wire import (
    TRANSIENT_CODES,
    Handle,
    JobStatus,
    StreamUnavailable,
    Transient,
    UnreadableStatus,
    decode_data_uri,
)
from ._fal import check_fal_client_host

if TYPE_CHECKING:
    from .._config import Connection

# What a cancel request was answered; what it did is learnt from the status after it.
CancelAnswer = Literal["accepted", "already_completed", "unsupported"]
CANCEL_UNSUPPORTED = frozenset({404, 405, 501})


class _SubmitOutcomeUnknown(Exception):
    """Not an httpx error on purpose: fal_client's retry loop must not resend the POST."""


class QueueClient:
    """fal_client, plus what it lacks, for one connection."""

    def __init__(self, conn: Connection):
        self.conn = conn
        remember_secret(conn.key)  # whatever a server echoes back, the key never shows
        self.stream_ok = True  # until the server shows it has no status stream

    @cached_property
    def _ssl(self) -> ssl.SSLContext | bool:
        if self.conn.ca_bundle:
            return ssl.create_default_context(cafile=self.conn.ca_bundle)
        return True

    @cached_property
    def http(self) -> httpx.Client:
        """The client fal_client uses for this connection (it carries the key)."""
        from fal_client.client import USER_AGENT

        return httpx.Client(
            transport=_with_backup_domain(_GuardedTransport(verify=self._ssl)),
            headers={"Authorization": f"Key {self.conn.key}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(60.0, connect=15.0),
            follow_redirects=True,
        )

    @cached_property
    def _downloads(self) -> httpx.Client:
        # Result files live on CDNs: never send them the API key (but do send fal-client's
        # user agent: Qiniu's firewall refuses some default ones).
        from fal_client.client import USER_AGENT

        return httpx.Client(
            verify=self._ssl,
            timeout=httpx.Timeout(120.0, connect=15.0),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )

    @cached_property
    def _fal(self) -> Any:
        import fal_client

        client = fal_client.SyncClient(key=self.conn.key)
        if not isinstance(type(client).__dict__.get("_client"), cached_property):
            version = getattr(fal_client, "__version__", "?")
            raise KlingConfigError(message("config.fal_client_internals", version=version))
        client.__dict__["_client"] = self.http
        return client

    def submit(
        self, endpoint: str, arguments: dict[str, Any], webhook_url: str | None = None
    ) -> Handle:
        """Submit once; a lost answer raises KlingSubmitUnknownError instead of a resend."""
        from fal_client import FalClientHTTPError

        check_fal_client_host(self.conn)
        try:
            handle = self._fal.submit(endpoint, arguments=arguments, webhook_url=webhook_url)
        except _SubmitOutcomeUnknown as exc:
            raise KlingSubmitUnknownError(
                message("job.submit_unknown", host=self.conn.host, detail=exc), host=self.conn.host
            ) from None
        except FalClientHTTPError as exc:
            raise self._refused(exc.status_code, _words(exc.message)) from None
        except httpx.HTTPError as exc:
            raise KlingConnectionError(
                message("job.transport", host=self.conn.host, detail=transport_words(exc)),
                host=self.conn.host,
            ) from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # fal_client indexes the answer blindly: a malformed one is an answer we cannot use.
            raise self._malformed_submit(repr(exc)) from None
        return self._pinned(endpoint, handle)

    def _malformed_submit(self, detail: str) -> KlingSubmitUnknownError:
        words = message("engine.malformed_submit", host=self.conn.host, detail=_snippet(detail))
        return KlingSubmitUnknownError(
            message("job.submit_unknown", host=self.conn.host, detail=words), host=self.conn.host
        )

    def _pinned(self, endpoint: str, handle: Any) -> Handle:
        """The handle with URLs on the queue host only: a URL the server names elsewhere
        would receive the key, so the queue's own `…/requests/{id}/…` path replaces it."""
        request_id = getattr(handle, "request_id", None)
        if not isinstance(request_id, str) or not request_id.strip():
            raise self._malformed_submit(f"request_id={request_id!r}")
        owner_alias = "/".join(endpoint.split("/")[:2])
        base = f"{self.conn.queue_url}{owner_alias}/requests/{quote(request_id, safe='')}"

        def ours(url: Any, fallback: str) -> str:
            return url if _same_origin(url, self.conn.queue_url) else fallback

        return Handle(
            request_id,
            ours(getattr(handle, "response_url", None), base),
            ours(getattr(handle, "status_url", None), base + "/status"),
            # "" (Qiniu's answer) makes cancel_target use the short form next to the status URL
            ours(getattr(handle, "cancel_url", None), ""),
        )

    @cached_property
    def _async_clients(self) -> weakref.WeakKeyDictionary[Any, httpx.AsyncClient]:
        return weakref.WeakKeyDictionary()

    async def ahttp(self) -> httpx.AsyncClient:
        """The async twin of `http`, one per event loop (httpx pools are bound to a loop),
        closed when that loop shuts down (`asyncio.run` ending), so that a script calling
        `asyncio.run(edit_async(...))` in a loop never piles up open sockets."""
        from fal_client.client import USER_AGENT

        loop = asyncio.get_running_loop()
        found = self._async_clients.get(loop)
        if found is None:
            transport = httpx.AsyncHTTPTransport(verify=self._ssl)
            found = self._async_clients[loop] = httpx.AsyncClient(
                transport=_with_async_backup_domain(transport),
                headers={"Authorization": f"Key {self.conn.key}", "User-Agent": USER_AGENT},
                timeout=httpx.Timeout(60.0, connect=15.0),
                follow_redirects=True,
            )
            await _close_with_loop(found)
        return found

    # Each call below is its request, sent sync or async, and its answer, read once.

    def status(self, handle: Handle, endpoint: str, budget: float | None = None) -> JobStatus:
        """One status poll, answered within `budget` seconds (or a Transient)."""
        with _passing_faults():
            response = self.http.get(handle.status_url, **_status_args(budget))
        return self._status_answer(response, handle, endpoint)

    async def astatus(self, handle: Handle, endpoint: str, budget: float | None) -> JobStatus:
        with _passing_faults():
            response = await (await self.ahttp()).get(handle.status_url, **_status_args(budget))
        return self._status_answer(response, handle, endpoint)

    def _status_answer(self, response: httpx.Response, handle: Handle, endpoint: str) -> JobStatus:
        if not 200 <= response.status_code < 300:  # fal answers 202 while the job runs
            raise self._poll_error(response.status_code, _body_words(response), handle, endpoint)
        try:
            body = response.json()
        except ValueError as exc:
            raise Transient(f"unreadable status ({exc})") from None
        return self._parsed(body, handle, endpoint)

    def _parsed(self, body: Any, handle: Handle, endpoint: str) -> JobStatus:
        try:
            return JobStatus.from_body(body, _words)
        except UnreadableStatus:
            detail = message("engine.unreadable_status", host=self.conn.host, body=_snippet(body))
            raise KlingJobError(
                message(
                    "job.failed", request_id=handle.request_id, endpoint=endpoint, detail=detail
                ),
                request_id=handle.request_id,
                endpoint=endpoint,
                detail=detail,
            ) from None

    def stream(
        self, handle: Handle, endpoint: str, read_timeout: float
    ) -> Iterator[JobStatus | None]:
        """Status events from the SSE stream. No stream (any 4xx but 401, 403 and 429, a
        connection error, another content type) raises StreamUnavailable."""
        from httpx_sse import EventSource

        with _stream_faults():
            url, kwargs = _stream_args(handle, read_timeout)
            with self.http.stream("GET", url, **kwargs) as response:
                if response.status_code >= 300:
                    response.read()
                self._stream_opened(response, handle, endpoint)
                for sse in EventSource(response).iter_sse():
                    status = self._event(sse.data, handle, endpoint)
                    yield status
                    if status is not None and status.state == "COMPLETED":
                        return
            raise Transient("status stream closed before the job completed")

    async def astream(
        self, handle: Handle, endpoint: str, read_timeout: float
    ) -> AsyncIterator[JobStatus | None]:
        from httpx_sse import EventSource

        with _stream_faults():
            url, kwargs = _stream_args(handle, read_timeout)
            async with (await self.ahttp()).stream("GET", url, **kwargs) as response:
                if response.status_code >= 300:
                    await response.aread()
                self._stream_opened(response, handle, endpoint)
                # Closed here, not by the garbage collector on a later turn of the loop.
                async with aclosing(EventSource(response).aiter_sse()) as events:
                    async for sse in events:
                        status = self._event(sse.data, handle, endpoint)
                        yield status
                        if status is not None and status.state == "COMPLETED":
                            return
            raise Transient("status stream closed before the job completed")

    def _stream_opened(self, response: httpx.Response, handle: Handle, endpoint: str) -> None:
        code = response.status_code
        if 400 <= code < 500:
            # No stream here, or none for this key (401/403) or not now (429): polls go on,
            # and a poll is what checks the key.
            raise StreamUnavailable(f"HTTP {code}")
        if code >= 300:
            raise self._poll_error(code, _body_words(response), handle, endpoint)
        ctype = response.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raise StreamUnavailable(f"content-type {ctype!r}")

    def _event(self, data: str, handle: Handle, endpoint: str) -> JobStatus | None:
        if not data:
            return None
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise Transient(f"unreadable status event ({exc})") from None
        return self._parsed(body, handle, endpoint)

    def result(self, handle: Handle, endpoint: str, budget: float | None = None) -> dict[str, Any]:
        """The output JSON; an HTTP error raises KlingJobError (the caller, who knows the final
        status, tells a failed job from a passing fault), a broken connection Transient."""
        with _passing_faults():
            response = self.http.get(handle.response_url, timeout=_bounded(budget, 60.0))
        return self._result_answer(response, handle, endpoint)

    async def aresult(self, handle: Handle, endpoint: str, budget: float | None) -> dict[str, Any]:
        with _passing_faults():
            response = await (await self.ahttp()).get(
                handle.response_url, timeout=_bounded(budget, 60.0)
            )
        return self._result_answer(response, handle, endpoint)

    def _result_answer(
        self, response: httpx.Response, handle: Handle, endpoint: str
    ) -> dict[str, Any]:
        if response.status_code == 200:
            try:
                return dict(response.json())
            except ValueError as exc:
                raise Transient(f"unreadable result ({exc})") from None
        detail = _body_words(response)
        if response.status_code in (401, 403):
            raise self._refused(response.status_code, detail)
        raise KlingJobError(
            message("job.failed", request_id=handle.request_id, endpoint=endpoint, detail=detail),
            request_id=handle.request_id,
            endpoint=endpoint,
            detail=detail,
            error_type=_error_type(response),
            status_code=response.status_code,
        )

    def cancel(self, handle: Handle, budget: float = 10.0) -> CancelAnswer:
        """Ask the server to cancel; raises KlingConnectionError if it can't be asked."""
        with self._unreachable():
            response = self.http.put(handle.cancel_target, timeout=_bounded(budget, 10.0))
        return self._cancel_answer(response)

    async def acancel(self, handle: Handle, budget: float = 10.0) -> CancelAnswer:
        with self._unreachable():
            client = await self.ahttp()
            response = await client.put(handle.cancel_target, timeout=_bounded(budget, 10.0))
        return self._cancel_answer(response)

    def _cancel_answer(self, response: httpx.Response) -> CancelAnswer:
        """2xx: the service took the request (whether it stopped the job, the status tells);
        400: already completed; 404/405/501: this service does not cancel (Qiniu documents
        cancel as not supported) or no longer knows the job."""
        if 200 <= response.status_code < 300:
            return "accepted"
        if response.status_code == 400 and "ALREADY_COMPLETED" in response.text.upper():
            return "already_completed"
        if response.status_code in CANCEL_UNSUPPORTED or response.status_code == 400:
            return "unsupported"  # whatever else a 400 means, nothing says the job stopped
        raise KlingConnectionError(
            f"HTTP {response.status_code}: {_body_words(response)}",
            host=self.conn.host,
            status_code=response.status_code,
        )

    @contextmanager
    def _unreachable(self) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as exc:
            raise KlingConnectionError(
                message("job.transport", host=self.conn.host, detail=transport_words(exc)),
                host=self.conn.host,
            ) from None

    def download(self, url: str) -> bytes:
        """The bytes of a result file (data: URIs decoded in place); a KlingConnectionError
        in words when it cannot be had."""
        if url[:5].lower() == "data:":
            try:
                return decode_data_uri(url)[1]
            except ValueError as exc:
                raise KlingConnectionError(str(exc), host="data:") from None
        try:
            response = self._downloads.get(url)
        except httpx.HTTPError as exc:
            raise _download_error(url, transport_words(exc)) from None
        if response.status_code != 200:
            raise _download_error(url, f"HTTP {response.status_code}", response.status_code)
        return response.content

    def close(self) -> None:
        for name in ("http", "_downloads"):
            client = self.__dict__.pop(name, None)
            if client is not None:
                client.close()

    def _refused(self, status: int, detail: str) -> KlingConnectionError:
        key = "job.auth" if status in (401, 403) else "job.rejected"
        variable = {"qiniu": "QINIU_API_KEY"}.get(self.conn.backend, "FAL_KEY")
        text = message(key, host=self.conn.host, status=status, detail=detail, variable=variable)
        return KlingConnectionError(text, host=self.conn.host, status_code=status)

    def _poll_error(self, status: int, detail: str, handle: Handle, endpoint: str) -> Exception:
        if status in TRANSIENT_CODES:
            return Transient(f"HTTP {status}: {detail}")
        if status == 404:
            return KlingJobError(
                message("job.not_found", host=self.conn.host, request_id=handle.request_id),
                request_id=handle.request_id,
                endpoint=endpoint,
                detail=detail,
                status_code=404,
            )
        return self._refused(status, detail)


class _GuardedTransport(httpx.HTTPTransport):
    """Turns a POST whose answer was lost into `_SubmitOutcomeUnknown`."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise  # never left this machine: safe for fal_client to retry
        except httpx.TransportError as exc:
            if request.method == "POST":
                raise _SubmitOutcomeUnknown(transport_words(exc)) from exc
            raise
        if request.method != "POST":
            return response
        if response.status_code in (502, 504) and "x-fal-request-id" not in response.headers:
            # A gateway's 502/504: the app may have taken the job. fal_client would resend.
            response.close()
            raise _SubmitOutcomeUnknown(f"HTTP {response.status_code} from a gateway")
        response.stream = _GuardedStream(response.stream)
        return response


class _GuardedStream(httpx.SyncByteStream):
    def __init__(self, inner: Any):
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except httpx.TransportError as exc:
            raise _SubmitOutcomeUnknown(transport_words(exc)) from exc

    def close(self) -> None:
        self._inner.close()


def _bounded(budget: float | None, most: float, read: float | None = None) -> httpx.Timeout:
    """An httpx timeout that ends within `budget` seconds (connect, read and write)."""
    cap = most if budget is None else max(0.05, min(most, budget))
    return httpx.Timeout(cap, read=cap if read is None else read)


@contextmanager
def _passing_faults() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError as exc:
        raise Transient(transport_words(exc)) from None


@contextmanager
def _stream_faults() -> Iterator[None]:
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise StreamUnavailable(transport_words(exc)) from None
    except httpx.HTTPError as exc:
        raise Transient(transport_words(exc)) from None


def _status_args(budget: float | None) -> dict[str, Any]:
    return {"params": {"logs": "1"}, "timeout": _bounded(budget, 60.0)}


def _stream_args(handle: Handle, read_timeout: float) -> tuple[str, dict[str, Any]]:
    timeout = _bounded(read_timeout, 15.0, read=max(0.5, read_timeout))
    return handle.status_url + "/stream", {"params": {"logs": "1"}, "timeout": timeout}


def _with_async_backup_domain(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """The async twin of `_with_backup_domain`."""
    try:
        from fal_client.client import AsyncBackupDomainTransport
    except ImportError:
        return inner
    return AsyncBackupDomainTransport(transport=inner)


def _with_backup_domain(inner: httpx.BaseTransport) -> httpx.BaseTransport:
    """fal-client 1.0.3's backup queue domain and 5 s connect cap on fal's own hosts,
    kept around kling_nb's guarded transport (older fal-clients have neither)."""
    try:
        from fal_client.client import BackupDomainTransport
    except ImportError:
        return inner
    return BackupDomainTransport(transport=inner)


def _same_origin(url: Any, queue_url: str) -> bool:
    """True for a string URL on the queue's own scheme, host and port."""
    if not isinstance(url, str) or not url:
        return False
    try:
        theirs, mine = httpx.URL(url), httpx.URL(queue_url)
        return (theirs.scheme, theirs.host, theirs.port) == (mine.scheme, mine.host, mine.port)
    except Exception:  # noqa: BLE001 — an unparsable URL is simply not ours
        return False


def _snippet(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return scrub(text[:200])


def _words(detail: Any) -> str:
    """A server `detail` (string, or FastAPI's list of {loc, msg}) as one sentence, with
    any secret masked."""
    return scrub(_detail_words(detail))


def _detail_words(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = tuple(p for p in item.get("loc", []) if p != "body")
                where = Violation(loc, "").field if loc else ""
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        # fal: {"msg"} / {"detail"}; Qiniu: {"status": false, "message": …} or {"error": …}
        for name in ("msg", "detail", "message", "error"):
            said = detail.get(name)
            if said and not isinstance(said, bool):
                return _detail_words(said)
        return json.dumps(detail, ensure_ascii=False)
    return str(detail)


def _body_words(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    return _words(body.get("detail", body)) if isinstance(body, dict) else _words(body)


def _error_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error_type"):
        return str(body["error_type"])
    if isinstance(body, dict) and isinstance(body.get("detail"), list) and body["detail"]:
        first = body["detail"][0]
        if isinstance(first, dict) and first.get("type"):
            return str(first["type"])
    said = response.headers.get("x-fal-error-type")
    return str(said) if said is not None else None


def transport_words(exc: BaseException) -> str:
    """An httpx error in one line: its type, and its text when it has one."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _download_error(url: str, detail: str, status: int | None = None) -> KlingConnectionError:
    host = httpx.URL(url).host if url.startswith(("http://", "https://")) else url[:40]
    return KlingConnectionError(
        message("download.failed", url=_short_url(url), detail=scrub(detail)),
        host=host,
        status_code=status,
    )


def _short_url(url: str) -> str:
    return url if len(url) <= 90 else url[:89] + "…"


async def _close_with_loop(client: httpx.AsyncClient) -> None:
    """Close `client` when the running loop shuts down its async generators (as
    `asyncio.run` does at its end); a loop that never ends keeps it open, as it should."""

    async def keeper() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    held = keeper()
    _keepers[client] = held  # strong: the loop tracks async generators in a weak set
    await held.__anext__()  # started on this loop: its shutdown now closes the client


_keepers: weakref.WeakKeyDictionary[httpx.AsyncClient, AsyncIterator[None]] = (
    weakref.WeakKeyDictionary()
)


def fetch_public(url: str, timeout: float = 30.0) -> bytes:
    """The bytes at a public URL (no key sent; the process's CA bundle honoured); a
    KlingConnectionError in words when they cannot be had."""
    from fal_client.client import USER_AGENT

    try:
        response = httpx.get(
            url, timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}
        )
    except httpx.HTTPError as exc:
        raise _download_error(url, transport_words(exc)) from None
    if response.status_code != 200:
        raise _download_error(url, f"HTTP {response.status_code}", response.status_code)
    return response.content


_clients: dict[tuple[str, str], QueueClient] = {}
_clients_lock = threading.Lock()


def client_for(conn: Connection) -> QueueClient:
    """One QueueClient per (host, key), so connections keep their HTTP sessions."""
    with _clients_lock:
        found = _clients.get((conn.host, conn.key))
        if found is None or found.conn.ca_bundle != conn.ca_bundle:
            if found is not None:
                found.close()  # its sessions trust another bundle: not used again
            found = _clients[(conn.host, conn.key)] = QueueClient(conn)
        return found


@atexit.register
def _close_clients() -> None:
    """Close the kept HTTP sessions as the interpreter ends, before their sockets are
    collected (a script run with `-W error` reports no unclosed socket)."""
    with _clients_lock:
        kept = list(_clients.values())
        _clients.clear()
    for client in kept:
        with suppress(Exception):
            client.close()
