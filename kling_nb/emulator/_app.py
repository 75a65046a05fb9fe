"""The fal queue protocol over HTTP (PROTOCOL.md): Starlette routes onto a `JobQueue`.

Choices where fal's behaviour is not documented (kept here so tests and docs agree):
- result of a job that is not completed: 400 `{"detail": "... still IN_QUEUE ..."}`
  (fal-client raises on it and does not retry);
- result of a cancelled job: 400 `{"detail": ..., "error_type": "cancelled"}`;
- unknown request id: 404 `{"detail": ...}` (cancel: 404 `{"status": "NOT_FOUND"}`);
- the status stream is never faulted; faults hit status polls and results only;
- a result past its kept time (`result_ttl`): 404 saying it expired;
- on `qiniu`, 400 and 401 answers carry Qiniu's error body `{"status": false, "message"}`,
  cancel answers 404 so (not supported), and a failed job's result is such a 400.
Every answer of this app carries `x-kling-nb-emulator-profile: <profile>`, so a client can
learn which service's rules the emulator plays. Profiles (`plain`, `qiniu`, `fal`),
cancel, failures and gateway quirks: docs/services.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import mimetypes
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._i18n import Language
from .._wire import ENDPOINT, SubmitResponse
from ._body import MAX_BODY_BYTES, JSONStream, read_body
from ._job import Job
from ._logs import language_of
from ._options import EmulatorOptions
from ._queue import SAFE_NAME, JobQueue, RenderModel
from ._storage import StorageApi, upload_route

PROFILE_HEADER = "x-kling-nb-emulator-profile"
MAX_JSON_DEPTH = 32  # the model input nests 4 deep (elements); deeper is refused unparsed
MAX_JSON_OBJECTS = 1000  # the input has 1 + up to 10 elements; more is refused mid-parse
ENDPOINTS = (ENDPOINT,)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
TRUE_FLAGS, FALSE_FLAGS = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")

NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class DroppedConnection(Exception):
    """Raised after a response started, so the server aborts the connection (a fault)."""


class _Dropped(Response):
    """Start a response, then abort: the client sees the connection break mid-answer."""

    def __init__(self, route: str):
        super().__init__()
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise DroppedConnection(f"emulated dropped connection ({self.route})")


def create_app(
    options: EmulatorOptions | None = None,
    *,
    public_url: str | None = None,
    files_url: str | None = None,
    files_dir: Path | None = None,
    model: RenderModel | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Starlette, JobQueue]:
    """The emulator app and its queue; without URLs they follow the request's Host (TestClient)."""
    queue = JobQueue(options or EmulatorOptions(), files_dir=files_dir, model=model, clock=clock)
    for url in (public_url, files_url):
        if url:
            queue.own_netlocs |= _aliases(url)
    api = _Api(queue, public_url, files_url)
    prefix = "/queue/{prefix:path}/requests/{request_id}"
    routes = [
        Route("/_emulator/stats", api.stats, methods=["GET"]),
        Route("/_emulator/reset", api.reset, methods=["POST"]),
        Route(prefix + "/status/stream", api.stream, methods=["GET"]),
        Route(prefix + "/status", api.status, methods=["GET"]),
        Route(prefix + "/cancel", api.cancel, methods=["PUT"]),
        Route(prefix, api.result, methods=["GET"]),
        Route("/queue/{endpoint:path}", api.submit, methods=["POST"]),
        *file_routes(queue),
    ]
    if queue.options.fal_storage:  # fal's storage hosts; without them, 404 as no such host
        routes += StorageApi(queue.uploads, api.bases).routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await queue.start()
        try:
            yield
        finally:
            await queue.stop()

    header = Middleware(ProfileHeader, profile=queue.options.profile)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[header]), queue


class ProfileHeader:
    """Adds `x-kling-nb-emulator-profile: <profile>` to every answer (ASGI middleware)."""

    def __init__(self, app: ASGIApp, profile: str):
        self.app = app
        self.value = profile.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                message["headers"] = [*headers, (PROFILE_HEADER.encode(), self.value)]
            await send(message)

        await self.app(scope, receive, labelled)


def create_files_app(queue: JobQueue) -> Starlette:
    """Result files and samples only: what the plain-HTTP loopback port serves to browsers."""
    return Starlette(routes=file_routes(queue))


def file_routes(queue: JobQueue) -> list[Route]:
    """`/files/{request_id}/{name}` and `/samples/{name}`; anything that escapes is a 404."""

    async def result_file(request: Request) -> Response:
        path = queue.file_path(request.path_params["request_id"], request.path_params["name"])
        if path is None:
            return JSONResponse({"detail": "No such file."}, 404)
        return FileResponse(path, headers=_FILE_HEADERS)

    async def sample_file(request: Request) -> Response:
        from .. import _samples

        name = request.path_params["name"]
        data = _samples.sample_bytes(name) if SAFE_NAME.fullmatch(name) else None
        if data is None:
            return JSONResponse({"detail": "No such sample."}, 404)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(data, media_type=kind, headers=_FILE_HEADERS)

    routes = [
        Route("/files/{request_id}/{name}", result_file, methods=["GET", "HEAD"]),
        Route("/samples/{name}", sample_file, methods=["GET", "HEAD"]),
    ]
    if queue.options.fal_storage:
        routes.append(upload_route(queue.uploads))
    return routes


_FILE_HEADERS = {"Cache-Control": "max-age=3600", "Access-Control-Allow-Origin": "*"}


class _Api:
    """The queue endpoints; each counts itself, maybe faults, checks the key, then answers."""

    def __init__(self, queue: JobQueue, public_url: str | None, files_url: str | None):
        self.queue = queue
        self.public_url = public_url
        self.files_url = files_url
        self._ids = itertools.count(1_700_000_000_000)

    async def submit(self, request: Request) -> Response:
        denied = _deny(request, self.queue.options)
        if denied is not None:
            return denied
        endpoint = request.path_params["endpoint"].strip("/")
        if endpoint not in ENDPOINTS:
            detail = f"Application {endpoint!r} not found: this emulator serves {ENDPOINT} only."
            return JSONResponse({"detail": detail}, 404)
        limit_mb = min(MAX_BODY_BYTES / 2**20, self.queue.options.max_body_mb)
        raw = await read_body(request, int(limit_mb * 2**20))
        if raw is None:
            detail = f"Request body is larger than {limit_mb:g} MB. Shrink the images."
            return JSONResponse({"detail": detail}, 413)
        body, problem = _parse(raw)
        del raw  # up to the body cap in size: not kept while the job waits in the queue
        if problem is not None:
            return _unprocessable(["body"], problem)
        webhook = request.query_params.get("fal_webhook")
        problem = _webhook_problem(webhook) if webhook is not None else None
        if problem is not None:
            return _unprocessable(["query", "fal_webhook"], problem)
        priority = request.headers.get("x-fal-queue-priority", "normal")
        if priority not in ("normal", "low"):
            return _unprocessable(["header", "x-fal-queue-priority"], "Use 'normal' or 'low'.")
        try:
            timeout = _float_header(request, "x-fal-request-timeout")
        except ValueError:
            return _unprocessable(["header", "x-fal-request-timeout"], "Seconds, a number > 1.")
        return self._enqueue(request, endpoint, body, webhook, priority == "low", timeout)

    def _enqueue(
        self,
        request: Request,
        endpoint: str,
        body: dict[str, object],
        webhook: str | None,
        low: bool,
        timeout: float | None,
    ) -> Response:
        rid = self._new_id()
        public, files = self.bases(request)
        job = self.queue.submit(
            rid,
            endpoint,
            body,
            file_base=f"{files}/files/{rid}/",
            webhook=webhook,
            low_priority=low,
            start_timeout=timeout,
        )
        base = f"{public}/queue/{endpoint}/requests/{rid}"
        qiniu = self.queue.options.profile == "qiniu"
        answer: SubmitResponse = {
            "request_id": rid,
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": "" if qiniu else base + "/cancel",  # as Qiniu's documented examples
            "status": "IN_QUEUE",
        }
        if not qiniu:
            answer["queue_position"] = self.queue.position(job) if job.state == "IN_QUEUE" else 0
        if self.queue.faults.drop_submit():
            self.queue.totals["submit_drops"] += 1
            self.queue.record_fault("submit", "drop")
            return _Dropped("submit")
        return JSONResponse(answer, headers={"x-fal-request-id": rid})

    def bases(self, request: Request) -> tuple[str, str]:
        """(queue base, files base): the server's, else the request's Host (TestClient)."""
        netloc = request.url.netloc
        if self.public_url is None:  # URLs follow the Host header, so its files are ours
            self.queue.own_netlocs.add(netloc)
        public = self.public_url or f"https://{netloc}"
        files = {"data": public, "https": public}.get(
            self.queue.options.result_urls, self.files_url or f"http://{netloc}"
        )
        return public, files

    def _new_id(self) -> str:
        """A UUID, or on the qiniu profile an id shaped like Qiniu's (`qimage-root-<digits>`)."""
        if self.queue.options.profile != "qiniu":
            return str(uuid.uuid4())
        return f"qimage-root-{next(self._ids)}{uuid.uuid4().int % 10**9:09d}"

    async def status(self, request: Request) -> Response:
        job = self._job(request)
        self.queue.totals["status_polls"] += 1
        if job is not None:
            job.status_polls += 1
        early = self._fault(request, "status") or _deny(request, self.queue.options)
        if early is not None:
            return early
        with_logs = _flag(request.query_params.get("logs"))
        if with_logs is None:
            return _unprocessable(["query", "logs"], "Use true/false or 1/0.")
        if job is None:
            return _no_request(request)
        lang = language_of(request.headers.get("accept-language"))
        body = self.queue.status_body(job, with_logs, lang)
        code = 200 if body["status"] in ("COMPLETED", "FAILED") else 202
        headers = {"x-fal-request-id": job.request_id}
        if job.inline and "result" in body:  # Qiniu's inline result of data: URIs
            return JSONStream(body, code, headers)
        return JSONResponse(body, code, headers=headers)

    async def stream(self, request: Request) -> Response:
        job = self._job(request)
        self.queue.totals["status_streams"] += 1
        if job is not None:
            job.status_streams += 1
        denied = _deny(request, self.queue.options)
        if denied is not None:
            return denied
        if not self.queue.options.status_stream:
            # As a gateway that never heard of the stream would (PROTOCOL.md: unverified
            # whether Qiniu's serves it): clients must fall back to polling.
            return JSONResponse({"detail": "Not Found"}, 404)
        if self.queue.options.stream_refused:  # as some gateways answer (PROTOCOL.md)
            return JSONResponse({"detail": "SSE streaming not supported"}, 400)
        with_logs = _flag(request.query_params.get("logs"))
        if with_logs is None:
            return _unprocessable(["query", "logs"], "Use true/false or 1/0.")
        if job is None:
            return _no_request(request)
        headers = {"Cache-Control": "no-cache", "x-fal-request-id": job.request_id}
        events = self._events(job, with_logs, language_of(request.headers.get("accept-language")))
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    async def _events(self, job: Job, with_logs: bool, lang: Language) -> AsyncIterator[str]:
        """One `data:` line per change, a keep-alive comment when idle, closed after COMPLETED."""
        last, sent = "", 0
        only_new = self.queue.options.profile == "fal"  # fal sends each log line once
        while True:
            changed = job.changed
            body = self.queue.status_body(job, with_logs, lang, sent if only_new else 0)
            text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            if text != last:
                yield f"data: {text}\n\n"
                last, sent = text, len(job.logs) if only_new else 0
            if body["status"] in ("COMPLETED", "FAILED"):
                return
            try:
                await asyncio.wait_for(changed.wait(), self.queue.options.keepalive_interval)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        self.queue.totals["cancels"] += 1
        denied = _deny(request, self.queue.options)
        if denied is not None:
            return denied
        if self.queue.options.cancel_mode == "unsupported":
            if job is not None:
                self.queue.cancel(job)  # counted; the job runs on
            return _qiniu_error(NO_CANCEL, 404)
        if job is None:
            return JSONResponse({"status": "NOT_FOUND"}, 404)
        headers = {"x-fal-request-id": job.request_id}
        if self.queue.cancel(job) == "too_late":
            return JSONResponse({"status": "ALREADY_COMPLETED"}, 400, headers=headers)
        # Queued (removed) or running (stopped, or signalled and running on): fal answers
        # both alike, so the answer alone never says whether the job will still be billed.
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202, headers=headers)

    async def result(self, request: Request) -> Response:
        job = self._job(request)
        self.queue.totals["results"] += 1
        early = self._fault(request, "result") or _deny(request, self.queue.options)
        if early is not None:
            return early
        if job is None:
            return _no_request(request)
        rid = job.request_id
        qiniu = self.queue.options.profile == "qiniu"
        if job.state != "COMPLETED":
            detail = (
                f"Request {rid} is still {job.state}; its result does not exist yet. "
                "Poll its status_url until COMPLETED, then fetch the result."
            )
            if qiniu:
                return _qiniu_error(detail, 400)
            return JSONResponse({"detail": detail}, 400, headers={"x-fal-request-id": rid})
        if job.failure is not None:
            failure = job.failure
            if qiniu:  # the reason is in the status's `detail`; no result exists (our choice)
                return _qiniu_error(failure.error, 400)
            return JSONResponse(failure.body(), failure.status_code, headers=failure.headers(rid))
        if job.inline:  # data: URIs of whole pictures: sent without a second copy
            return JSONStream(job.output, headers={"x-fal-request-id": rid})
        return JSONResponse(job.output, headers={"x-fal-request-id": rid})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.queue.stats())

    async def reset(self, request: Request) -> Response:
        self.queue.reset_stats()
        return JSONResponse({"status": "RESET"})

    def _job(self, request: Request) -> Job | None:
        """The job named by the path, in the short (`owner/app`) or long (endpoint) form."""
        job = self.queue.jobs.get(request.path_params["request_id"])
        prefix = request.path_params["prefix"]
        if job is None or prefix not in (job.endpoint, job.endpoint.rsplit("/", 1)[0]):
            return None
        return None if self.queue.expired(job) else job

    def _fault(self, request: Request, route: str) -> Response | None:
        kind = self.queue.faults.response()
        if kind is None:
            return None
        self.queue.record_fault(route, kind)
        return _fault_response(kind, request.path_params["request_id"], route)


def _fault_response(kind: str, request_id: str, route: str) -> Response:
    """What an ingress (nginx page, no request id) or the app (JSON, request id) would send."""
    if kind == "drop":
        return _Dropped(route)
    if kind == "429":
        return JSONResponse({"detail": "Too many requests (emulated fault)."}, 429)
    code = int(kind[:3])
    reason = "Bad Gateway" if code == 502 else "Service Temporarily Unavailable"
    if kind.endswith("-ingress"):
        return HTMLResponse(NGINX_PAGE.format(code=code, reason=reason), code)
    error_type = "bad_gateway" if code == 502 else "runner_unavailable"
    body = {"detail": f"{reason} (emulated fault).", "error_type": error_type}
    headers = {"x-fal-request-id": request_id, "X-Fal-Error-Type": error_type}
    return JSONResponse(body, code, headers=headers)


def _deny(request: Request, options: EmulatorOptions) -> Response | None:
    """403 to a blocked user agent; 401 unless `Key <key>` (or `Bearer` on qiniu); never echoed."""
    agent = request.headers.get("user-agent", "")
    if options.block_urllib and agent.startswith("Python-urllib/"):
        return Response("error code: 1010", 403, media_type="text/plain")  # Qiniu's firewall
    value = request.headers.get("authorization", "").strip()
    scheme, _, key = value.partition(" ")
    schemes = ("key", "bearer") if options.profile == "qiniu" else ("key",)
    if scheme.lower() in schemes and key.strip():
        return None
    if not value:
        why = "No Authorization header."
    else:
        why = "The Authorization header is not of the form 'Key <your key>'."
    detail = f"{why} Send 'Authorization: Key <your key>' (fal-client sends FAL_KEY so)."
    if options.profile == "qiniu":
        return _qiniu_error(detail, 401)
    return JSONResponse({"detail": detail}, 401, headers={"WWW-Authenticate": "Key"})


NO_CANCEL = (
    "Cancel is not supported (暂未支持): the request keeps running and is billed; "
    "fetch its result when it completes."
)


def _qiniu_error(message: str, code: int) -> Response:
    """Qiniu's error body, `{"status": false, "message": …}` (its API reference, 400/401)."""
    return JSONResponse({"status": False, "message": message}, code)


def _no_request(request: Request) -> Response:
    rid, prefix = request.path_params["request_id"], request.path_params["prefix"]
    detail = (
        f"Request {rid} not found for {prefix} (unknown id, or its result expired and was "
        "forgotten: results are kept for a limited time)."
    )
    return JSONResponse({"detail": detail}, 404)


def _unprocessable(loc: list[str | int], msg: str) -> Response:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]}, 422)


def _flag(value: str | None) -> bool | None:
    """`logs=` as the Python (true/false) and JS (1/0) clients send it; None if neither."""
    text = (value or "").strip().lower()
    return True if text in TRUE_FLAGS else False if text in FALSE_FLAGS else None


def _float_header(request: Request, name: str) -> float | None:
    value = request.headers.get(name)
    if value is None:
        return None
    seconds = float(value)
    if not seconds > 1:
        raise ValueError(name)
    return seconds


def _webhook_problem(url: str) -> str | None:
    """Why a webhook URL is refused; loopback literals and `localhost` only, never the network."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme in ("http", "https") and host == "localhost":
        return None
    try:
        loopback = parts.scheme in ("http", "https") and ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"fal_webhook = {url!r} is refused: the emulator calls back only loopback addresses "
        "(http(s) to 127.0.0.0/8, [::1] or localhost), so it never contacts the network. "
        "Run the receiver on this machine."
    )


def _aliases(url: str) -> set[str]:
    """The netlocs naming the same loopback socket (127.0.0.1, localhost, [::1])."""
    parts = urlsplit(url)
    netloc, port = parts.netloc, parts.port
    names = {netloc}
    if port is not None and any(netloc.startswith(n + ":") for n in LOOPBACK_NAMES):
        names |= {f"{n}:{port}" for n in LOOPBACK_NAMES}
    return names


def _parse(raw: bytes | bytearray) -> tuple[dict[str, object], str | None]:
    """The JSON object of a submit, or why not; depth is checked before parsing."""
    depth = deepest = 0
    for byte in raw.translate(None, _NOT_BRACKETS):  # brackets in strings count too: harmless
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_JSON_DEPTH:
        return {}, f"The body nests {deepest} levels deep; the limit is {MAX_JSON_DEPTH}."
    made = itertools.count(1)

    def counted(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if next(made) > MAX_JSON_OBJECTS:  # stop early: each object costs memory to build
            raise ValueError(f"more than {MAX_JSON_OBJECTS} JSON objects")
        return dict(pairs)

    try:
        body = json.loads(raw, object_pairs_hook=counted)
    except ValueError as exc:
        if "JSON objects" in str(exc):
            return {}, f"The body holds {exc}; the model input needs a few."
        why = "a number is too long" if "digits" in str(exc) else "it is not valid JSON"
        return {}, f"The body must be a JSON object (the model input); {why}."
    if not isinstance(body, dict):
        return {}, "The body must be a JSON object (the model input)."
    return body, None


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
