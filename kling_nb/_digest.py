"""What a journal row keeps of a request: every long `data:` URI as its hash, size and a
small thumbnail (under `KLING_NB_HOME/thumbs/`), never the picture itself."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

THUMBS = "thumbs"
THUMB_SIDE = 128
THUMB_BYTES = 12_000
DATA_URI_KEPT = 256  # shorter data: URIs are kept as they are


def summarize(value: Any, home: Path, *, thumbs: bool = True) -> Any:
    """`value` as JSON-ready data, each long `data:` URI replaced by its hash, size and a
    thumbnail path (relative to `home`)."""
    if isinstance(value, str):
        if value[:5].lower() == "data:" and len(value) > DATA_URI_KEPT:
            return _data_uri_summary(value, home, thumbs)
        return value
    if isinstance(value, Mapping):
        return {str(k): summarize(v, home, thumbs=thumbs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [summarize(v, home, thumbs=thumbs) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return repr(value)  # a PIL image or array the caller passed: describe, never embed


def _data_uri_summary(uri: str, home: Path, thumbs: bool) -> dict[str, Any]:
    from ._wire import decode_data_uri

    try:
        content_type, data = decode_data_uri(uri)
    except ValueError:
        content_type, data = "?", uri.encode()
    digest = hashlib.sha256(data).hexdigest()
    summary: dict[str, Any] = {
        "data_uri_sha256": digest,
        "content_type": content_type,
        "bytes": len(data),
    }
    if thumbs and content_type.startswith("image/"):
        thumb = write_thumbnail(data, home / THUMBS / f"{digest[:32]}.jpg")
        if thumb is not None:
            summary["thumbnail"] = thumb.relative_to(home).as_posix()
    return summary


def write_thumbnail(data: bytes, target: Path) -> Path | None:
    """A small JPEG of image bytes at `target` (kept if already there); None if undecodable."""
    if target.exists():
        return target
    from PIL import Image, UnidentifiedImageError

    from ._images import thumbnail_bytes
    from ._rules import MAX_DECODED_PIXELS

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_DECODED_PIXELS:
                return None
            img.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode small
            img.load()
            jpeg = thumbnail_bytes(img, THUMB_SIDE, THUMB_BYTES)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None  # a thumbnail is a nicety: an odd image must not stop the submit
    from ._files import atomic_write_bytes

    return atomic_write_bytes(target, jpeg)  # another kernel may write the same thumbnail
