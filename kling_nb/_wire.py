"""The fal queue wire format and the Kling O1 input schema, typed once.

Shared by the client (`kling_nb`) and the emulator (`kling_nb.emulator`); the facts and
their sources are in PROTOCOL.md. Nothing here does I/O.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

from typing_extensions import NotRequired

ENDPOINT = "fal-ai/kling-image/o1"

Resolution = Literal["1K", "2K"]
AspectRatio = Literal["auto", "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"]
OutputFormat = Literal["png", "jpeg", "webp"]
# A service profile: how a service answers and which inputs it takes. `plain` is the
# protocol as PROTOCOL.md describes it; `qiniu` and `fal` as those services document it.
Profile = Literal["plain", "qiniu", "fal"]
PROFILES: tuple[Profile, ...] = ("plain", "qiniu", "fal")

# Qiniu's guide lists 4K; Kling's API, fal's schema and Qiniu's API reference do not.
RESOLUTIONS: dict[Profile, tuple[str, ...]] = dict.fromkeys(PROFILES, ("1K", "2K"))
# A prompt without images (text-to-image): documented for Qiniu's O1 queue only.
TEXT_TO_IMAGE: frozenset[Profile] = frozenset({"qiniu"})
# `elements` and `sync_mode`: fal's schema; the plain protocol follows PROTOCOL.md's table.
ELEMENTS: frozenset[Profile] = frozenset({"plain", "fal"})
SYNC_MODE: frozenset[Profile] = frozenset({"fal"})
ELEMENT_REFERENCES_MAX = 3
# The whole submit body, all data: URIs together: fal fails above ~10 MB (some report ~3 MB);
# Qiniu's limit is unpublished and large data URIs are reported to fail there too.
BODY_LIMITS: dict[Profile, int] = {"plain": 64 * 2**20, "qiniu": 10 * 2**20, "fal": 10 * 2**20}
ERRORS_DOC = "https://docs.fal.ai/errors"  # the `url` of an error detail, as fal words them
FAL_RESULT_TTL = 3600.0  # fal keeps results about an hour (fal's queue docs)
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
REFERENCE = re.compile(r"<<<\s*image_(\d{1,6})\s*>>>|@Image(\d{1,6})\b")
ELEMENT_REFERENCE = re.compile(r"@Element(\d{1,6})\b")
BARE_IMAGE = re.compile(r"@Image(?![\w])")  # fal: a bare `@Image` when there is one image


def referenced_images(prompt: str) -> list[int]:
    """The 1-based image numbers a prompt refers to, in order of appearance."""
    return [int(a or b) for a, b in REFERENCE.findall(prompt)]


def referenced_elements(prompt: str) -> list[int]:
    """The 1-based element numbers (`@ElementN`) a prompt refers to."""
    return [int(n) for n in ELEMENT_REFERENCE.findall(prompt)]


class KlingO1Input(TypedDict):
    """The JSON body of a submit to `fal-ai/kling-image/o1`."""

    prompt: str
    image_urls: list[str]
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
    queue_position: int


LogLevel = Literal["STDERR", "STDOUT", "ERROR", "INFO", "WARN", "DEBUG"]


class LogEntry(TypedDict):
    message: str
    level: LogLevel
    source: Literal["USER"]
    timestamp: str


StatusName = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]


class StatusBody(TypedDict):
    """One status answer: the poll's JSON body, or one SSE `data:` line."""

    status: StatusName
    logs: list[LogEntry] | None
    queue_position: NotRequired[int]
    metrics: NotRequired[dict[str, float]]
    error: NotRequired[str]
    error_type: NotRequired[str]


class ValidationDetail(TypedDict):
    """One entry of a FastAPI-shaped 422 `detail` list."""

    loc: list[str | int]
    msg: str
    type: str
    ctx: NotRequired[dict[str, object]]
    url: NotRequired[str]


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
    if head[:5].lower() != "data:" or not sep or not head.lower().endswith(";base64"):
        raise ValueError("not a base64 data: URI")
    try:
        return head[5:-7] or "application/octet-stream", base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in data: URI ({exc})") from None
