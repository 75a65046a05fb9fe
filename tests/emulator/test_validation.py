"""Every input rule reaches the client as the service's 422, at result time, with its `loc`."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import pytest

from kling_nb.emulator import _render

from .conftest import GUIDE_URL, Api, SmallModel, body, image_bytes, image_uri


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixels (what a decompression bomb looks like)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _uri(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


FIELD_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("prompt_missing", {"prompt": "  "}, ["body", "prompt"]),
    ("prompt_too_long", {"prompt": "x" * 2501}, ["body", "prompt"]),
    ("images_missing", {"image_urls": []}, ["body", "image_urls"]),
    ("images_too_many", {"image_urls": [image_uri()] * 11}, ["body", "image_urls"]),
    ("image_url_scheme", {"image_urls": ["ftp://host/a.png"]}, ["body", "image_urls", 0]),
    ("reference_out_of_range", {"prompt": "mix <<<image_2>>>"}, ["body", "prompt"]),
    ("reference_at_form", {"prompt": "mix @Image3 in"}, ["body", "prompt"]),
    ("resolution_choice", {"resolution": "8K"}, ["body", "resolution"]),
    ("aspect_choice", {"aspect_ratio": "5:4"}, ["body", "aspect_ratio"]),
    ("format_choice", {"output_format": "gif"}, ["body", "output_format"]),
    ("num_images_zero", {"num_images": 0}, ["body", "num_images"]),
    ("num_images_ten", {"num_images": 10}, ["body", "num_images"]),
    ("num_images_bool", {"num_images": True}, ["body", "num_images"]),
    ("unknown_field", {"seed": 3}, ["body", "seed"]),
    ("resolution_4k", {"resolution": "4k"}, ["body", "resolution"]),
    ("num_images_text", {"num_images": "2"}, ["body", "num_images"]),
    ("prompt_not_text", {"prompt": 12}, ["body", "prompt"]),
    ("near_miss", {"prompt": "turn @image1 into ink"}, ["body", "prompt"]),
    ("elements_on_plain", {"elements": [{"frontal_image_url": GUIDE_URL}]}, ["body", "elements"]),
]


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


# (id, the second input, a phrase of the message that rule words)
IMAGE_CASES: list[tuple[str, str, str]] = [
    ("too_many_bytes", _uri(b"\x89PNG" + bytes(10 * 1024 * 1024 + 10)), "the limit is 10 MB"),
    ("bomb", _uri(_png_header_only(20_000, 20_000)), "decompression bomb"),
    ("truncated", _uri(_cut(image_bytes((800, 600), "JPEG")), "image/jpeg"), "truncated"),
    ("undecodable", _uri(b"this is not an image at all"), "not an image that can be decoded"),
    ("bad_data_uri", "data:image/png,not-base64", "not an image that can be decoded"),
    ("format_gif", _uri(image_bytes((640, 480), "GIF"), "image/gif"), "accepts JPEG or PNG"),
    ("too_small", image_uri((299, 640)), "at least 300 px"),
    ("bad_ratio", image_uri((1000, 300)), "1:2.5 and 2.5:1"),
    ("not_remote", "https://example.com/photo.jpg", "fetches nothing from the network"),
    ("own_missing_file", "http://testserver/files/abc/image_1.png", "holds no such file"),
]


def _failed(api: Api, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    sub = api.submit(payload)
    result = api.result(sub)
    return result, api.status(sub).json()


@pytest.mark.parametrize(("case", "fields", "loc"), FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_field_rules_end_in_a_422_with_their_loc(
    api: Api, case: str, fields: dict[str, Any], loc: Sequence[Any]
) -> None:
    result, status = _failed(api, body(**fields))
    assert result.status_code == 422, result.text
    assert result.headers["x-fal-retryable"] == "false"
    detail = result.json()["detail"]
    assert [entry["loc"] for entry in detail] == [loc]
    assert detail[0]["type"] == "value_error" and detail[0]["msg"]
    assert status["status"] == "COMPLETED" and status["error_type"] == "validation_error"
    assert status["error"] == detail[0]["msg"]


@pytest.mark.parametrize(("case", "url", "phrase"), IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_image_rules_end_in_a_422_naming_the_image(
    api: Api, case: str, url: str, phrase: str
) -> None:
    payload = body(image_urls=[image_uri(), url], prompt="blend <<<image_1>>> and <<<image_2>>>")
    result, _ = _failed(api, payload)
    assert result.status_code == 422, result.text
    detail = result.json()["detail"]
    assert [entry["loc"] for entry in detail] == [["body", "image_urls", 1]]
    assert detail[0]["msg"].startswith("image_urls[1]") and phrase in detail[0]["msg"]


def test_several_broken_rules_are_all_listed(api: Api) -> None:
    payload = {"prompt": "", "image_urls": ["https://example.com/a.jpg"], "num_images": 12}
    result, _ = _failed(api, payload)
    locs = [entry["loc"] for entry in result.json()["detail"]]
    assert locs == [["body", "prompt"], ["body", "num_images"], ["body", "image_urls", 0]]


def test_validation_failures_end_quickly_without_service_time(make_api: Any) -> None:
    api = make_api(service_time=30.0)
    sub = api.submit(body(prompt=""))
    api.wait_state(sub, "COMPLETED", timeout=3.0)
    assert api.status(sub).json()["metrics"]["inference_time"] < 3.0


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
def test_every_profile_rejects_4k(make_api: Any, profile: str) -> None:
    api = make_api(profile=profile, detail_shape="object")
    result, status = _failed(api, body(resolution="4K"))
    if profile == "qiniu":  # the reason is in the status's `detail`, the result a 400
        assert result.status_code == 400 and result.json()["status"] is False
        detail = status["detail"]
    else:
        assert result.status_code == 422
        detail = result.json()["detail"][0]
    assert detail["loc"] == ["body", "resolution"]
    assert "Qiniu's guide lists 4K" in detail["msg"]


def test_2k_scales_service_time_by_pixels(make_api: Any) -> None:
    api = make_api(model=SmallModel())
    sub = api.submit(body(resolution="2k", aspect_ratio="1:1"))
    assert api.result(sub).status_code == 200
    took = api.status(sub).json()["metrics"]["inference_time"]
    assert took >= 0.05 * 4 * 0.95  # 2K = 4 MP = 4 one-image 1K jobs


def test_the_guides_sample_url_is_served_from_the_bundle(api: Api) -> None:
    sub = api.submit(body(image_urls=[GUIDE_URL], aspect_ratio="16:9"))
    result = api.result(sub)
    assert result.status_code == 200, result.text
    image = result.json()["images"][0]
    assert (image["width"], image["height"]) == _render.output_size("1K", "16:9", (1, 1))


@pytest.mark.parametrize(
    "url",
    [
        GUIDE_URL.replace("https://", "HTTPS://"),
        GUIDE_URL.replace("aitoken-public.qnaigc.com", "AITOKEN-Public.QNAIGC.com"),
        "Https://AITOKEN-PUBLIC.QNAIGC.COM" + GUIDE_URL.split(".com", 1)[1],
    ],
)
def test_the_guides_sample_is_known_whatever_the_case_of_scheme_and_host(
    make_api: Any, url: str
) -> None:
    api = make_api(model=SmallModel())
    assert api.result(api.submit(body(image_urls=[url]))).status_code == 200


def test_the_path_of_a_sample_url_keeps_its_case(make_api: Any) -> None:
    api = make_api(model=SmallModel())
    result, _ = _failed(api, body(image_urls=[GUIDE_URL.replace("running-man", "Running-Man")]))
    assert result.status_code == 422 and result.json()["detail"][0]["type"] == "value_error"


def test_upper_case_schemes_are_accepted_by_the_emulator(api: Api) -> None:
    uri = image_uri()
    sub = api.submit(body(image_urls=["DATA:" + uri[5:]], resolution="1k"))
    assert api.result(sub).status_code == 200


def test_a_broken_element_image_is_named_by_its_place(make_api: Any) -> None:
    api = make_api(profile="fal")
    bad = {"frontal_image_url": image_uri((200, 200))}
    result, _ = _failed(api, body(prompt="@Image1 and @Element1", elements=[bad]))
    assert result.json()["detail"][0]["loc"] == ["body", "elements", 0, "frontal_image_url"]
