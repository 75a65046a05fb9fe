"""Every input rule is checked in Python before any request, with a message that names
the field, the value, the limit and the fix — in English and in Chinese."""

from __future__ import annotations

import json
import re

import pytest

from kling_nb import KlingImageError, KlingO1Request, KlingValidationError, set_language
from kling_nb._rules import check_input
from kling_nb._wire import Profile

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


def test_no_images_is_refused() -> None:
    with pytest.raises(KlingValidationError, match="image_urls is empty"):
        KlingO1Request("edit", []).validate()


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


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
@pytest.mark.parametrize("value", ["4K", "4k"])
def test_4k_is_refused_on_every_profile_saying_only_the_guide_lists_it(
    profile: Profile, value: str
) -> None:
    with pytest.raises(KlingValidationError, match="Qiniu's guide lists 4K") as exc:
        KlingO1Request("edit", [URL], resolution=value).validate(profile)
    assert "fal's schema" in str(exc.value) and "'2K'" in str(exc.value)


@pytest.mark.parametrize("value", ["1k", "2k"])
def test_lowercase_resolution_is_normalised(value: str) -> None:
    request = KlingO1Request("edit", [URL], resolution=value)
    request.validate("fal")
    assert request.parameters()["resolution"] == value.upper()


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


# --- schema truth, elements, body cap and request-level messages (issues 10, 11) ---------


def _noise(side: int, seed: int = 0) -> object:
    """A photo-like image that JPEG cannot squeeze much (random pixels)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def test_text_to_image_is_valid_on_qiniu_and_sends_no_image_urls() -> None:
    body, prepared = KlingO1Request("a watercolor lighthouse", []).prepare("qiniu")
    assert "image_urls" not in body and prepared == []


@pytest.mark.parametrize("profile", ["plain", "fal"])
def test_text_to_image_is_refused_elsewhere(profile: Profile) -> None:
    with pytest.raises(KlingValidationError, match="image_urls is empty") as exc:
        KlingO1Request("a watercolor lighthouse", []).validate(profile)
    assert ("Qiniu" in str(exc.value)) == (profile == "fal")


def test_elements_are_encoded_like_image_urls_on_fal() -> None:
    element = {"frontal_image_url": _noise(400), "reference_image_urls": [URL, _noise(320, 1)]}
    request = KlingO1Request("@Image1 hugs @Element1", [URL], elements=[element])
    body, prepared = request.prepare("fal")
    sent = body["elements"][0]
    assert sent["frontal_image_url"].startswith("data:image/")
    assert sent["reference_image_urls"][0] == URL
    assert sent["reference_image_urls"][1].startswith("data:image/")
    assert len(prepared) == 4 and "elements=1" in repr(request)


@pytest.mark.parametrize("profile", ["plain", "qiniu"])
def test_elements_are_refused_on_profiles_without_them(profile: Profile) -> None:
    request = KlingO1Request("x", [URL], elements=[{"frontal_image_url": URL}])
    with pytest.raises(KlingValidationError, match="only fal's kling-image/o1") as exc:
        request.validate(profile)
    assert fields_of(exc) == ["elements"]


@pytest.mark.parametrize(
    ("elements", "images", "expected"),
    [
        ([{"reference_image_urls": [URL] * 4}], 1, "the limit is 3 per element"),
        ([{"frontal_image_url": URL}] * 4, 7, "elements (4) plus images (7)"),
        ([{"frontal_image_url": URL, "colour": "red"}], 1, "is not an element"),
        ([{}], 1, "is not an element"),
    ],
)
def test_elements_rules(elements: list, images: int, expected: str) -> None:
    with pytest.raises(KlingValidationError, match=re.escape(expected)):
        KlingO1Request("x", [URL] * images, elements=elements).validate("fal")


def test_element_reference_must_be_in_range() -> None:
    request = KlingO1Request("@Element2 waves", [URL], elements=[{"frontal_image_url": URL}])
    with pytest.raises(KlingValidationError, match="@Element2, but 1 element"):
        request.validate("fal")


def test_bare_image_reference_needs_exactly_one_image() -> None:
    KlingO1Request("make @Image a sketch", [URL]).validate("fal")
    with pytest.raises(KlingValidationError, match="bare @Image"):
        KlingO1Request("make @Image a sketch", [URL, URL]).validate("fal")


@pytest.mark.parametrize("miss", ["@image1", "<<<image 1>>>", "<<image_1>>", "@Image 1"])
def test_near_miss_references_get_a_hint(miss: str) -> None:
    with pytest.raises(KlingValidationError, match="looks like an image reference") as exc:
        KlingO1Request(f"turn {miss} into watercolor", [URL]).validate()
    assert "<<<image_1>>> or @Image1" in str(exc.value)


def test_num_images_as_text_is_a_type_error_not_out_of_range() -> None:
    with pytest.raises(KlingValidationError, match="num_images = '2' is a str") as exc:
        KlingO1Request("x", [URL], num_images="2").validate()  # type: ignore[arg-type]
    assert "out of range" not in str(exc.value)


def test_a_bytes_prompt_must_be_text_not_empty() -> None:
    with pytest.raises(KlingValidationError, match="prompt must be text") as exc:
        KlingO1Request(b"a cat", [URL]).validate()  # type: ignore[arg-type]
    assert "empty" not in str(exc.value)


def test_schemes_are_case_insensitive_on_client_and_emulator() -> None:
    KlingO1Request("x", ["HTTPS://EXAMPLE.COM/A.JPG"]).validate()
    assert check_input({"prompt": "x", "image_urls": ["DATA:image/png;base64,AA=="]}) == []


def test_a_lone_surrogate_in_the_prompt_is_refused_in_words() -> None:
    with pytest.raises(KlingValidationError, match=r"lone UTF-16 surrogate\) at position 3"):
        KlingO1Request("ab\ud800c", [URL]).validate()


def test_a_4400_digit_number_gets_a_clear_message() -> None:
    huge = 10**4400
    with pytest.raises(KlingValidationError, match="about 4400 digits") as exc:
        KlingO1Request("x", [URL], num_images=huge).validate()
    assert "Exceeds the limit" not in str(exc.value)
    assert "very large number" in repr(KlingO1Request("x", [URL], num_images=huge))


@pytest.mark.parametrize(
    "prompt", [None, b"bytes", 12, 10**4400, ["a"]], ids=["none", "bytes", "int", "huge", "list"]
)
def test_repr_of_a_request_with_a_non_string_prompt_never_raises(prompt: object) -> None:
    text = repr(KlingO1Request(prompt, [URL]))  # type: ignore[arg-type]
    assert text.startswith("KlingO1Request(prompt=")


def test_images_are_shrunk_to_fit_the_body_cap() -> None:
    request = KlingO1Request("x", [_noise(1400, i) for i in range(3)])
    big, _ = request.prepare()
    cap = 1_500_000
    assert len(json.dumps(big)) > cap
    body, prepared = request.prepare(body_cap=cap)
    assert len(json.dumps(body)) <= cap
    assert all(any("body fits" in f for f in p.fixes) for p in prepared)


def test_a_body_that_cannot_fit_names_total_cap_and_fix() -> None:
    request = KlingO1Request("x", [_noise(800, i) for i in range(10)])
    with pytest.raises(KlingValidationError, match="above the cap of 0.1 MB") as exc:
        request.prepare(body_cap=100_000)
    assert "fewer or smaller images" in str(exc.value) and "MB" in str(exc.value)


def test_a_reference_with_thousands_of_digits_is_refused_in_words() -> None:
    prompt = "x <<<image_" + "9" * 2300 + ">>> and @Element" + "7" * 150
    with pytest.raises(KlingValidationError) as caught:
        KlingO1Request(prompt, ["https://example.com/a.jpg"]).validate("fal")
    assert "digits" in str(caught.value) and "image_1" in str(caught.value)


def test_an_empty_image_name_is_called_empty_not_a_folder() -> None:
    with pytest.raises(KlingImageError, match="empty string"):
        KlingO1Request("x <<<image_1>>>", [""]).prepare("qiniu")
