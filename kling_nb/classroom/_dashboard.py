"""The teacher's dashboard: one static page that fetches the class's state as JSON.

The page (`static/dashboard.html`) holds no data; `/_classroom/api/state` answers only the
teacher's token (its own, printed once by `serve`, stored hashed) and never holds a key.
Thumbnails are the kept pictures' thumbnails, under their job's random id.
"""

from __future__ import annotations

import json
import math
import time
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .._i18n import message
from .._price import amount_text
from . import _tokens
from ._app import Policy
from ._limits import GuessLimiter
from ._store import Job, Store
from ._upstream import UpstreamSpec

JOBS_SHOWN = 60
REFUSALS_SHOWN = 20
# The page loads nothing from elsewhere and runs only its own script.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def dashboard_routes(
    store: Store,
    limiter: GuessLimiter,
    spec: UpstreamSpec,
    policy: Policy,
    bundle: Path | None,
) -> list[Route]:
    """`/` and `/_classroom/` (the page), `/_classroom/api/state`, `/_classroom/bundle.pem`."""
    page = resources.files(__package__).joinpath("static/dashboard.html").read_text("utf-8")

    async def show(request: Request) -> Response:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def state(request: Request) -> Response:
        address = request.client.host if request.client else "?"
        wait = limiter.retry_after(address)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            words = message("classroom.guess_limited", address=address, seconds=seconds)
            return JSONResponse({"detail": words}, 429, headers={"Retry-After": str(seconds)})
        token = _tokens.bearer(request.headers.get("authorization", ""))
        if token is None or not store.teacher_ok(token):
            limiter.failed(address)
            return JSONResponse({"detail": message("classroom.teacher_bad")}, 401)
        body = class_state(store, limiter, spec, policy)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def ca_bundle(request: Request) -> Response:
        if bundle is None or not bundle.is_file():
            return JSONResponse({"detail": message("classroom.no_bundle")}, 404)
        return FileResponse(bundle, media_type="application/x-pem-file", filename="bundle.pem")

    return [
        Route("/", show, methods=["GET"]),
        Route("/_classroom/", show, methods=["GET"]),
        Route("/_classroom/api/state", state, methods=["GET"]),
        Route("/_classroom/bundle.pem", ca_bundle, methods=["GET"]),
    ]


def class_state(
    store: Store, limiter: GuessLimiter, spec: UpstreamSpec, policy: Policy
) -> dict[str, Any]:
    """Everything the dashboard shows: the class, students, recent jobs and refusals."""
    price = policy.price
    names = {s.id: s.name for s in store.students()}
    students = [{k: _plain(v) for k, v in row.items()} for row in store.report()]
    return {
        "now": time.time(),
        "class": {
            "upstream": spec.kind,
            "profile": spec.profile,
            "emulated": spec.emulated,
            "price": None if price is None else f"{amount_text(price.amount)} {price.currency}",
            "max_jobs": policy.max_jobs,
        },
        "students": students,
        "jobs": [_job(job, names) for job in store.jobs(limit=JOBS_SHOWN)],
        "refusals": [_worded(r, policy) for r in store.refusals(REFUSALS_SHOWN)],
        "guesses": {"failed": limiter.total, "addresses": limiter.addresses},
    }


def _job(job: Job, names: dict[int, str]) -> dict[str, Any]:
    output = job.result if job.result_code == 200 and isinstance(job.result, dict) else {}
    thumbs = [  # made on first request (`Collector.thumbnail`)
        f"/files/{job.id}/{item['file']}.thumb.jpg"
        for item in output.get("images") or []
        if isinstance(item, dict) and item.get("file")
    ]
    prompt = job.request.get("prompt")
    return {
        "id": job.id,
        "student": names.get(job.student_id, "?"),
        "state": job.state,
        "kept": job.kept,
        "result_code": job.result_code,
        "images": job.images,
        "cost": None if job.cost is None else amount_text(job.cost),
        "currency": job.currency,
        "emulated": job.emulated,
        "submitted_at": job.submitted_at,
        "completed_at": job.completed_at,
        "prompt": prompt[:200] if isinstance(prompt, str) else "",
        "thumbs": thumbs,
        "note": job.note,
        "cancel_requested": job.cancel_requested_at is not None,
    }


def _worded(refusal: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A refusal with its words: as the student read them (the facts of a refused
    reservation are worded again here)."""
    try:
        facts = json.loads(refusal["detail"])
    except (TypeError, ValueError):
        facts = {}
    words = facts.pop("detail", "") if isinstance(facts, dict) else ""
    if not words and isinstance(facts, dict):
        price = policy.price
        facts["price"] = amount_text(price.amount) if price is not None else "?"
        try:
            words = message(f"classroom.{refusal['reason']}", **facts)
        except (KeyError, IndexError):
            words = ""
    return {**{k: v for k, v in refusal.items() if k != "detail"}, "words": words}


def _plain(value: Any) -> Any:
    from decimal import Decimal

    return amount_text(value) if isinstance(value, Decimal) else value
