"""fal_client itself: where the guide's raw cells (and kling_nb's submits and uploads) send.

fal_client reads its queue host at import and its storage hosts (`REST_URL`, `CDN_URL`) at
call time. For an emulator, all three point at it: the guide's raw cells and `upload="fal"`
then run offline through the real fal_client code, and no key travels to fal's hosts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._errors import KlingConfigError, KlingConnectionError
from .._i18n import message
from .._secrets import scrub

if TYPE_CHECKING:
    from .._config import Connection


def point_fal_client(conn: Connection) -> None:
    """fal_client fixes its host at import and caches its HTTP client: renew both.

    Done whether or not fal_client was imported before, so that kling_nb's calls and the
    guide's raw cells always go to the same, chosen host.
    """
    import fal_client
    import fal_client.client as fc

    version = getattr(fal_client, "__version__", "?")
    clients = [getattr(fal_client, "sync_client", None), getattr(fal_client, "async_client", None)]
    if not hasattr(fc, "QUEUE_URL_FORMAT") or any(c is None for c in clients):
        raise KlingConfigError(message("config.fal_client_internals", version=version))
    fc.QUEUE_URL_FORMAT = conn.queue_url
    for client in clients:
        # Both are functools.cached_property values: dropping them makes the next call
        # build a client with the new key and CA bundle.
        for name in ("_client", "_auth"):
            client.__dict__.pop(name, None)
    if fc.QUEUE_URL_FORMAT != conn.queue_url:
        raise KlingConfigError(message("config.fal_client_internals", version=version))
    _point_storage(fc, conn)


@contextlib.contextmanager
def _trusting(bundle: str | None) -> Iterator[None]:
    """`SSL_CERT_FILE` naming `bundle` (system CAs plus an emulator's) while the block runs:
    fal_client's storage clients are plain httpx clients, which read it when made."""
    if not bundle:
        yield
        return
    before = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = bundle
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = before


_STORAGE_DEFAULTS: dict[str, str] = {}
_upload_lock = threading.Lock()


def _point_storage(fc: object, conn: Connection) -> None:
    """fal's storage hosts for fal (and any real service), the emulator's for an emulator."""
    for name in ("REST_URL", "CDN_URL"):
        if hasattr(fc, name):
            _STORAGE_DEFAULTS.setdefault(name, getattr(fc, name))
    if not _STORAGE_DEFAULTS:
        return
    if conn.emulated:
        origin = "https://" + conn.host.split("/", 1)[0]
        targets = {"REST_URL": origin + "/_fal/rest", "CDN_URL": origin + "/_fal/cdn"}
    else:
        targets = dict(_STORAGE_DEFAULTS)
    for name, value in targets.items():
        setattr(fc, name, value)


def fal_upload(conn: Connection, data: bytes, content_type: str, file_name: str) -> str:
    """Put `data` in fal's storage with fal_client's own upload code and this connection's key
    (the emulator's storage for an emulator); its public URL. KlingConnectionError in words."""
    import fal_client
    import fal_client.client as fc
    import httpx

    with _upload_lock, _trusting(conn.ca_bundle):  # fal_client reads its hosts at call time
        _point_storage(fc, conn)
        client = _closing_client()(key=conn.key)
        try:
            url = client.upload(data, content_type, file_name=file_name)
        except (fal_client.FalClientHTTPError, httpx.HTTPError, KeyError, ValueError) as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}")
            raise KlingConnectionError(
                message("upload.fal_failed", host=conn.host, detail=detail[:300]), host=conn.host
            ) from None
        finally:
            client.close_sessions()
    # An emulator serves its files over plain http on loopback, as it serves results.
    schemes = ("https://", "http://127.", "http://localhost") if conn.emulated else ("https://",)
    if not isinstance(url, str) or not url.startswith(schemes):
        raise KlingConnectionError(
            message("upload.bad_url", source="fal", value=repr(url)[:80]), host=conn.host
        )
    return url


@functools.cache
def _closing_client() -> Any:
    """fal_client's SyncClient, keeping the HTTP sessions an upload opens so that they can
    be closed after it (fal_client leaves its storage sessions to the garbage collector:
    one open socket per upload, and an unclosed-socket warning each)."""
    import fal_client

    class ClosingSyncClient(fal_client.SyncClient):
        def _get_cdn_client(self) -> Any:
            made = super()._get_cdn_client()
            self.__dict__.setdefault("_made", []).append(made)
            return made

        def close_sessions(self) -> None:
            made = [*self.__dict__.pop("_made", []), self.__dict__.pop("_client", None)]
            for session in filter(None, made):
                with contextlib.suppress(Exception):
                    session.close()

    return ClosingSyncClient


def check_fal_client_host(conn: Connection) -> None:
    """Refuse to submit when fal_client would send somewhere other than `conn`."""
    import fal_client.client as fc

    actual = getattr(fc, "QUEUE_URL_FORMAT", None)
    if actual != conn.queue_url:
        raise KlingConfigError(
            message("config.host_mismatch", actual=actual, expected=conn.queue_url)
        )
