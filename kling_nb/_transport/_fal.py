"""fal_client itself: where the guide's raw cells (and kling_nb's submits) send."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import KlingConfigError
from .._i18n import message

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


def check_fal_client_host(conn: Connection) -> None:
    """Refuse to submit when fal_client would send somewhere other than `conn`."""
    import fal_client.client as fc

    actual = getattr(fc, "QUEUE_URL_FORMAT", None)
    if actual != conn.queue_url:
        raise KlingConfigError(
            message("config.host_mismatch", actual=actual, expected=conn.queue_url)
        )
