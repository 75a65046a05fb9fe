"""Make `sheet-cjk.ttf`: the few Chinese characters kling_nb draws on its contact sheets.

Pillow's bundled font has Latin letters only, so a Chinese label ("输入", "模拟 · kling_nb
模拟器", "已完成") would come out as boxes. This subset of WenQuanYi Micro Hei (Apache-2.0,
see NOTICE.md) holds printable ASCII, a few symbols and every character of the Chinese
messages a sheet draws — a few kilobytes instead of a CJK font's megabytes.

    apt-get install fonts-wqy-microhei && pip install fonttools
    python kling_nb/fonts/make_font.py

Run it again when a message drawn on a sheet changes (tests/test_gallery.py checks that the
font covers them all).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian: fonts-wqy-microhei
FAMILY = "kling_nb sheet labels (subset of WenQuanYi Micro Hei)"


def characters() -> str:
    """Every character a sheet may draw in a Chinese label, sorted."""
    sys.path.insert(0, str(HERE.parents[1]))
    from kling_nb._gallery import SHEET_MESSAGES
    from kling_nb._i18n import MESSAGES

    text = "".join(chr(c) for c in range(0x20, 0x7F)) + "·×…—→✓✗⊘（）：，"
    for key in SHEET_MESSAGES:
        text += MESSAGES[key]["zh"]
    return "".join(sorted(set(text)))


def main() -> int:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    chars = characters()
    options = subset.Options()
    options.font_number = 0
    options.hinting = False
    options.name_IDs = []  # no names of the original font: set below
    font = TTFont(SOURCE, fontNumber=0)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    names = font["name"]
    for name_id, value in ((1, FAMILY), (2, "Regular"), (4, FAMILY), (6, "kling_nb-sheet-cjk")):
        names.setName(value, name_id, 3, 1, 0x409)
    font.save(HERE / "sheet-cjk.ttf")
    (HERE / "sheet-cjk.txt").write_text(chars, encoding="utf-8")
    size = (HERE / "sheet-cjk.ttf").stat().st_size
    print(f"sheet-cjk.ttf: {len(chars)} characters, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
