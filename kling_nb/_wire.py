"""The fal queue wire format and the Kling O1 input schema, typed once.

Shared by the client (`kling_nb`) and the emulator (`kling_nb.emulator`); the facts and
their sources are in PROTOCOL.md. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

ENDPOINT = "fal-ai/kling-image/o1"

Resolution = Literal["1K", "2K"]
AspectRatio = Literal["auto", "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"]
OutputFormat = Literal["png", "jpeg", "webp"]
# "plain": the protocol as PROTOCOL.md writes it; "qiniu"/"fal": as each service documents it.
Profile = Literal["plain", "qiniu", "fal"]
PROFILES: tuple[Profile, ...] = ("plain", "qiniu", "fal")

# Only Qiniu's guide lists 4K; Kling's API, fal's schema and Qiniu's API reference list 1K/2K.
RESOLUTIONS: dict[Profile, tuple[str, ...]] = {p: ("1K", "2K") for p in PROFILES}
TEXT_TO_IMAGE: tuple[Profile, ...] = ("qiniu",)  # image_urls optional (Qiniu's API reference)
ELEMENTS: tuple[Profile, ...] = ("fal",)  # `elements` in fal's O1 schema only
ELEMENT_REFERENCES_MAX = 3
# The whole JSON body, data: URIs included: fal fails near 10 MB (some report ~3 MB).
BODY_MAX_BYTES = 10 * 1024 * 1024
ASPECT_RATIOS: tuple[str, ...] = ("auto", "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")
OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpeg", "webp")

PROMPT_MAX_CHARS = 2500
IMAGES_MAX = 10
NUM_IMAGES_MIN, NUM_IMAGES_MAX = 1, 9

# Per input image, as the Kling service states them.
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MIN_SIDE = 300
IMAGE_MAX_RATIO = 2.5
IMAGE_FORMATS = ("JPEG", "PNG")

# `<<<image_2>>>` (Qiniu's guide, Kling's syntax) and `@Image2` (fal's docs), 1-based.
REFERENCE = re.compile(r"(?i:<<<\s*image_(\d+)\s*>>>)|@Image(\d+)\b")
BARE_IMAGE = re.compile(r"@Image(?![\w])")  # fal: `@Image` when there is exactly one image
ELEMENT_REFERENCE = re.compile(r"@Element(\d+)\b")
# What users type meaning a reference, that the model reads as plain words.
NEAR_MISS = re.compile(
    r"<{2,3}\s*image[\s_-]*\d+\s*>{2,3}|@image\s*\d+|@IMAGE\s*\d+|@Image\s+\d+", re.IGNORECASE
)


def referenced_images(prompt: str) -> list[int]:
    """The 1-based image numbers a prompt refers to, in order of appearance."""
    return [int(a or b) for a, b in REFERENCE.findall(prompt)]


def near_misses(prompt: str) -> list[str]:
    """Spellings close to a reference that are not one (`@image1`, `<<<image 1>>>`)."""
    exact = {m.span() for m in REFERENCE.finditer(prompt)}
    return [m.group(0) for m in NEAR_MISS.finditer(prompt) if m.span() not in exact]


class Element(TypedDict):
    """One fal `elements` entry: a subject shown by a frontal and up to 3 reference images."""

    frontal_image_url: NotRequired[str]
    reference_image_urls: NotRequired[list[str]]


class KlingO1Input(TypedDict):
    """The JSON body of a submit to `fal-ai/kling-image/o1`."""

    prompt: str
    image_urls: NotRequired[list[str]]
    elements: NotRequired[list[Element]]
    sync_mode: NotRequired[bool]
    resolution: NotRequired[str]
    num_images: NotRequired[int]
    aspect_ratio: NotRequired[str]
    output_format: NotRequired[str]


class OutputImage(TypedDict):
    url: str
    content_type: str
    file_name: NotRequired[str]
    file_size: NotRequired[int]
    width: NotRequired[int]
    height: NotRequired[int]


class KlingO1Output(TypedDict):
    images: list[OutputImage]


class SubmitResponse(TypedDict):
    request_id: str
    response_url: str
    status_url: str
    cancel_url: str
    status: Literal["IN_QUEUE"]
    queue_position: NotRequired[int]


LogLevel = Literal["STDERR", "STDOUT", "ERROR", "INFO", "WARN", "DEBUG"]


class LogEntry(TypedDict):
    message: str
    level: LogLevel
    source: Literal["USER"]
    timestamp: str


StatusName = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED"]


class StatusBody(TypedDict):
    """One status answer: the poll's JSON body, or one SSE `data:` line."""

    status: StatusName
    logs: NotRequired[list[LogEntry] | None]
    queue_position: NotRequired[int]
    metrics: NotRequired[dict[str, float]]
    error: NotRequired[str]
    error_type: NotRequired[str]
    result: NotRequired[object]  # Qiniu: the output inline in a COMPLETED status


class ValidationDetail(TypedDict):
    """One entry of a FastAPI-shaped 422 `detail` list."""

    loc: list[str | int]
    msg: str
    type: str
    url: NotRequired[str]
    ctx: NotRequired[dict[str, object]]


State = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
TRANSIENT_CODES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class Transient(Exception):
    """A status or result call failed in a way worth retrying (429, 5xx, reset)."""


class StreamUnavailable(Exception):
    """The server offers no status stream; poll instead."""


class UnreadableStatus(Exception):
    """A status answer in no shape kling_nb knows: an error to report, not to retry."""


@dataclass(frozen=True)
class JobStatus:
    """One status answer, whatever path it came by."""

    state: State
    position: int | None = None
    logs: tuple[LogEntry, ...] = ()
    error: str | None = None
    error_type: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None  # the output, when the service sends it inline
    failed_as: str | None = None  # a terminal name other than COMPLETED (FAILED, ERROR, …)

    @classmethod
    def from_body(cls, body: Any, words: Callable[[Any], str] = str) -> JobStatus:
        """From the wire body of a status poll or one SSE event, leniently: `logs`,
        `queue_position` and `metrics` may be missing; any state name other than the three
        running ones is a terminal failure carrying the service's words (`words` turns a
        server's detail into a sentence)."""
        state = body.get("status") if isinstance(body, Mapping) else None
        if not isinstance(state, str) or not state:
            raise UnreadableStatus(body)
        assert isinstance(body, Mapping)
        logs = tuple(e for e in body.get("logs") or () if isinstance(e, dict) and "message" in e)
        position = body.get("queue_position")
        metrics = body.get("metrics")
        common: dict[str, Any] = {
            "logs": logs,
            "position": position if isinstance(position, int) else None,
            "metrics": metrics if isinstance(metrics, dict) else {},
        }
        if state == "IN_QUEUE" or state == "IN_PROGRESS":
            return cls(state="IN_QUEUE" if state == "IN_QUEUE" else "IN_PROGRESS", **common)
        # Qiniu reports a failed job as COMPLETED with its reason in `detail` (text or object).
        error = body.get("error") or (body.get("detail") if state == "COMPLETED" else None)
        error_type = body.get("error_type")
        if state == "COMPLETED":
            result = body.get("result")
            return cls(
                state="COMPLETED",
                error=words(error) if error else None,
                error_type=str(error_type) if error_type else None,
                result=result if isinstance(result, dict) and not error else None,
                **common,
            )
        said = words(error or body.get("detail") or body.get("message") or state)
        kind = "cancelled" if state.upper() in ("CANCELLED", "CANCELED") else error_type
        return cls(
            state="COMPLETED",
            error=said,
            error_type=str(kind) if kind else state.lower(),
            failed_as=state,
            **common,
        )

    @property
    def last_log(self) -> str | None:
        return self.logs[-1]["message"] if self.logs else None


@dataclass(frozen=True)
class Handle:
    """Where a submitted job lives: its id and the URLs the server gave for it."""

    request_id: str
    response_url: str
    status_url: str
    cancel_url: str

    @property
    def cancel_target(self) -> str:
        """The cancel URL; Qiniu answers `cancel_url: ""`, so fall back to the short form
        `…/requests/{id}/cancel` next to the status URL."""
        if self.cancel_url:
            return self.cancel_url
        base = self.status_url.split("?")[0].rstrip("/")
        base = base.removesuffix("/status")
        return base + "/cancel"


@dataclass(frozen=True)
class ResultFile:
    """One output image as the service described it (`url` always a non-empty string)."""

    url: str
    content_type: str = "image/png"
    file_name: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Output:
    """A finished job's output, parsed once where it enters: the JSON as sent, and for a
    Kling O1 job its images."""

    raw: dict[str, Any]
    images: tuple[ResultFile, ...] = ()

    @classmethod
    def parse(cls, body: Any, *, images: bool = True) -> Output:
        """`body` checked; with `images`, ValueError unless `images` is a list of objects
        each with a non-empty string `url`."""
        if not isinstance(body, dict):
            raise ValueError(f"output={_brief(body)}")
        if not images:
            return cls(body)
        entries = body.get("images")
        if not isinstance(entries, list):
            raise ValueError(f"images={_brief(entries)}")
        files = []
        for entry in entries:
            url = entry.get("url") if isinstance(entry, dict) else None
            if not isinstance(url, str) or not url:
                raise ValueError(f"images[…]={_brief(entry)}")
            assert isinstance(entry, dict)
            name = entry.get("file_name")
            files.append(
                ResultFile(
                    url,
                    str(entry.get("content_type") or "image/png"),
                    name if isinstance(name, str) else None,
                    _int_or_none(entry.get("width")),
                    _int_or_none(entry.get("height")),
                )
            )
        return cls(body, tuple(files))

    @property
    def first_url(self) -> str:
        return self.images[0].url if self.images else ""


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


class WebhookBody(TypedDict):
    """Qiniu's webhook delivery; `status` is IN_PROGRESS, OK or ERROR."""

    request_id: str
    gateway_request_id: str
    status: Literal["IN_PROGRESS", "OK", "ERROR"]
    payload: object
    error: str | None


class CancelBody(TypedDict):
    status: Literal["CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"]


def data_uri(data: bytes, content_type: str) -> str:
    """`data:<type>;base64,<payload>` for bytes."""
    import base64

    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """(content type, bytes) of a base64 `data:` URI; ValueError if it is not one."""
    import base64
    import binascii

    head, sep, payload = uri.partition(",")
    if not head.lower().startswith("data:") or not sep or not head.endswith(";base64"):
        raise ValueError("not a base64 data: URI")
    try:
        return head[5:-7] or "application/octet-stream", base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in data: URI ({exc})") from None
