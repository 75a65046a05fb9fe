"""Contact sheets label pictures in the interface language: Chinese labels are drawn with the
bundled subset font (not as boxes), which holds every character a sheet's messages use."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageDraw

from kling_nb import _gallery
from kling_nb._i18n import MESSAGES


def drawn(text: str) -> Image.Image:
    image = Image.new("RGB", (120, 24), _gallery.BACKGROUND)
    _gallery._text(ImageDraw.Draw(image), (2, 2), text, _gallery.INK)
    return image


def test_the_subset_font_covers_every_chinese_label_a_sheet_draws() -> None:
    missing = {
        key: sorted(set(MESSAGES[key]["zh"]) - _gallery._cjk_characters())
        for key in _gallery.SHEET_MESSAGES
    }
    assert not any(missing.values()), f"run kling_nb/fonts/make_font.py: {missing}"


def test_chinese_labels_are_glyphs_not_boxes() -> None:
    # Boxes would make every two-character word look the same.
    inputs, outputs, done = drawn("输入"), drawn("输出"), drawn("已完成")
    assert ImageChops.difference(inputs, outputs).getbbox() is not None
    assert ImageChops.difference(inputs, drawn("输入")).getbbox() is None  # and it is stable
    assert done.getbbox() is not None


def test_latin_labels_keep_pillows_font() -> None:
    ink = Image.new("RGB", (120, 24), _gallery.BACKGROUND)
    ImageDraw.Draw(ink).text((2, 2), "inputs", fill=_gallery.INK, font=_gallery._font(14))
    assert ImageChops.difference(drawn("inputs"), ink).getbbox() is None
