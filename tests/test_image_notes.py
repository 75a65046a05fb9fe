"""Every fix made to an input image (EXIF rotation, alpha, CMYK, 16-bit, shrinking) is recorded
on the prepared image and said in one line, in the interface language."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from kling_nb import _i18n
from kling_nb._images import fixes_line, prepare_image
from kling_nb._request import KlingO1Request


def jpeg_turned() -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    Image.new("RGB", (640, 480), (90, 120, 200)).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_each_fix_is_said_in_one_line() -> None:
    sources = [
        jpeg_turned(),
        png(Image.new("RGBA", (500, 400), (200, 10, 10, 128))),
        Image.new("CMYK", (500, 400), (0, 50, 100, 0)),
        (np.arange(400 * 500, dtype=np.uint16).reshape(400, 500) * 3),
        png(Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")),
    ]
    prepared = [prepare_image(source, i) for i, source in enumerate(sources)]
    line = fixes_line(prepared)
    assert line is not None and "\n" not in line
    for words in (
        "turned upright (EXIF)",
        "transparency flattened on white",
        "CMYK → RGB",
        "16-bit → 8-bit",
        "shrunk 4000×3000 → 2048×1536",
    ):
        assert words in line, line
    assert prepared[0].notes == ("turned upright (EXIF)",)


def test_nothing_fixed_says_nothing_and_chinese_is_chinese() -> None:
    plain = prepare_image(png(Image.new("RGB", (500, 400), (1, 2, 3))))
    assert plain.fixes == () and fixes_line([plain]) is None
    _i18n.set_language("zh")
    turned = prepare_image(jpeg_turned())
    line = fixes_line([turned]) or ""
    assert line.startswith("为使输入被接受，已作如下处理：") and "按 EXIF 方向摆正" in line


def test_a_body_shrink_made_by_the_request_is_said_too() -> None:
    big = png(Image.effect_noise((900, 900), 80).convert("RGB"))
    request = KlingO1Request("x <<<image_1>>> <<<image_2>>>", [big, big])
    _, prepared = request.prepare("plain", body_cap=600 * 1024)
    line = fixes_line(prepared) or ""
    assert "to fit the request body" in line, line
