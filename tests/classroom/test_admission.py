"""Admission: kling_nb's rules, with the upstream's profile, on what a raw client sends."""

from __future__ import annotations

import base64
import io

from PIL import Image

from kling_nb._price import Price
from kling_nb.classroom._admission import priced, summary, violations

from ..emulator.conftest import image_uri


def _uri(size: tuple[int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_data_images_are_decoded_and_checked_like_the_client_does() -> None:
    body = {
        "prompt": "x <<<image_1>>> <<<image_2>>>",
        "image_urls": [_uri((100, 100)), _uri((900, 200))],
    }
    codes = [(v.loc, v.code) for v in violations(body, "plain")]
    assert (("image_urls", 0), "image_too_small") in codes
    assert (("image_urls", 1), "image_bad_ratio") in codes


def test_the_profile_decides_text_to_image_and_elements() -> None:
    prompt_only = {"prompt": "a cat"}
    assert violations(prompt_only, "qiniu") == []
    assert [v.code for v in violations(prompt_only, "fal")] == ["images_missing_fal"]
    elements = {
        "prompt": "x @Element1",
        "image_urls": [image_uri()],
        "elements": [{"frontal_image_url": image_uri()}],
    }
    assert violations(elements, "fal") == []
    assert [v.code for v in violations(elements, "qiniu")] == ["elements_unsupported"]


def test_the_price_is_per_output_image_and_unknown_without_one() -> None:
    from decimal import Decimal

    price = Price(Decimal("0.2"), "CNY", "teacher")
    assert priced({"num_images": 3}, price).cost == Decimal("0.6")
    assert priced({}, price).images == 1
    assert priced({"num_images": 2}, None).cost is None


def test_the_kept_summary_holds_no_image_data() -> None:
    uri = image_uri()
    kept = summary({"prompt": "p", "image_urls": [uri, "https://e.com/a.png"], "num_images": 2})
    assert kept["num_images"] == 2 and kept["image_urls"][1] == "https://e.com/a.png"
    assert "sha256:" in kept["image_urls"][0] and len(kept["image_urls"][0]) < 120
