"""A student's side: `kling_nb.connect(classroom=URL, token=…)` joins a class's gateway.

One call to the gateway's `/_classroom/whoami` checks the address, the certificate and
the token before anything is paid for, and tells the connection what the class is: the
upstream's rules (profile), its price, and whether its pictures are emulated — a gateway
on this machine is not an emulator unless it says its upstream is one.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._errors import KlingConfigError
from .._i18n import message
from .._price import Price, amount_text
from .._secrets import remember_secret, scrub
from .._wire import PROFILES

if TYPE_CHECKING:
    from .._config import Connection, Settings

JOIN_TIMEOUT = 10.0
PRICE_SOURCE = "price.source_classroom"  # a message key


@dataclass(frozen=True)
class Membership:
    """What the gateway said about the class and the student, when the connection was made."""

    student: str
    upstream: str
    emulated: bool
    budget: str | None
    left: str | None
    currency: str

    def describe(self, host: str) -> str:
        """The one line `connect()` shows."""
        if self.budget is None:
            budget = message("classroom.join_no_budget")
        else:
            budget = message(
                "classroom.join_budget", left=self.left, budget=self.budget, currency=self.currency
            )
        return message(
            "connect.classroom",
            host=host,
            student=self.student,
            upstream=self.upstream,
            budget=budget,
        )


def gateway_address(url: str) -> tuple[str, str]:
    """(https base URL, host as FAL_QUEUE_RUN_HOST spells it) of a gateway address.

    Accepts `https://host:port`, `host:port`, a path prefix behind a proxy, and a trailing
    `/queue`; refuses plain http (fal_client only speaks https)."""
    text = str(url).strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "https" or not parts.netloc:
        raise KlingConfigError(message("classroom.join_http", url=url))
    path = parts.path.rstrip("/").removesuffix("/queue")
    return f"https://{parts.netloc}{path}", f"{parts.netloc}{path}/queue"


def join(
    url: str,
    token: str | None,
    settings: Settings,
    ca_bundle: str | None = None,
    price: Price | None = None,
) -> Connection:
    """The connection to a class's gateway, checked by asking it who `token` belongs to."""
    from .._config import Connection, check_key

    base, host = gateway_address(url)
    token = (token or settings.fal_key or "").strip()
    if not token:
        raise KlingConfigError(message("classroom.join_token"))
    remember_secret(token)
    check_key(token, "token")
    bundle = ca_bundle or settings.ca_bundle
    info = _whoami(base, token, bundle)
    profile = info.get("profile")
    if profile not in PROFILES:
        raise KlingConfigError(message("classroom.join_not_gateway", url=base, status=200))
    membership = Membership(
        student=str(info.get("student", "?")),
        upstream=str(info.get("upstream", "?")),
        emulated=info.get("emulated") is True,
        budget=_text(info.get("budget")),
        left=_text(info.get("left")),
        currency=str(info.get("currency") or ""),
    )
    return Connection(
        "custom",
        host,
        token,
        profile,
        bundle,
        home=settings.home,
        price=price or _price(info.get("price"), membership.emulated),
        classroom=membership,
    )


def _whoami(base: str, token: str, bundle: str | None) -> dict[str, Any]:
    import httpx
    from fal_client.client import USER_AGENT

    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=bundle) if bundle else True
    headers = {"Authorization": f"Key {token}", "User-Agent": USER_AGENT}
    try:
        response = httpx.get(
            base + "/_classroom/whoami",
            headers=headers,
            verify=verify,
            timeout=JOIN_TIMEOUT,
            trust_env=False,
        )
    except httpx.ConnectError as exc:
        if isinstance(exc.__context__, ssl.SSLCertVerificationError) or "CERTIFICATE" in str(exc):
            raise KlingConfigError(message("classroom.join_tls", url=base)) from None
        raise KlingConfigError(
            message("classroom.join_unreachable", url=base, detail=scrub(str(exc)))
        ) from None
    except httpx.HTTPError as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}")
        raise KlingConfigError(
            message("classroom.join_unreachable", url=base, detail=detail)
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code in (401, 403, 429) and isinstance(body, dict):
        detail = scrub(str(body.get("detail", "")))
        raise KlingConfigError(
            message("classroom.join_refused", url=base, status=response.status_code, detail=detail)
        )
    if response.status_code != 200 or not isinstance(body, dict) or "student" not in body:
        raise KlingConfigError(
            message("classroom.join_not_gateway", url=base, status=response.status_code)
        )
    return body


def _price(value: Any, emulated: bool) -> Price | None:
    if not isinstance(value, dict):
        return None
    try:
        amount = Decimal(str(value.get("amount")))
    except InvalidOperation:
        return None
    currency = str(value.get("currency") or "")
    return Price(amount, currency, PRICE_SOURCE, emulated=emulated) if currency else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return amount_text(Decimal(str(value)))
    except InvalidOperation:
        return str(value)[:40]
