"""How local images travel to the service: as `data:` URIs, through fal's storage, or
through the user's own uploader.

kling_nb encodes local files, PIL images and bytes as `data:` URIs. fal accepts them (and
recommends its storage for large files); for Qiniu's O1 endpoint `image_urls` is documented
only as URLs and no source says data URIs are accepted (docs/services.md). So the transport
is a choice, `connect(upload=…)` or `KLING_NB_UPLOAD`:

- "auto" (default): data URIs; on fal (or an emulator imitating fal), fal's storage when the
  whole request would pass `AUTO_LIMIT` (fal publishes no figure; failures are reported
  from about 3 MB).
- "data": always data URIs.
- "fal": fal's storage, with the same key, through fal_client's own upload code — on fal, or
  on an emulator (which serves the same storage API). Refused elsewhere: fal_client's
  upload goes to fal's hosts, and a Qiniu key must never travel there.
- a callable `(bytes, content_type) -> https URL`: the user's own bucket.

The journal and the replay fingerprint keep the data URIs' hashes: the same picture sent by
another transport is the same request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import KlingConfigError, KlingConnectionError
from ._i18n import message
from ._wire import decode_data_uri

if TYPE_CHECKING:
    from ._config import Connection

AUTO_LIMIT = 3 * 1024 * 1024  # bytes of request body above which "auto" uploads on fal
_SUFFIX = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def mode_for(conn: Connection, body: Mapping[str, Any]) -> str | Callable[[bytes, str], str]:
    """ "data", "fal", or the user's uploader: how this request's local images travel."""
    chosen = conn.upload
    if callable(chosen):
        return chosen
    if chosen == "fal":
        if not fal_storage_reachable(conn):
            raise KlingConfigError(message("upload.fal_elsewhere", host=conn.host))
        return "fal"
    if chosen == "auto" and fal_storage_reachable(conn) and _imitates_fal(conn):
        if len(json.dumps(body, separators=(",", ":"))) > AUTO_LIMIT and _has_data(body):
            return "fal"
    return "data"


def fal_storage_reachable(conn: Connection) -> bool:
    """True where `upload="fal"` may send this connection's key: fal itself, or an emulator."""
    return conn.backend == "fal" or conn.emulated


def _imitates_fal(conn: Connection) -> bool:
    return conn.backend == "fal" or conn.profile == "fal"


def describe(conn: Connection) -> str:
    """One line for `doctor()`: how local images travel on this connection."""
    chosen = conn.upload
    if callable(chosen):
        name = getattr(chosen, "__qualname__", type(chosen).__name__)
        return message("upload.describe_callable", name=name)
    automatic = chosen == "auto" and fal_storage_reachable(conn) and _imitates_fal(conn)
    if chosen == "fal" or automatic:
        key = "upload.describe_fal" if chosen == "fal" else "upload.describe_auto_fal"
        return message(key, limit=AUTO_LIMIT // (1024 * 1024))
    return message("upload.describe_data")


def transported(conn: Connection, body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` as it goes on the wire: each `data:` image URI uploaded, when the transport
    says so, and replaced by its https URL (the body itself is never changed)."""
    how = mode_for(conn, body)
    if how == "data":
        return dict(body)

    def put(uri: str, index: int) -> str:
        content_type, data = decode_data_uri(uri)
        if how == "fal":
            from ._transport import fal_upload

            name = f"kling_nb_input_{index + 1}.{_SUFFIX.get(content_type, 'bin')}"
            return fal_upload(conn, data, content_type, name)
        assert callable(how)
        return _users_url(how, data, content_type)

    return _map_images(dict(body), put)


def _users_url(upload: Callable[[bytes, str], str], data: bytes, content_type: str) -> str:
    """What the user's uploader returned, checked: an https URL, or an error in words."""
    name = getattr(upload, "__qualname__", type(upload).__name__)
    try:
        url = upload(data, content_type)
    except Exception as exc:  # noqa: BLE001 - the user's code: any failure, said in words
        raise KlingConnectionError(
            message("upload.callable_failed", name=name, detail=f"{type(exc).__name__}: {exc}"),
            host=name,
        ) from None
    if not isinstance(url, str) or not url.lower().startswith("https://"):
        raise KlingConnectionError(
            message("upload.bad_url", source=name, value=repr(url)[:80]), host=name
        )
    return url


def _map_images(body: dict[str, Any], put: Callable[[str, int], str]) -> dict[str, Any]:
    """`body` with every data: URI in `image_urls` and `elements` passed through `put`."""
    counter = [0]

    def one(value: Any) -> Any:
        if isinstance(value, str) and value[:5].lower() == "data:":
            counter[0] += 1
            return put(value, counter[0] - 1)
        return value

    if isinstance(body.get("image_urls"), list):
        body["image_urls"] = [one(u) for u in body["image_urls"]]
    if isinstance(body.get("elements"), list):
        elements = []
        for element in body["elements"]:
            if isinstance(element, Mapping):
                element = dict(element)
                if "frontal_image_url" in element:
                    element["frontal_image_url"] = one(element["frontal_image_url"])
                if isinstance(element.get("reference_image_urls"), list):
                    element["reference_image_urls"] = [
                        one(u) for u in element["reference_image_urls"]
                    ]
            elements.append(element)
        body["elements"] = elements
    return body


def _has_data(body: Mapping[str, Any]) -> bool:
    found = [False]

    def mark(uri: str, index: int) -> str:
        found[0] = True
        return uri

    _map_images(dict(body), mark)
    return found[0]


def sent_data_uris(body: Mapping[str, Any]) -> bool:
    """True when the body as sent carried at least one `data:` image URI."""
    return _has_data(body)
