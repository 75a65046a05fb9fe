"""Short text for one-line displays and messages."""

from __future__ import annotations

from collections.abc import Sequence


def clip(text: str, width: int = 80) -> str:
    """`text` on one line (whitespace runs collapsed), cut to `width` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def clip_middle(text: str, width: int = 80) -> str:
    """`text` cut in the middle to `width` characters, so a path keeps its file name.

    The end kept is the last path part whole when it fits in half the width, else a third.
    """
    if len(text) <= width:
        return text
    name = len(text) - max(text.rfind("/"), text.rfind("\\")) - 1
    tail = name + 1 if name + 1 <= width // 2 else width // 3
    return text[: width - tail - 1] + "…" + text[-tail:]


def short(value: object, width: int = 60) -> str:
    """A value for a message: a string as is, anything else as its repr, cut to `width`.

    Never raises: a repr that fails (or a number too long for repr) is named by its type.
    """
    if isinstance(value, int) and value.bit_length() > 200:  # repr() of 4,300+ digits raises
        return f"<a number of about {int(value.bit_length() * 0.30103)} digits>"
    try:
        text = value if isinstance(value, str) else repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 1] + "…"


def cells(text: str) -> int:
    """Terminal cells `text` takes: a Chinese (wide) character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines of columns two spaces apart, each column but the last padded to its
    widest cell (in terminal cells, so Chinese text lines up too)."""
    if not rows:
        return []
    count = max(len(row) for row in rows)
    widths = [max((cells(r[i]) for r in rows if i < len(r)), default=0) for i in range(count)]
    lines = []
    for row in rows:
        padded = [cell + " " * (widths[i] - cells(cell)) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*padded, *row[-1:]]).rstrip())
    return lines
