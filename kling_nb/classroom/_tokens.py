"""Tokens: what a student (or the teacher) holds, and the keyed hash the class keeps of it.

A token is `knc_<id>_<secret>` (student) or `knt_<id>_<secret>` (teacher): the id finds the
row, the secret proves the holder. Only HMAC-SHA256(class salt, token) is stored, and it is
compared with `hmac.compare_digest`, so neither a stolen class file nor the time an answer
takes tells a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

STUDENT, TEACHER = "knc", "knt"
_SHAPE = re.compile(r"(knc|knt)_([0-9a-f]{8})_([A-Za-z0-9_-]{32})")


def mint(kind: str = STUDENT) -> tuple[str, str]:
    """A new token and its id: 32 random url-safe characters (192 bits) after the id."""
    token_id = secrets.token_hex(4)
    return token_id, f"{kind}_{token_id}_{secrets.token_urlsafe(24)}"


def token_id(token: str, kind: str = STUDENT) -> str | None:
    """The id part of a well-formed token of `kind`, else None (nothing to look up)."""
    found = _SHAPE.fullmatch(token)
    return found[2] if found is not None and found[1] == kind else None


def digest(salt: bytes, token: str) -> str:
    """What the class stores for `token`: its HMAC-SHA256 under the class salt, in hex."""
    return hmac.new(salt, token.encode("utf-8"), hashlib.sha256).hexdigest()


def matches(salt: bytes, token: str, stored: str) -> bool:
    """True when `token` hashes to `stored`; compared in constant time."""
    return hmac.compare_digest(digest(salt, token), stored)


def bearer(header: str) -> str | None:
    """The token of an `Authorization: Key <t>` (fal-client) or `Bearer <t>` header."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() in ("key", "bearer") and value and len(value) <= 200:
        return value
    return None
