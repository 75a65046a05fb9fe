"""Every input rule is checked in Python before any request, with a message that names
the field, the value, the limit and the fix — in English and in Chinese."""

from __future__ import annotations

import pytest

from kling_nb import KlingO1Request, KlingValidationError, set_language
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
