"""Short text for one-line displays."""

from __future__ import annotations


def clip(text: str, width: int = 80) -> str:
    """`text` on one line (whitespace runs collapsed), cut to `width` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
