"""fal's storage upload API, emulated, so fal_client's own upload code runs offline.

fal_client 1.0.3 (`client.py`) uploads in one of two ways, both served here (the paths
relative to two module attributes a client points at the emulator):

- `REST_URL` (https://rest.fal.ai) + `/storage/auth/token?storage_type=fal-cdn-v3`: POST with
  `Authorization: Key …` → `{token, token_type, base_url, expires_at}`; then `CDN_URL`
  (https://v3.fal.media) + `/files/upload`: POST the bytes (`Content-Type`, `X-Fal-File-Name`,
  `Authorization: <token_type> <token>`) → `{access_url}`. This is the default ("fal_v3").
- `REST_URL` + `/storage/upload/initiate?storage_type=gcs`: POST `{file_name, content_type}` →
  `{upload_url, file_url}`; PUT the bytes to `upload_url`; `file_url` is the file. This is
  the fallback ("fal"), and the only way when called with `repository="fal"`.

Multipart uploads (fal_client uses them above 100 MB) are answered 413: the model takes
images up to 10 MB. Files are kept in memory up to `uploads_max_mb` (oldest dropped first)
and served at `/uploads/{key}/{name}` on both ports; an `image_urls` entry naming one is
read from memory, as the service would fetch it.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._body import MAX_BODY_BYTES, read_body

REST_PREFIX = "/_fal/rest"  # stands for https://rest.fal.ai (fal_client's REST_URL)
CDN_PREFIX = "/_fal/cdn"  # stands for https://v3.fal.media (fal_client's CDN_URL)
SIGNED_PREFIX = "/_fal/upload"  # the signed upload URL an initiate hands out
TOKEN_SECONDS = 3600
KEEP_RESERVED = 1000  # initiated uploads and tokens remembered at most
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upload:
    """One uploaded file."""

    data: bytes
    content_type: str
    name: str


class UploadStore:
    """Uploaded files by key, in memory, the oldest dropped above `max_bytes`."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.uploaded = 0
        self._files: OrderedDict[str, Upload] = OrderedDict()
        self._reserved: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._tokens: OrderedDict[str, None] = OrderedDict()

    def add(self, data: bytes, content_type: str, name: str, key: str | None = None) -> str:
        """Keep a file (it must fit `max_bytes`); its key."""
        key = key or uuid.uuid4().hex[:16]
        while self._files and self.bytes + len(data) > self.max_bytes:
            _, oldest = self._files.popitem(last=False)
            self.bytes -= len(oldest.data)
        self._files[key] = Upload(data, content_type, name)
        self.bytes += len(data)
        self.uploaded += 1
        return key

    def get(self, key: str, name: str) -> Upload | None:
        """The file uploaded as `key`/`name`, or None."""
        upload = self._files.get(key)
        return upload if upload is not None and upload.name == name else None

    def reserve(self, content_type: str, name: str) -> tuple[str, str]:
        """(key, signature) of an upload to come by a signed PUT."""
        key, signature = uuid.uuid4().hex[:16], secrets.token_urlsafe(16)
        self._reserved[key] = (signature, content_type, name)
        _trim(self._reserved)
        return key, signature

    def fill(self, key: str, signature: str, data: bytes) -> bool:
        """Store the bytes of a reserved upload; False if the key or signature is wrong."""
        reserved = self._reserved.get(key)
        if reserved is None or not secrets.compare_digest(reserved[0], signature):
            return False
        del self._reserved[key]
        self.add(data, reserved[1], reserved[2], key)
        return True

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = None
        _trim(self._tokens)
        return token

    def knows(self, token: str) -> bool:
        return token in self._tokens

    def stats(self) -> dict[str, int]:
        return {"files": len(self._files), "bytes": self.bytes, "uploaded": self.uploaded}


def _trim(items: OrderedDict[str, Any]) -> None:
    while len(items) > KEEP_RESERVED:
        items.popitem(last=False)


# (public https base, files base) for a request: where the emulator says its files are.
Bases = Callable[[Request], tuple[str, str]]


class StorageApi:
    """The upload endpoints fal_client calls, on an `UploadStore`."""

    def __init__(self, store: UploadStore, bases: Bases):
        self.store = store
        self.bases = bases

    def routes(self) -> list[Route]:
        return [
            Route(REST_PREFIX + "/storage/auth/token", self.token, methods=["POST"]),
            Route(REST_PREFIX + "/storage/upload/initiate", self.initiate, methods=["POST"]),
            Route(SIGNED_PREFIX + "/{key}", self.signed_put, methods=["PUT"]),
            Route(CDN_PREFIX + "/files/upload", self.cdn_upload, methods=["POST"]),
            Route(CDN_PREFIX + "/files/upload/multipart", self.multipart, methods=["POST"]),
        ]

    async def token(self, request: Request) -> Response:
        """A short-lived CDN token for `Authorization: Key …`."""
        if not _has_key(request):
            return _unauthorized("Send 'Authorization: Key <your fal key>'.")
        public, _ = self.bases(request)
        expires = datetime.now(timezone.utc) + timedelta(seconds=TOKEN_SECONDS)
        return JSONResponse(
            {
                "token": self.store.issue_token(),
                "token_type": "Bearer",
                "base_url": public + CDN_PREFIX,
                "expires_at": expires.isoformat(),
            }
        )

    async def initiate(self, request: Request) -> Response:
        """A signed upload URL and the file's URL, for `{file_name, content_type}`."""
        if not _has_key(request):
            return _unauthorized("Send 'Authorization: Key <your fal key>'.")
        try:
            asked = await request.json()
            kind, name = str(asked["content_type"]), str(asked.get("file_name") or "")
        except (ValueError, KeyError, TypeError):
            detail = "Send a JSON object with content_type and file_name."
            return JSONResponse({"detail": detail}, 422)
        name = _file_name(name, kind)
        key, signature = self.store.reserve(kind, name)
        public, files = self.bases(request)
        return JSONResponse(
            {
                "upload_url": f"{public}{SIGNED_PREFIX}/{key}?signature={signature}",
                "file_url": f"{files}/uploads/{key}/{name}",
            }
        )

    async def signed_put(self, request: Request) -> Response:
        """The bytes of an initiated upload."""
        data = await read_body(request, self._limit())
        if data is None:
            return self._too_large()
        signature = request.query_params.get("signature", "")
        if not self.store.fill(request.path_params["key"], signature, bytes(data)):
            return JSONResponse({"detail": "Unknown or expired upload URL."}, 403)
        return Response(status_code=200)

    async def cdn_upload(self, request: Request) -> Response:
        """One file in one request, authorised by a token from `token`."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.store.knows(token.strip()):
            return _unauthorized("Send the token from /storage/auth/token as 'Bearer <token>'.")
        data = await read_body(request, self._limit())
        if data is None:
            return self._too_large()
        kind = request.headers.get("content-type", "application/octet-stream")
        name = _file_name(request.headers.get("x-fal-file-name", ""), kind)
        key = self.store.add(bytes(data), kind, name)
        _, files = self.bases(request)
        return JSONResponse({"access_url": f"{files}/uploads/{key}/{name}"})

    async def multipart(self, request: Request) -> Response:
        detail = (
            "Multipart uploads (fal_client uses them above 100 MB) are not served by the "
            "emulator: the model takes input images up to 10 MB."
        )
        return JSONResponse({"detail": detail}, 413)

    def _limit(self) -> int:
        return min(self.store.max_bytes, MAX_BODY_BYTES)

    def _too_large(self) -> Response:
        limit_mb = self._limit() / 2**20
        detail = (
            f"The upload is larger than {limit_mb:.3g} MB, the most this emulator keeps "
            "(--uploads-max-mb). Upload a smaller file."
        )
        return JSONResponse({"detail": detail}, 413)


def upload_route(store: UploadStore) -> Route:
    """`GET /uploads/{key}/{name}`: an uploaded file, as fal's CDN serves it (public)."""

    async def serve(request: Request) -> Response:
        upload = store.get(request.path_params["key"], request.path_params["name"])
        if upload is None:
            return JSONResponse({"detail": "No such file."}, 404)
        headers = {"Cache-Control": "max-age=3600", "Access-Control-Allow-Origin": "*"}
        return Response(upload.data, media_type=upload.content_type, headers=headers)

    return Route("/uploads/{key}/{name}", serve, methods=["GET", "HEAD"])


def _has_key(request: Request) -> bool:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "key" and bool(key.strip())


def _unauthorized(detail: str) -> Response:
    return JSONResponse({"detail": detail}, 401, headers={"WWW-Authenticate": "Key"})


def _file_name(asked: str, content_type: str) -> str:
    """A safe name for a file: the one asked for, cleaned, else `upload` + the type's suffix."""
    name = _UNSAFE.sub("_", asked.rsplit("/", 1)[-1]).lstrip("._-")[:100]
    if name:
        return name
    suffix = mimetypes.guess_extension(content_type.split(";", 1)[0].strip()) or ".bin"
    return "upload" + suffix
