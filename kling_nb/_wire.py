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
