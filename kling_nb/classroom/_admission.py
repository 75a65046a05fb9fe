"""Admission: the checks a submit passes before the gateway forwards it, and its price.

The input rules are kling_nb's own (`_rules`, with the upstream's profile), so nothing a
student's kling_nb would refuse reaches the paid service from a raw `fal_client` either.
Images sent as `data:` URIs are decoded and checked like the client checks them (size,
format, sides, ratio); image URLs are passed on unfetched, as the client does (the gateway
never fetches an address a student names).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .._price import Price
from .._rules import Violation, check_image_bytes, check_input, element_urls
from .._wire import IMAGE_MAX_BYTES, Profile, ValidationDetail, decode_data_uri
from ..emulator._queue import COUNT_CODES

SUMMARY_URL_MAX = 300


@dataclass(frozen=True)
class Priced:
    """How many output images a valid request asks for, and what they cost (None: unknown)."""

    images: int
    cost: Decimal | None
    currency: str


def violations(body: dict[str, Any], profile: Profile) -> list[Violation]:
    """Every rule the body breaks: the fields, then each `data:` image decoded and checked."""
    found = check_input(body, profile)
    if any(v.code in COUNT_CODES or v.loc[0] == "elements" for v in found):
        return found  # refused whole: no per-image work
    urls = body.get("image_urls")
    located: list[tuple[tuple[str | int, ...], object]] = [
        (("image_urls", i), u) for i, u in enumerate(urls if isinstance(urls, list) else [])
    ]
    for loc, url in located + list(element_urls(body)):
        if isinstance(url, str) and url[:5].lower() == "data:":
            found += _image_violations(loc, url)
    return found


def _image_violations(loc: tuple[str | int, ...], uri: str) -> list[Violation]:
    # Known before decoding: base64 holds 3 bytes per 4 characters.
    size = (len(uri) - uri.find(",") - 1) * 3 // 4
    if size > IMAGE_MAX_BYTES + 2:
        facts: dict[str, object] = {
            "size_mb": round(size / 2**20, 1),
            "limit_mb": IMAGE_MAX_BYTES // 2**20,
        }
        return [Violation(loc, "image_too_many_bytes", facts)]
    try:
        data = decode_data_uri(uri)[1]
    except ValueError:
        return [Violation(loc, "image_undecodable")]
    return [replace(v, loc=loc) for v in check_image_bytes(data)]


def details(found: list[Violation]) -> list[ValidationDetail]:
    """The violations as fal's 422 `detail[]` (loc, msg in words, type, url, ctx)."""
    return [v.detail() for v in found]


def priced(body: dict[str, Any], price: Price | None) -> Priced:
    """The cost of a valid body: output images × the price per image."""
    images = body.get("num_images", 1)
    count = images if isinstance(images, int) and not isinstance(images, bool) else 1
    if price is None:
        return Priced(count, None, "")
    return Priced(count, price.amount * count, price.currency)


def fingerprint(raw: bytes | bytearray) -> str:
    """The SHA-256 of the body as sent: the same request twice has the same fingerprint."""
    return hashlib.sha256(raw).hexdigest()


def summary(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the class file keeps it: every parameter, images as short labels."""
    out = {k: v for k, v in body.items() if k not in ("image_urls", "elements")}
    urls = body.get("image_urls")
    if isinstance(urls, list):
        out["image_urls"] = [_label(u) for u in urls]
    if "elements" in body:
        out["elements"] = len(body["elements"]) if isinstance(body["elements"], list) else 0
    return out


def _label(url: object) -> str:
    """`data:image/png, 812 KB, sha256:…` for a data: URI; a URL as it is (clipped)."""
    if not isinstance(url, str):
        return repr(url)[:80]
    if url[:5].lower() != "data:":
        return url[:SUMMARY_URL_MAX]
    head, _, payload = url.partition(",")
    digest = hashlib.sha256(payload.encode("ascii", "replace")).hexdigest()[:16]
    return f"{head[:60]}, {len(payload) * 3 // 4 // 1024} KB, sha256:{digest}"
