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
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BYTES_PER_PICTURE = 80_000
CAPTION_HEIGHT = 22
# Pillow's bundled font has Latin-1 letters but draws these as boxes.
PLAIN = str.maketrans({"×": "x", "✓": "ok", "✗": "x", "⊘": "-", "—": "-", "→": "->", "…": "..."})
# Chinese labels are drawn with a small subset font that holds exactly their characters
# (fonts/make_font.py, fonts/NOTICE.md); any other text keeps Pillow's font.
FONTS = Path(__file__).with_name("fonts")
SHEET_MESSAGES = (
    "result.inputs",
    "result.outputs",
    "result.emulated_title",
    *("drift.caption", "drift.caption_leak", "drift.caption_na"),
    *("region.label_box", "region.label_mask"),
    *(f"engine.state.{s}" for s in ("submitting", "queued", "running", "downloading")),
    *(f"engine.state.{s}" for s in ("completed", "failed", "cancelled", "rejected", "unknown")),
)
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
    """A JPEG of `cells` in a grid (`row_length` starts a new row every N cells); each
    picture fits a `cell_side` square, and each row is as tall as its tallest picture."""
    columns = columns or row_length or min(max(1, len(cells)), 3)
    thumbs = [_thumbnail(cell.image, cell_side) for cell in cells]
    rows = [thumbs[i : i + columns] for i in range(0, max(1, len(thumbs)), columns)]
    heights = [max((t.height for t in row), default=cell_side) for row in rows]
    label_w = 90 if rows_titles else 0
    title_h = CAPTION_HEIGHT + GAP if title else 0
    width = label_w + columns * (cell_side + GAP) + GAP
    height = title_h + sum(h + CAPTION_HEIGHT + GAP for h in heights) + GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        _text(draw, (GAP, GAP), title, ACCENT)
    y0 = title_h + GAP
    for r, (row, row_h) in enumerate(zip(rows, heights, strict=True)):
        for c, thumb in enumerate(row):
            x0 = label_w + GAP + c * (cell_side + GAP)
            sheet.paste(
                thumb, (x0 + (cell_side - thumb.width) // 2, y0 + (row_h - thumb.height) // 2)
            )
            _text(draw, (x0, y0 + row_h + 4), cells[r * columns + c].caption, INK)
        if r < len(rows_titles):
            _text(draw, (GAP, y0 + row_h // 2), rows_titles[r], ACCENT)
        y0 += row_h + CAPTION_HEIGHT + GAP
    return _fit_jpeg(sheet, BYTES_PER_PICTURE * max(1, len(cells)))


def _thumbnail(image: Image.Image, side: int) -> Image.Image:
    thumb = image.convert("RGB")
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    return thumb


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


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, fill: tuple[int, ...]) -> None:
    """Draw a label: Pillow's font for Latin text, the subset font for a Chinese one (and
    for one with a symbol Pillow's font lacks, such as the Δ of "ΔE")."""
    if not text.isascii() and set(text) <= _cjk_characters():
        draw.text(xy, text, fill=fill, font=_cjk_font(14))
    else:
        draw.text(xy, text.translate(PLAIN), fill=fill, font=_font(14))


@cache
def _cjk_characters() -> frozenset[str]:
    try:
        return frozenset((FONTS / "sheet-cjk.txt").read_text(encoding="utf-8"))
    except OSError:  # a build without the font: Chinese labels come out as boxes, nothing fails
        return frozenset()


@cache
def _cjk_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONTS / "sheet-cjk.ttf"), size)
    except OSError:
        return _font(size)


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()
