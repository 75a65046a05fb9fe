"""Contact sheets: several pictures with captions, as one small JPEG.

A notebook shows a result as one `image/jpeg` output plus `text/plain`: it looks the same
in JupyterLab, Colab, VS Code and on GitHub, stays small in a saved notebook (≤ 80 KB a
picture), and nbval, which does not compare images, stays deterministic.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

BYTES_PER_PICTURE = 80_000
CAPTION_HEIGHT = 22
# Pillow's bundled font has Latin-1 letters but draws these as boxes.
PLAIN = str.maketrans({"×": "x", "✓": "ok", "✗": "x", "⊘": "-", "—": "-", "→": "->", "…": "..."})
GAP = 8
BACKGROUND = (246, 246, 244)
INK = (40, 40, 40)
ACCENT = (200, 60, 40)


@dataclass(frozen=True)
class Cell:
    """One picture of a sheet and its caption."""

    image: Image.Image
    caption: str = ""


def contact_sheet(
    cells: Sequence[Cell],
    *,
    columns: int | None = None,
    cell_side: int = 320,
    title: str = "",
    rows_titles: Sequence[str] = (),
    row_length: int | None = None,
) -> bytes:
    """A JPEG of `cells` in a grid (`row_length` starts a new row every N cells)."""
    n = max(1, len(cells))
    columns = columns or row_length or min(n, 3)
    rows = -(-n // columns)
    label_w = 90 if rows_titles else 0
    title_h = CAPTION_HEIGHT + GAP if title else 0
    width = label_w + columns * (cell_side + GAP) + GAP
    height = title_h + rows * (cell_side + CAPTION_HEIGHT + GAP) + GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font(14)
    if title:
        draw.text((GAP, GAP), title.translate(PLAIN), fill=ACCENT, font=font)
    for i, cell in enumerate(cells):
        row, col = divmod(i, columns)
        x0 = label_w + GAP + col * (cell_side + GAP)
        y0 = title_h + GAP + row * (cell_side + CAPTION_HEIGHT + GAP)
        thumb = cell.image.convert("RGB")
        thumb.thumbnail((cell_side, cell_side), Image.Resampling.LANCZOS)
        sheet.paste(
            thumb, (x0 + (cell_side - thumb.width) // 2, y0 + (cell_side - thumb.height) // 2)
        )
        draw.text((x0, y0 + cell_side + 4), cell.caption.translate(PLAIN), fill=INK, font=font)
    for row, text in enumerate(rows_titles[:rows]):
        y = title_h + GAP + row * (cell_side + CAPTION_HEIGHT + GAP) + cell_side // 2
        draw.text((GAP, y), text.translate(PLAIN), fill=ACCENT, font=font)
    return _fit_jpeg(sheet, BYTES_PER_PICTURE * n)


def mime_bundle(jpeg: bytes, text: str) -> dict[str, str]:
    """An IPython display bundle: the picture plus its text."""
    return {"image/jpeg": base64.b64encode(jpeg).decode("ascii"), "text/plain": text}


def _fit_jpeg(image: Image.Image, budget: int) -> bytes:
    """Encode as JPEG within `budget` bytes, lowering quality, then size, as needed."""
    for scale in (1.0, 0.8, 0.6, 0.45, 0.3):
        sized = (
            image
            if scale == 1.0
            else image.resize(
                (max(1, int(image.width * scale)), max(1, int(image.height * scale))),
                Image.Resampling.LANCZOS,
            )
        )
        for quality in (85, 75, 60, 45):
            buf = io.BytesIO()
            sized.save(buf, "JPEG", quality=quality, optimize=True)
            if buf.tell() <= budget:
                return buf.getvalue()
    return buf.getvalue()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()
