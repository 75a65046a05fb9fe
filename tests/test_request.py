"""Every input rule is checked in Python before any request, with a message that names
the field, the value, the limit and the fix — in English and in Chinese."""

from __future__ import annotations

import json

import pytest

from kling_nb import KlingImageError, KlingO1Request, KlingValidationError, set_language
from kling_nb._rules import check_input

URL = "https://example.com/a.jpg"


def fields_of(exc: pytest.ExceptionInfo[KlingValidationError]) -> list[str]:
    return exc.value.fields


def test_valid_request_passes_both_profiles() -> None:
    req = KlingO1Request("turn <<<image_1>>> into watercolor", [URL], "2K", 2, "16:9")
    req.validate("qiniu")
    req.validate("fal")


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt_is_refused(prompt: str) -> None:
    with pytest.raises(KlingValidationError, match="prompt is empty") as exc:
        KlingO1Request(prompt, [URL]).validate()
    assert fields_of(exc) == ["prompt"]


def test_prompt_over_2500_characters_names_length_limit_and_excess() -> None:
    with pytest.raises(KlingValidationError) as exc:
        KlingO1Request("x" * 2503, [URL]).validate()
    text = str(exc.value)
    assert "2503" in text and "2500" in text and "by 3 characters" in text


def test_exactly_2500_characters_is_allowed() -> None:
    KlingO1Request("x" * 2500, [URL]).validate()


@pytest.mark.parametrize("profile", ["plain", "fal"])
def test_no_images_is_refused_where_text_to_image_is_not_documented(profile: str) -> None:
    with pytest.raises(KlingValidationError, match="image_urls is empty") as exc:
        KlingO1Request("edit", []).validate(profile)  # type: ignore[arg-type]
    assert "Qiniu only" in str(exc.value)


def test_a_prompt_alone_is_text_to_image_on_qiniu() -> None:
    body, images = KlingO1Request("paint a lighthouse at dusk", []).prepare("qiniu")
    assert images == [] and "image_urls" not in body
    with pytest.raises(KlingValidationError, match="image_1"):
        KlingO1Request("paint <<<image_1>>>", []).validate("qiniu")


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
@pytest.mark.parametrize("value", ["4K", "4k"])
def test_4k_is_refused_everywhere_with_the_guides_story(profile: str, value: str) -> None:
    with pytest.raises(KlingValidationError) as exc:
        KlingO1Request("edit", [URL], resolution=value).validate(profile)  # type: ignore[arg-type]
    text = str(exc.value)
    assert "guide lists 4K" in text and "fal's schema" in text and "Qiniu's API reference" in text


def test_lowercase_resolution_is_normalised() -> None:
    request = KlingO1Request("edit", [URL], resolution="2k")
    assert request.parameters()["resolution"] == "2K"
    request.validate("fal")


def test_num_images_as_text_is_a_type_error_not_out_of_range() -> None:
    with pytest.raises(KlingValidationError) as exc:
        KlingO1Request("edit", [URL], num_images="2").validate()  # type: ignore[arg-type]
    text = str(exc.value)
    assert "'2' is a str" in text and "out of range" not in text


def test_a_bytes_prompt_is_not_text_rather_than_empty() -> None:
    with pytest.raises(KlingValidationError, match="prompt must be text") as exc:
        KlingO1Request(b"edit", [URL]).validate()  # type: ignore[arg-type]
    assert "empty" not in str(exc.value)


def test_a_lone_surrogate_in_the_prompt_is_refused_in_words() -> None:
    with pytest.raises(KlingValidationError, match=r"lone surrogate\) at position 4"):
        KlingO1Request("edit\udc80 it", [URL]).validate()


def test_a_4400_digit_number_gets_a_clear_message() -> None:
    huge = 10**4400  # str(huge) raises Python's int-conversion error
    with pytest.raises(KlingValidationError, match=r"about 440\d digits"):
        KlingO1Request("edit", [URL], num_images=huge).validate()
    assert "digits" in repr(KlingO1Request("edit", [URL], num_images=huge))


@pytest.mark.parametrize("prompt", [None, 42, b"bytes", ["a"]])
def test_repr_never_raises_for_a_non_string_prompt(prompt: object) -> None:
    assert repr(KlingO1Request(prompt, [URL])).startswith("KlingO1Request(")  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["HTTPS://example.com/a.jpg", "Http://example.com/a.jpg"])
def test_url_schemes_are_case_insensitive(url: str) -> None:
    KlingO1Request("edit", [url]).validate()
    assert check_input({"prompt": "edit", "image_urls": [url]}) == []


def test_bare_at_image_needs_exactly_one_image() -> None:
    KlingO1Request("make @Image a watercolor", [URL]).validate("fal")
    with pytest.raises(KlingValidationError, match="@Image without a number"):
        KlingO1Request("make @Image a watercolor", [URL, URL]).validate("fal")


@pytest.mark.parametrize(
    ("prompt", "hint"),
    [
        ("turn @image1 into ink", "<<<image_1>>> or @Image1"),
        ("turn <<<image 1>>> into ink", "<<<image_1>>> or @Image1"),
        ("turn <<image_2>> into ink", "<<<image_2>>> or @Image2"),
    ],
)
def test_near_miss_references_get_a_hint(prompt: str, hint: str) -> None:
    with pytest.raises(KlingValidationError, match="does not read as a reference") as exc:
        KlingO1Request(prompt, [URL, URL]).validate()
    assert hint in str(exc.value)


def test_elements_are_encoded_like_images_and_checked() -> None:
    from PIL import Image

    picture = Image.new("RGB", (400, 400), "red")
    request = KlingO1Request(
        "put @Element1 next to @Image1",
        [URL],
        elements=[{"frontal_image_url": picture, "reference_image_urls": [URL, picture]}],
    )
    body, _ = request.prepare("fal")
    element = body["elements"][0]  # type: ignore[typeddict-item]
    assert element["frontal_image_url"].startswith("data:image/")
    assert element["reference_image_urls"][0] == URL
    assert "elements=1" in repr(request)


@pytest.mark.parametrize(
    ("elements", "images", "phrase"),
    [
        ([{"reference_image_urls": [URL] * 4}], 1, "the limit is 3 per element"),
        ([{"frontal_image_url": URL}] * 3, 8, "hold 11 images together"),
        ([{"frontal": URL}], 1, "is not an element"),
        ([{"frontal_image_url": URL}], 1, "@Element2, but 1 element"),
    ],
)
def test_elements_rules(elements: list[dict[str, object]], images: int, phrase: str) -> None:
    request = KlingO1Request("mix @Element2 and @Image1", [URL] * images, elements=elements)
    with pytest.raises(KlingValidationError, match=phrase):
        request.validate("fal")


def test_elements_are_refused_on_qiniu() -> None:
    request = KlingO1Request("edit", [URL], elements=[{"frontal_image_url": URL}])
    with pytest.raises(KlingValidationError, match="not offered on the qiniu profile"):
        request.validate("qiniu")


def test_eleven_images_are_refused_ten_allowed() -> None:
    KlingO1Request("edit", [URL] * 10).validate()
    with pytest.raises(KlingValidationError, match="11 images; the limit is 10. Remove 1"):
        KlingO1Request("edit", [URL] * 11).validate()


@pytest.mark.parametrize(
    "prompt", ["put <<<image_3>>> here", "put @Image3 here", "<<< image_3 >>>"]
)
def test_reference_past_the_last_image_is_refused_in_both_syntaxes(prompt: str) -> None:
    with pytest.raises(KlingValidationError, match="refers to image 3, but only 2") as exc:
        KlingO1Request(prompt, [URL, URL]).validate()
    assert fields_of(exc) == ["prompt"]


def test_reference_within_range_passes_in_both_syntaxes() -> None:
    KlingO1Request("blend <<<image_2>>> into @Image1", [URL, URL]).validate()


@pytest.mark.parametrize("n", [0, 10, -1, 2.5, "3", True])
def test_num_images_outside_1_to_9_is_refused(n: object) -> None:
    with pytest.raises(KlingValidationError, match="num_images") as exc:
        KlingO1Request("edit", [URL], num_images=n).validate()  # type: ignore[arg-type]
    assert "from 1 to 9" in str(exc.value)


@pytest.mark.parametrize("n", [1, 9])
def test_num_images_bounds_are_allowed(n: int) -> None:
    KlingO1Request("edit", [URL], num_images=n).validate()


@pytest.mark.parametrize("ratio", ["5:4", "auto ", "16x9", ""])
def test_unknown_aspect_ratio_lists_the_allowed_values(ratio: str) -> None:
    with pytest.raises(KlingValidationError, match="aspect_ratio") as exc:
        KlingO1Request("edit", [URL], aspect_ratio=ratio).validate()
    assert "16:9, 9:16, 1:1" in str(exc.value)


def test_unknown_resolution_is_refused() -> None:
    with pytest.raises(KlingValidationError, match="resolution = '8K'"):
        KlingO1Request("edit", [URL], resolution="8K").validate()


def test_output_format_must_be_png_jpeg_or_webp() -> None:
    KlingO1Request("edit", [URL], output_format="webp").validate()
    with pytest.raises(KlingValidationError, match="output_format"):
        KlingO1Request("edit", [URL], output_format="gif").validate()


def test_unknown_argument_such_as_result_type_is_named() -> None:
    with pytest.raises(KlingValidationError, match="result_type is not a parameter"):
        KlingO1Request.from_arguments({"prompt": "x", "image_urls": [URL], "result_type": "single"})


def test_image_url_must_be_http_or_data() -> None:
    assert [v.code for v in check_input({"prompt": "x", "image_urls": ["ftp://h/a.jpg"]})] == [
        "image_url_scheme"
    ]


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(KlingValidationError) as exc:
        KlingO1Request("", [URL] * 11, resolution="9K", num_images=0).validate()
    assert set(exc.value.fields) == {"prompt", "image_urls", "resolution", "num_images"}


def test_validation_error_is_a_value_error_and_in_chinese_when_asked() -> None:
    set_language("zh")
    with pytest.raises(ValueError) as exc:
        KlingO1Request("x" * 2600, [URL]).validate()
    assert "上限为 2500" in str(exc.value) and "删减 100 个字符" in str(exc.value)


def test_repr_is_short_and_has_no_data() -> None:
    req = KlingO1Request("p" * 500, [b"\x89PNG" + b"0" * 10_000])
    assert len(repr(req)) < 200


def test_reference_to_image_0_says_numbering_starts_at_1() -> None:
    with pytest.raises(KlingValidationError, match="numbered from 1"):
        KlingO1Request("use <<<image_0>>>", [URL, URL]).validate()


def test_reference_past_a_single_image_says_so_plainly() -> None:
    with pytest.raises(KlingValidationError, match="only one image is given") as exc:
        KlingO1Request("use <<<image_2>>>", [URL]).validate()
    assert "<<<image_1>>> …" not in str(exc.value)


def _noise(side: int, seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_images_are_shrunk_to_fit_the_body_cap() -> None:
    sources = [_noise(1200, seed) for seed in range(3)]
    request = KlingO1Request("mix <<<image_1>>> <<<image_2>>> <<<image_3>>>", sources)
    roomy, _ = request.prepare("plain")
    assert len(json.dumps(roomy)) > 2 * 2**20
    body, prepared = request.prepare("plain", max_body_bytes=2**20)
    assert len(json.dumps(body)) <= 2**20
    assert all(min(p.width or 0, p.height or 0) >= 300 for p in prepared)
    assert all(any("to fit the body" in fix for fix in p.fixes) for p in prepared)


def test_a_body_that_cannot_fit_names_total_cap_and_fix() -> None:
    request = KlingO1Request("edit", [_noise(1200, 1)] * 10)
    with pytest.raises(KlingImageError) as exc:
        request.prepare("plain", max_body_bytes=200_000)
    text = str(exc.value)
    assert "MB with all images encoded" in text and "the cap is 0.2 MB" in text
    assert "Send fewer or smaller images" in text
