"""Why an emulated job ended without images, and how each service words that ending.

fal (and the plain protocol) end a failed request as COMPLETED with `error` and
`error_type` in the status and the reason in the result response (422: a FastAPI `detail`
list; 5xx: `{detail, error_type}`). Qiniu's queue reference says a failed request ends as
COMPLETED with the reason in `detail` (apidocs.qnaigc.com/470450793e0; string or object,
not said which): `Failure.qiniu_detail` gives either shape. docs/services.md has the sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .._rules import Violation
from .._wire import ValidationDetail

FailureKind = Literal["422", "503", "504"]
FAILURE_KINDS: tuple[FailureKind, ...] = ("422", "503", "504")
# How Qiniu's `detail` carries a failure: the message, or a `{loc, msg, type, url}` object
# (the shape of its documented ERROR webhook payload); "mixed" draws one per failed job.
DetailShape = Literal["string", "object", "mixed"]
DETAIL_SHAPES: tuple[DetailShape, ...] = ("string", "object", "mixed")

ERRORS_DOC = "https://docs.fal.ai/errors"  # the `url` of an error detail, as fal words them


@dataclass(frozen=True)
class Failure:
    """Why a job ended without images, and the result response that says so."""

    status_code: int
    error: str
    error_type: str
    detail: list[ValidationDetail] | str

    def body(self) -> dict[str, object]:
        """The result body: FastAPI-shaped for 422, `{detail, error_type}` otherwise."""
        if isinstance(self.detail, list):
            return {"detail": self.detail}
        return {"detail": self.detail, "error_type": self.error_type}

    def headers(self, request_id: str) -> dict[str, str]:
        """Headers fal sets on such a result (retryable flag, error type, timeout type)."""
        headers = {"x-fal-request-id": request_id}
        if self.status_code == 422:
            headers["X-Fal-Retryable"] = "false"
        else:
            headers["X-Fal-Error-Type"] = self.error_type
        if self.error_type == "request_timeout":
            headers["X-Fal-Request-Timeout-Type"] = "user"
        return headers

    def webhook_detail(self) -> dict[str, object]:
        """The `{loc, msg, type, url}` object of Qiniu's ERROR webhook payload."""
        if isinstance(self.detail, list) and self.detail:
            first = self.detail[0]
            loc, msg, kind = first["loc"], first["msg"], first["type"]
        else:
            loc, msg, kind = [], self.error, self.error_type
        return {"loc": loc, "msg": msg, "type": kind, "url": f"{ERRORS_DOC}#{kind}"}

    def qiniu_detail(self, shape: Literal["string", "object"]) -> object:
        """The `detail` of Qiniu's COMPLETED status for this failure, in `shape`."""
        return self.error if shape == "string" else self.webhook_detail()


def validation_failure(violations: Sequence[Violation]) -> Failure:
    """A 422 result listing every broken rule."""
    details = [v.detail() for v in violations]
    return Failure(422, details[0]["msg"], "validation_error", details)


def planned_failure(kind: FailureKind) -> Failure:
    """The failure `fail_rate` injects: a model refusal (422) or an infrastructure error."""
    if kind == "422":
        msg = "The emulated model refused this request (injected failure, fail_rate)."
        entry: ValidationDetail = {
            "loc": ["body", "prompt"],
            "msg": msg,
            "type": "content_policy_violation",
        }
        return Failure(422, msg, "content_policy_violation", [entry])
    if kind == "503":
        msg = "The runner disconnected while processing (injected failure, fail_rate)."
        return Failure(503, msg, "runner_disconnected", msg)
    msg = "The request timed out on the runner (injected failure, fail_rate)."
    return Failure(504, msg, "request_timeout", msg)


CANCELLED = Failure(
    400, "The request was cancelled before it completed.", "cancelled",
    "The request was cancelled before it completed; it has no result.",
)  # fmt: skip
START_TIMEOUT = Failure(
    504, "The request did not start within its x-fal-request-timeout.", "request_timeout",
    "The request did not start within its x-fal-request-timeout.",
)  # fmt: skip
