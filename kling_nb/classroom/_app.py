"""The gateway: the fal queue protocol (PROTOCOL.md) on the same paths, in front of the
teacher's upstream, with a student's token in place of the key.

Before anything is forwarded: the token is the class's and not revoked (failed guesses
are limited per address), the endpoint is Kling O1, the body is within its cap and passes
kling_nb's rules with the upstream's profile, and its price fits the student's budget
with a free job slot (one transaction). A student sees only their own jobs: any other
request id answers the same 404 as an unknown one. What the upstream says is relayed with
the gateway's request id, its URLs and the key masked; results are served from the class
folder once the collector kept them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._i18n import message
from .._price import Price, amount_text
from .._secrets import scrub
from .._wire import BODY_MAX_BYTES, ENDPOINT
from ..emulator._body import logs_flag, parse_json_body, read_body
from ..emulator._queue import SAFE_NAME
from . import _admission, _tokens
from ._collector import Collector, scrubbed
from ._limits import GuessLimiter
from ._store import Job, Refusal, Store, Student
from ._upstream import Answer, Submitted, Upstream, UpstreamDown

log = logging.getLogger("kling_nb.classroom")

REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PREFIXES = (ENDPOINT, ENDPOINT.rsplit("/", 1)[0])  # the long and the short form
RAW_PATH_MAX = 2048
SUSPECT = (b"..", b"%2f", b"%5c", b"%2e", b"\\", b"%00")
TERMINAL = ("COMPLETED", "FAILED")
THUMB = ".thumb.jpg"


@dataclass(frozen=True)
class Policy:
    """What the class allows: jobs at once per student, body size, the price per image."""

    max_jobs: int = 2
    body_cap: int = BODY_MAX_BYTES
    price: Price | None = None
    public_url: str | None = None  # the address students use, when a proxy is in front


def create_app(
    store: Store,
    upstream: Upstream,
    collector: Collector,
    limiter: GuessLimiter,
    policy: Policy,
    *,
    extra_routes: list[Route] | None = None,
) -> ASGIApp:
    """The gateway's ASGI app (the dashboard adds its routes through `extra_routes`)."""
    api = Gateway(store, upstream, collector, limiter, policy)
    long_form = "/queue/{prefix:path}/requests/{request_id}"
    routes = [
        Route(long_form + "/status/stream", api.stream, methods=["GET"]),
        Route(long_form + "/status", api.status, methods=["GET"]),
        Route(long_form + "/cancel", api.cancel, methods=["PUT"]),
        Route(long_form, api.result, methods=["GET"]),
        Route("/queue/{endpoint:path}", api.submit, methods=["POST"]),
        Route("/files/{request_id}/{name}", api.file, methods=["GET", "HEAD"]),
        Route("/_classroom/whoami", api.whoami, methods=["GET"]),
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: api.nowhere, 405: api.nowhere, Exception: api.failed},
    )
    app.state.gateway = api
    return _PathGuard(app)


class _PathGuard:
    """Refuses path tricks (`..`, encoded slashes or dots, very long paths) before routing."""

    def __init__(self, app: Starlette):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = bytes(scope.get("raw_path") or scope["path"].encode())
            if len(raw) > RAW_PATH_MAX or any(s in raw.lower() for s in SUSPECT):
                shown = raw[:80].decode("utf-8", "replace")
                detail = message("classroom.bad_path", value=shown, limit=RAW_PATH_MAX)
                await JSONResponse({"detail": detail}, 404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Gateway:
    """The routes; each checks the caller, then answers from the class file or upstream."""

    def __init__(
        self,
        store: Store,
        upstream: Upstream,
        collector: Collector,
        limiter: GuessLimiter,
        policy: Policy,
    ):
        self.store = store
        self.upstream = upstream
        self.collector = collector
        self.limiter = limiter
        self.policy = policy
        self.name = upstream.spec.kind

    # --- who is asking ---------------------------------------------------------------------

    def caller(self, request: Request) -> Student | Response:
        """The student holding the request's token, or the answer refusing it."""
        address = request.client.host if request.client else "?"
        wait = self.limiter.retry_after(address)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            detail = message("classroom.guess_limited", address=address, seconds=seconds)
            return _error(429, detail, {"Retry-After": str(seconds)})
        header = request.headers.get("authorization", "")
        token = _tokens.bearer(header)
        student = self.store.student_by_token(token) if token else None
        if student is None:
            self.limiter.failed(address)
            key = "classroom.auth_missing" if not header.strip() else "classroom.auth_bad"
            return _error(401, message(key), {"WWW-Authenticate": "Key"})
        if student.revoked:
            self.store.refuse(student.id, 401, "revoked")
            return _error(401, message("classroom.auth_revoked"), {"WWW-Authenticate": "Key"})
        return student

    def own_job(self, request: Request, student: Student) -> Job | Response:
        """The caller's job named by the path; one 404 for unknown ids and others' alike."""
        rid, prefix = request.path_params["request_id"], request.path_params["prefix"]
        if prefix not in PREFIXES:
            return _error(404, message("classroom.endpoint_only", endpoint=prefix[:100]))
        if not REQUEST_ID.fullmatch(rid):
            return _error(404, message("classroom.bad_request_id", value=rid[:80]))
        job = self.store.job(rid)
        if job is None or job.student_id != student.id:
            return _error(404, message("classroom.not_found", request_id=rid))
        return job

    def _job_for(self, request: Request) -> tuple[Student, Job] | Response:
        who = self.caller(request)
        if isinstance(who, Response):
            return who
        job = self.own_job(request, who)
        return job if isinstance(job, Response) else (who, job)

    # --- submit ----------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        who = self.caller(request)
        if isinstance(who, Response):
            return who
        endpoint = request.path_params["endpoint"].strip("/")
        if endpoint != ENDPOINT:
            return self._refuse(
                who, 404, "endpoint", message("classroom.endpoint_only", endpoint=endpoint[:100])
            )
        if "fal_webhook" in request.query_params:
            return self._refuse_422(who, ["query", "fal_webhook"], message("classroom.webhook"))
        raw = await read_body(request, self.policy.body_cap)
        if raw is None:
            words = message(
                "classroom.body_too_large", limit_mb=f"{self.policy.body_cap / 2**20:g}"
            )
            return self._refuse(who, 413, "body_too_large", words)
        body, problem = parse_json_body(raw)
        if problem is not None:
            return self._refuse_422(who, ["body"], problem)
        found = await asyncio.to_thread(_admission.violations, body, self.upstream.spec.profile)
        if found:
            details = _admission.details(found)
            self.store.refuse(who.id, 422, "invalid", "; ".join(d["msg"] for d in details)[:1000])
            return JSONResponse({"detail": details}, 422)
        return await self._reserve_and_forward(request, who, body, raw)

    async def _reserve_and_forward(
        self, request: Request, who: Student, body: dict[str, Any], raw: bytearray
    ) -> Response:
        price = _admission.priced(body, self.policy.price)
        job_id = str(uuid.uuid4())
        refusal = self.store.reserve(
            who.id,
            job_id,
            fingerprint=_admission.fingerprint(raw),
            request=_admission.summary(body),
            images=price.images,
            cost=price.cost,
            currency=price.currency,
            emulated=self.upstream.spec.emulated,
            max_jobs=self.policy.max_jobs,
        )
        if refusal is not None:
            return self._refused(refusal)
        headers = {
            name: request.headers[name]
            for name in ("x-fal-queue-priority", "x-fal-request-timeout")
            if name in request.headers
        }
        sent = await self.upstream.submit(bytes(raw), headers)
        return self._forwarded(request, who, job_id, sent, price)

    def _forwarded(
        self,
        request: Request,
        who: Student,
        job_id: str,
        sent: Submitted,
        price: _admission.Priced,
    ) -> Response:
        if sent.outcome == "accepted":
            assert sent.answer is not None
            place = self.upstream.place(sent.answer.body)
            self.store.forwarded(
                job_id,
                upstream_id=place.request_id,
                status_url=place.status_url,
                response_url=place.response_url,
                cancel_url=place.cancel_url,
                cancel_empty=place.cancel_empty,
            )
            log.info(
                "%s submitted %s (upstream %s): %d image(s), %s",
                who.name,
                job_id,
                scrub(place.request_id),
                price.images,
                _cost_text(price.cost, price.currency, self.upstream.spec.emulated),
            )
            answer = self._submit_answer(request, job_id, sent.answer.body, place.cancel_empty)
            return JSONResponse(answer, headers={"x-fal-request-id": job_id})
        if sent.outcome == "unknown":
            self.store.set_state(job_id, "unknown", sent.words)
            log.warning(
                "%s: the answer to submit %s was lost (%s); not resent",
                who.name,
                job_id,
                sent.words,
            )
            cost = _cost_text(price.cost, price.currency, self.upstream.spec.emulated)
            words = message(
                "classroom.submit_unknown", upstream=self.name, detail=sent.words, cost=cost
            )
            return JSONResponse({"detail": words, "error_type": "submit_unknown"}, 502)
        return self._upstream_refused(job_id, sent)

    def _upstream_refused(self, job_id: str, sent: Submitted) -> Response:
        """No job was made upstream: give the cost back and say why, in words."""
        answer = sent.answer
        code = answer.code if answer is not None else 503
        self.store.release(job_id, code, "upstream_" + sent.outcome, sent.words)
        log.warning("submit %s refused upstream (%s): %s", job_id, code, sent.words)
        if answer is None:
            words = message("classroom.upstream_unreachable", upstream=self.name, detail=sent.words)
            return _error(503, words, {"x-fal-request-id": job_id})
        if code in (401, 403):
            words = message("classroom.upstream_key", upstream=self.name, status=code)
            return _error(503, words, {"x-fal-request-id": job_id})
        if (
            code == 422
            and isinstance(answer.body, dict)
            and isinstance(answer.body.get("detail"), list)
        ):
            return JSONResponse(scrubbed(answer.body), 422, headers=answer.headers)
        words = message(
            "classroom.upstream_refused", upstream=self.name, status=code, detail=sent.words
        )
        relayed = 503 if code >= 500 else code
        headers = {k: v for k, v in answer.headers.items() if k != "content-type"}
        return _error(relayed, words, {**headers, "x-fal-request-id": job_id})

    def _submit_answer(
        self, request: Request, job_id: str, upstream: dict[str, Any], cancel_empty: bool
    ) -> dict[str, Any]:
        """The upstream's submit answer, with the gateway's id and URLs (its shape kept)."""
        base = f"{self.base_url(request)}/queue/{ENDPOINT}/requests/{job_id}"
        answer: dict[str, Any] = {
            "request_id": job_id,
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": "" if cancel_empty else base + "/cancel",
            "status": "IN_QUEUE",
        }
        if isinstance(upstream.get("queue_position"), int):
            answer["queue_position"] = upstream["queue_position"]
        return answer

    def base_url(self, request: Request) -> str:
        """Where students reach the gateway: the configured public URL, else this request's."""
        if self.policy.public_url:
            return self.policy.public_url.rstrip("/")
        return f"{request.url.scheme}://{request.url.netloc}"

    def _refuse(self, who: Student, code: int, reason: str, words: str) -> Response:
        self.store.refuse(who.id, code, reason, words)
        return _error(code, words)

    def _refuse_422(self, who: Student, loc: list[str | int], words: str) -> Response:
        self.store.refuse(who.id, 422, "invalid", words)
        return JSONResponse({"detail": [{"loc": loc, "msg": words, "type": "value_error"}]}, 422)

    def _refused(self, refusal: Refusal) -> Response:
        """A reservation refused: 401 revoked, 429 too many jobs, 402 budget (in words)."""
        facts = {
            k: amount_text(v) if isinstance(v, Decimal) else v for k, v in refusal.facts.items()
        }
        if refusal.reason == "revoked":
            return _error(401, message("classroom.auth_revoked"))
        if refusal.reason == "too_many_jobs":
            return _error(429, message("classroom.too_many_jobs", **facts), {"Retry-After": "5"})
        price = self.policy.price
        facts["price"] = amount_text(price.amount) if price is not None else "?"
        words = message(f"classroom.{refusal.reason}", **facts)
        body = {
            "detail": words,
            "error_type": "budget_exceeded",
            **{k: str(v) for k, v in facts.items()},
        }
        return JSONResponse(body, 402)

    # --- status, stream, result, cancel --------------------------------------------------------

    async def status(self, request: Request) -> Response:
        found = self._job_for(request)
        if isinstance(found, Response):
            return found
        _, job = found
        with_logs = logs_flag(request.query_params.get("logs"))
        if with_logs is None:
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["query", "logs"],
                            "msg": "Use true/false or 1/0.",
                            "type": "value_error",
                        }
                    ]
                },
                422,
            )
        kept = self._kept_status(request, job, with_logs)
        if kept is not None:
            return _json(200, kept, job.id)
        try:
            answer = await self.upstream.get(
                job.status_url or "", {"logs": "1" if with_logs else "0"}
            )
        except UpstreamDown as exc:
            return self._upstream_down(exc, job.id)
        self.collector.seen(job.id)
        state = answer.body.get("status") if isinstance(answer.body, dict) else None
        if answer.code == 404 or (
            isinstance(state, str) and state not in ("IN_QUEUE", "IN_PROGRESS")
        ):
            job = await self.collector.observed(job, answer)
            kept = self._kept_status(request, job, with_logs)
            if kept is not None:
                return _json(200, kept, job.id)
        elif state == "IN_PROGRESS" and job.state == "queued":
            await self.collector.observed(job, answer)
        return self._relay(answer, job.id)

    def _upstream_down(self, exc: UpstreamDown, request_id: str) -> Response:
        """503: the upstream could not be reached; the student's job is still on record."""
        words = message("classroom.upstream_down", upstream=self.name, detail=str(exc))
        return _error(503, words, {"x-fal-request-id": request_id})

    def _kept_status(self, request: Request, job: Job, with_logs: bool) -> dict[str, Any] | None:
        """The final status from the class file, once the upstream said the job ended."""
        if job.state == "lost":
            words = message("classroom.lost", upstream=self.name)
            return {
                "status": "COMPLETED",
                "logs": None,
                "error": words,
                "error_type": "upstream_lost",
            }
        if job.state != "completed" or job.status is None:
            return None
        body = dict(job.status)
        if "result" in body:  # Qiniu sends the output inline: ours, with our URLs, or none
            kept = self._kept_output(request, job)
            if kept is None:
                del body["result"]
            else:
                body["result"] = kept
        if not with_logs and "logs" in body:
            body["logs"] = None
        return body

    async def stream(self, request: Request) -> Response:
        found = self._job_for(request)
        if isinstance(found, Response):
            return found
        _, job = found
        with_logs = logs_flag(request.query_params.get("logs"))
        if with_logs is None:
            with_logs = True
        kept = self._kept_status(request, job, with_logs)
        if kept is not None:
            return _events_response([kept], job.id)
        params = {"logs": "1" if with_logs else "0"}
        try:
            response = await self.upstream.open_stream((job.status_url or "") + "/stream", params)
        except UpstreamDown as exc:
            return self._upstream_down(exc, job.id)
        if response.status_code != 200:
            try:
                return self._relay(await self.upstream.read_error(response), job.id)
            except UpstreamDown as exc:
                return self._upstream_down(exc, job.id)
        headers = {"Cache-Control": "no-cache", "x-fal-request-id": job.id}
        events = self._relay_events(request, job, response, with_logs)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    async def _relay_events(
        self, request: Request, job: Job, response: Any, with_logs: bool
    ) -> AsyncIterator[str]:
        """The upstream's events, one `data:` line each; the final one from the class file."""
        try:
            with self.collector.watching(job.id):
                async for event in self._events_of(request, job, response, with_logs):
                    yield event
        except Exception as exc:  # noqa: BLE001 - the upstream broke off: end the stream
            log.info("the status stream of %s ended: %s", job.id, scrub(str(exc)))
        finally:
            await response.aclose()

    async def _events_of(
        self, request: Request, job: Job, response: Any, with_logs: bool
    ) -> AsyncIterator[str]:
        async for line in response.aiter_lines():
            if line.startswith(":"):  # a keep-alive comment
                yield line + "\n\n"
                continue
            try:
                event = json.loads(line[5:]) if line.startswith("data:") else None
            except ValueError:
                event = None
            if not isinstance(event, dict):
                continue
            self.collector.seen(job.id)
            state = event.get("status")
            if isinstance(state, str) and state not in ("IN_QUEUE", "IN_PROGRESS"):
                job = await self.collector.observed(job, Answer(200, event, "", {}))
                event = self._kept_status(request, job, with_logs) or event
                yield f"data: {json.dumps(scrubbed(event), ensure_ascii=False)}\n\n"
                return
            if state == "IN_PROGRESS" and job.state == "queued":
                job = await self.collector.observed(job, Answer(200, event, "", {}))
            yield f"data: {json.dumps(scrubbed(event), ensure_ascii=False)}\n\n"

    async def result(self, request: Request) -> Response:
        found = self._job_for(request)
        if isinstance(found, Response):
            return found
        _, job = found
        if job.kept:
            return self._kept_result(request, job)
        if job.state == "lost":
            return _error(
                404, message("classroom.lost", upstream=self.name), {"x-fal-request-id": job.id}
            )
        if job.state not in ("queued", "running", "completed"):
            words = message("classroom.not_yet", request_id=job.id)
            return _error(400, words, {"x-fal-request-id": job.id})
        try:
            answer = await self.collector.result(job)
        except UpstreamDown as exc:
            return self._upstream_down(exc, job.id)
        fresh = self.store.job(job.id)
        if fresh is not None and fresh.kept:
            return self._kept_result(request, fresh)
        if fresh is not None and fresh.state == "lost":
            words = message("classroom.lost", upstream=self.name)
            return _error(404, words, {"x-fal-request-id": job.id})
        return self._relay(answer, job.id)

    def _kept_output(self, request: Request, job: Job) -> dict[str, Any] | None:
        """The kept output with URLs to the class folder, or None if no output was kept."""
        if job.result_code != 200 or not isinstance(job.result, dict):
            return None
        base = f"{self.base_url(request)}/files/{job.id}/"
        images = []
        for item in job.result.get("images") or []:
            shown = {k: v for k, v in item.items() if k not in ("file", "thumb")}
            if item.get("file"):
                shown["url"] = base + item["file"]
            images.append(shown)
        return {**job.result, "images": images}

    def _kept_result(self, request: Request, job: Job) -> Response:
        output = self._kept_output(request, job)
        if output is not None:
            return _json(200, output, job.id)
        kept = job.result if isinstance(job.result, dict) else {}
        headers = {k: v for k, v in (kept.get("headers") or {}).items() if k != "content-type"}
        body = kept.get("body")
        if not isinstance(body, (dict, list)):
            body = {"detail": str(body)}
        return JSONResponse(
            body, job.result_code or 500, headers={**headers, "x-fal-request-id": job.id}
        )

    async def cancel(self, request: Request) -> Response:
        found = self._job_for(request)
        if isinstance(found, Response):
            return found
        who, job = found
        if job.kept or job.state in ("completed", "lost"):
            return _json(400, {"status": "ALREADY_COMPLETED"}, job.id)
        if job.state not in ("queued", "running"):
            return _json(400, {"status": "ALREADY_COMPLETED"}, job.id)
        try:
            answer = await self.upstream.put(job.cancel_url or "")
        except UpstreamDown as exc:
            return self._upstream_down(exc, job.id)
        self.store.cancel_requested(job.id, f"HTTP {answer.code}: {answer.words()}")
        log.info("%s asked to cancel %s: upstream answered HTTP %s", who.name, job.id, answer.code)
        if answer.code in (200, 202, 400):
            return self._relay(answer, job.id)
        words = message(
            "classroom.cancel_unsupported",
            upstream=self.name,
            status=answer.code,
            detail=answer.words(),
        )
        body = {"status": "NOT_CANCELLED", "detail": words}
        return _json(answer.code if answer.code >= 400 else 502, body, job.id)

    def _relay(self, answer: Answer, job_id: str) -> Response:
        """An upstream answer as the student sees it: scrubbed, with the gateway's request id."""
        headers = {k: v for k, v in answer.headers.items() if k != "content-type"}
        headers["x-fal-request-id"] = job_id
        if answer.body is None:
            words = scrub(answer.text.strip())[:500] or f"HTTP {answer.code}"
            return JSONResponse({"detail": words}, answer.code, headers=headers)
        return JSONResponse(scrubbed(answer.body), answer.code, headers=headers)

    # --- files, whoami, errors -----------------------------------------------------------------

    async def file(self, request: Request) -> Response:
        """A kept picture or thumbnail; its request id (random, 122 bits) is its key."""
        rid, name = request.path_params["request_id"], request.path_params["name"]
        if REQUEST_ID.fullmatch(rid) and SAFE_NAME.fullmatch(name):
            path: Path | None = Path(self.collector.results) / rid / name
            if name.endswith(THUMB) and not path.is_file():  # type: ignore[union-attr]
                path = await self.collector.thumbnail(rid, name.removesuffix(THUMB))
            if path is not None and path.is_file():
                return FileResponse(path, headers={"Cache-Control": "max-age=86400"})
        return _error(404, message("classroom.no_file"))

    async def whoami(self, request: Request) -> Response:
        """Who the token belongs to, and what the class is: `connect(classroom=…)` reads it."""
        who = self.caller(request)
        if isinstance(who, Response):
            return who
        price = self.policy.price
        spec = self.upstream.spec
        body = {
            "student": who.name,
            "upstream": spec.kind,
            "profile": spec.profile,
            "emulated": spec.emulated,
            "price": None
            if price is None
            else {"amount": amount_text(price.amount), "currency": price.currency},
            "budget": None if who.budget is None else amount_text(who.budget),
            "spent": amount_text(who.spent),
            "left": None if who.left is None else amount_text(who.left),
            "currency": who.currency,
            "max_jobs": self.policy.max_jobs,
        }
        headers = {
            "x-kling-nb-upstream": spec.kind,
            "x-kling-nb-emulated": str(spec.emulated).lower(),
        }
        return JSONResponse(body, headers=headers)

    async def nowhere(self, request: Request, exc: Exception) -> Response:
        return _error(404, message("classroom.not_here", path=request.url.path[:100]))

    async def failed(self, request: Request, exc: Exception) -> Response:
        log.error("the gateway failed on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, message("classroom.internal", detail=type(exc).__name__))


def _events_response(events: list[dict[str, Any]], job_id: str) -> Response:
    text = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
    headers = {"Cache-Control": "no-cache", "x-fal-request-id": job_id}
    return Response(text, media_type="text/event-stream", headers=headers)


def _json(code: int, body: Any, job_id: str) -> Response:
    return JSONResponse(body, code, headers={"x-fal-request-id": job_id})


def _error(code: int, words: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": scrub(words)}, code, headers=headers)


def _cost_text(cost: Decimal | None, currency: str, emulated: bool) -> str:
    if cost is None:
        return "price unknown"
    return f"{amount_text(cost)} {currency}" + (" (emulated, not billed)" if emulated else "")
