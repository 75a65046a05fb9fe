"""kling_nb._images: every safe fix is made, every unusable image is refused, nothing leaks."""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from kling_nb import _images
from kling_nb._errors import KlingImageError, KlingValidationError
from kling_nb._i18n import set_language
from kling_nb._images import (
    MAX_PAYLOAD_BYTES,
    MAX_SIDE,
    PreparedImage,
    describe_source,
    load_image,
    open_image,
    prepare_image,
    thumbnail_bytes,
    thumbnail_data_uri,
    to_image_url,
)
from kling_nb._rules import check_image_bytes
from kling_nb._wire import data_uri, decode_data_uri

RED = (255, 0, 0)


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _reset_language() -> Iterator[None]:
    yield
    set_language(None)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth gradient with mild grain: compresses like a photo."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = np.random.default_rng(seed).normal(0, 6, (height, width, 1))
    rgb = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=2)
    return Image.fromarray(np.clip(rgb + grain, 0, 255).astype(np.uint8))


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def sent(prepared: PreparedImage) -> tuple[Image.Image, bytes]:
    """The image the service would receive, after checking it against the service's rules."""
    content_type, data = decode_data_uri(prepared.url)
    assert content_type == prepared.content_type
    assert check_image_bytes(data) == []
    assert len(data) <= MAX_PAYLOAD_BYTES
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == (prepared.width, prepared.height)
    assert _images.describe_source(prepared.url).startswith("data: URI")
    return image, data


def close(pixel: Any, expected: tuple[int, ...], tolerance: int = 12) -> bool:
    values = pixel if isinstance(pixel, tuple) else (pixel,)
    return all(abs(a - b) <= tolerance for a, b in zip(values, expected, strict=True))


def png_declaring(width: int, height: int) -> bytes:
    """A real PNG whose IHDR is patched (with a valid CRC) to declare another size."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return encode(photo(1500, 1000).resize((6000, 4000)), "JPEG", quality=85)


# --- fixes ----------------------------------------------------------------------------------


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    stored = photo(600, 400)
    stored.paste(RED, (0, 0, 60, 60))  # top-left as stored: top-right once rotated 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    prepared = prepare_image(encode(stored, "JPEG", quality=95, exif=exif))
    image, _ = sent(prepared)
    assert image.size == (400, 600)
    assert "exif_rotated" in prepared.fixes
    assert close(image.getpixel((380, 20)), RED, 40)
    assert not close(image.getpixel((20, 20)), RED, 40)
    assert image.getexif().get(0x0112) is None


def test_large_exif_rotated_jpeg_is_shrunk_upright(big_jpeg: bytes) -> None:
    source = Image.open(io.BytesIO(big_jpeg))
    exif = Image.Exif()
    exif[0x0112] = 8
    prepared = prepare_image(encode(source, "JPEG", quality=85, exif=exif))
    assert (prepared.width, prepared.height) == (1365, 2048)
    assert "shrunk 4000x6000→1365x2048" in prepared.fixes


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (400, 400), (0, 255, 255, 0))  # pure red in CMYK
    prepared = prepare_image(encode(cmyk, "JPEG", quality=95))
    image, _ = sent(prepared)
    assert image.mode == "RGB"
    assert "cmyk_to_rgb" in prepared.fixes
    assert close(image.getpixel((200, 200)), RED, 20)


def test_sixteen_bit_png_becomes_8bit_with_full_range() -> None:
    ramp = np.tile(np.linspace(0, 65535, 512).astype(np.uint16), (400, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # a real 16-bit PNG
    prepared = prepare_image(data)
    image, _ = sent(prepared)
    assert "16bit_to_8bit" in prepared.fixes
    assert (image.mode, prepared.content_type) == ("L", "image/png")
    assert image.getpixel((0, 10)) == 0
    assert image.getpixel((511, 10)) == 255
    assert close(image.getpixel((256, 10)), (128,), 2)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_pixels_are_flattened_on_white(mode: str) -> None:
    rgba = Image.new("RGBA", (400, 400), (*RED, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 200, 400))
    source = rgba.convert("LA") if mode == "LA" else rgba
    if mode == "P":
        source = rgba.convert("RGB").quantize(4)
        source.info["transparency"] = source.getpixel((10, 10))
    prepared = prepare_image(encode(source, "PNG"))
    image, _ = sent(prepared)
    assert "alpha_flattened" in prepared.fixes
    assert image.mode == ("L" if mode == "LA" else "RGB")
    white = (255,) * len(image.getbands())
    assert image.getpixel((10, 10)) == (white if len(white) > 1 else 255)
    assert image.getpixel((300, 10)) != image.getpixel((10, 10))


@pytest.mark.parametrize(
    ("fmt", "content_type", "fix"),
    [
        ("WEBP", "image/jpeg", "webp_to_jpeg"),
        ("BMP", "image/png", "bmp_to_png"),
        ("GIF", "image/png", "gif_to_png"),
        ("TIFF", "image/png", "tiff_to_png"),
    ],
)
def test_other_formats_are_reencoded(fmt: str, content_type: str, fix: str) -> None:
    source = photo(500, 400) if fmt != "GIF" else photo(500, 400).quantize(64)
    prepared = prepare_image(encode(source, fmt))
    image, _ = sent(prepared)
    assert prepared.content_type == content_type
    assert image.format == content_type.split("/")[1].upper()
    assert fix in prepared.fixes
    assert (prepared.width, prepared.height) == (500, 400)


def test_animated_gif_sends_its_first_frame() -> None:
    frames = [Image.new("RGB", (400, 400), colour) for colour in (RED, (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    prepared = prepare_image(data)
    image, _ = sent(prepared)
    assert "first_frame" in prepared.fixes
    assert close(image.convert("RGB").getpixel((200, 200)), RED, 4)


def test_large_image_is_shrunk_keeping_its_ratio(big_jpeg: bytes) -> None:
    prepared = prepare_image(big_jpeg)
    sent(prepared)
    assert prepared.width is not None and prepared.height is not None
    assert max(prepared.width, prepared.height) == MAX_SIDE
    assert abs(prepared.width / prepared.height - 1.5) / 1.5 < 0.01
    assert "shrunk 6000x4000→2048x1365" in prepared.fixes


def test_noisy_png_over_10mb_ends_within_budget() -> None:
    data = encode(noise(1900, 1900), "PNG", compress_level=1)
    assert len(data) > 10 * 2**20
    prepared = prepare_image(data)
    _, sent_bytes = sent(prepared)
    assert len(sent_bytes) <= MAX_PAYLOAD_BYTES
    assert len(prepared.url) < MAX_PAYLOAD_BYTES * 4 // 3 + 100
    assert "png_to_jpeg" in prepared.fixes
    assert any(fix.startswith("compressed 10.") for fix in prepared.fixes)


def test_budget_lowers_quality_then_size_but_never_below_300px(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_images, "MAX_PAYLOAD_BYTES", 150_000)
    prepared = prepare_image(noise(1200, 800))
    content_type, data = decode_data_uri(prepared.url)
    assert len(data) <= 150_000
    assert "quality 70" in prepared.fixes
    assert any(fix.startswith("shrunk 1200x800→") for fix in prepared.fixes)
    assert prepared.height is not None and 300 <= prepared.height < 800
    monkeypatch.setattr(_images, "MAX_PAYLOAD_BYTES", 20_000)
    with pytest.raises(KlingImageError) as caught:
        prepare_image(noise(900, 600))
    assert caught.value.violations[0].code == "image_too_many_bytes"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_ideal_image_is_sent_byte_identical(fmt: str) -> None:
    data = encode(photo(800, 600), fmt)
    prepared = prepare_image(data)
    content_type = f"image/{fmt.lower()}"
    assert prepared.url == data_uri(data, content_type)
    assert (prepared.fixes, prepared.content_type) == ((), content_type)
    assert to_image_url(data_uri(data, "application/octet-stream")) == prepared.url


def test_grey_stays_grey_and_1bit_becomes_8bit_grey() -> None:
    grey = encode(photo(500, 400).convert("L"), "JPEG")
    assert prepare_image(grey).url == data_uri(grey, "image/jpeg")
    bilevel_png = encode(photo(500, 400).convert("1"), "PNG")
    assert prepare_image(bilevel_png).url == data_uri(bilevel_png, "image/png")  # valid as is
    bilevel = Image.new("1", (500, 400))
    bilevel.paste(1, (250, 0, 500, 400))
    image, _ = sent(prepare_image(bilevel))
    assert image.mode == "L"
    assert close(image.getpixel((100, 200)), (0,), 10)
    assert close(image.getpixel((400, 200)), (255,), 10)


def _srgb_profile(*, swap_red_green: bool = False) -> bytes:
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    if swap_red_green:  # the red and green primaries trade places: a wide, foreign profile
        tags = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(icc[131])}
        red, green = tags[b"rXYZ"], tags[b"gXYZ"]
        icc[red + 4 : red + 8], icc[green + 4 : green + 8] = (
            icc[green + 4 : green + 8],
            icc[red + 4 : red + 8],
        )
        name = "sRGB built-in".encode("utf-16-be")
        icc[icc.index(name) : icc.index(name) + len(name)] = "Swapped R & G".encode("utf-16-be")
    return bytes(icc)


def test_srgb_profile_is_kept_and_a_foreign_one_converted_to_srgb() -> None:
    plain = encode(Image.new("RGB", (400, 400), RED), "PNG", icc_profile=_srgb_profile())
    assert prepare_image(plain).url == data_uri(plain, "image/png")
    foreign = _srgb_profile(swap_red_green=True)
    data = encode(Image.new("RGB", (400, 400), RED), "PNG", icc_profile=foreign)
    prepared = prepare_image(data)
    image, sent_bytes = sent(prepared)
    assert "icc_to_srgb" in prepared.fixes
    assert close(image.getpixel((5, 5)), (0, 255, 0), 30)  # its "red" is sRGB's green
    assert "icc_profile" not in image.info
    assert b"Swapped" not in sent_bytes


# --- every kind of source -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "mode", "pixel"),
    [
        (np.full((400, 500), 128, np.uint8), "L", (128,)),
        (np.full((400, 500, 1), 128, np.uint8), "L", (128,)),
        (np.full((400, 500, 3), (255, 128, 0), np.uint8), "RGB", (255, 128, 0)),
        (np.full((400, 500, 4), (255, 128, 0, 0), np.uint8), "RGB", (255, 255, 255)),
        (np.full((400, 500), 32768, np.uint16), "L", (128,)),
        (np.full((400, 500, 3), (65535, 0, 40000), np.uint16), "RGB", (255, 0, 156)),
        (np.full((400, 500), 0.5, np.float32), "L", (128,)),
        (np.full((400, 500, 3), (1.0, 0.5, 0.0), np.float64), "RGB", (255, 128, 0)),
        (np.full((400, 500, 4), (0.0, 0.0, 1.0, 1.0), np.float32), "RGB", (0, 0, 255)),
        (np.full((400, 500), True), "L", (255,)),
        (np.full((400, 500), 200, np.int64), "L", (200,)),
    ],
    ids=lambda v: str(v.dtype) + "x" + str(v.shape[2:]) if isinstance(v, np.ndarray) else None,
)
def test_numpy_arrays_are_encoded(array: np.ndarray, mode: str, pixel: tuple[int, ...]) -> None:
    prepared = prepare_image(array)
    image, _ = sent(prepared)
    assert (image.mode, image.size) == (mode, (500, 400))
    assert close(image.getpixel((250, 200)), pixel, 3)  # PNG-exact or JPEG on a flat colour
    assert prepared.source_label.startswith("numpy array 400×500")


def test_numpy_array_non_contiguous_view_is_encoded() -> None:
    array = np.zeros((800, 1000, 3), np.uint8)
    array[..., 0] = 200
    image, _ = sent(prepare_image(array[::2, ::2]))
    assert image.size == (500, 400)
    assert close(image.getpixel((10, 10)), (200, 0, 0), 3)


def test_pil_image_is_encoded_and_left_untouched() -> None:
    original = Image.new("RGBA", (600, 400), (*RED, 0))
    before = original.tobytes()
    prepared = prepare_image(original)
    image, _ = sent(prepared)
    assert image.size == (600, 400)
    assert (original.mode, original.tobytes()) == ("RGBA", before)
    assert prepared.source_label == "PIL image 600×400 RGBA"


def test_bytes_path_str_and_tilde_give_the_same_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(photo(640, 480), "JPEG")
    (tmp_path / "cat.jpg").write_bytes(data)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    expected = data_uri(data, "image/jpeg")
    sources: list[Any] = [data, tmp_path / "cat.jpg", str(tmp_path / "cat.jpg"), "~/cat.jpg"]
    sources.append((tmp_path / "cat.jpg").as_uri())
    for source in sources:
        assert to_image_url(source) == expected
    assert prepare_image(tmp_path / "cat.jpg").source_label == "cat.jpg"
    assert prepare_image(bytearray(data)).source_label.startswith("bytes")


def test_http_url_passes_through_unfetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("prepare_image touched the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    url = "https://example.invalid/photos/cat.jpg?size=big"
    prepared = prepare_image(url, 4)
    assert (prepared.url, prepared.width, prepared.content_type) == (url, None, None)
    assert prepared.is_remote and prepared.byte_size is None
    assert to_image_url("HTTP://EXAMPLE.INVALID/X.PNG") == "HTTP://EXAMPLE.INVALID/X.PNG"


# --- refusals -------------------------------------------------------------------------------

Source = Callable[[Path], object]


def _cut(fmt: str) -> Source:
    return lambda _: encode(photo(500, 400), fmt)[: len(encode(photo(500, 400), fmt)) // 2]


REFUSALS: list[tuple[str, Source, str, list[str], list[str]]] = [
    (
        "too_small",
        lambda _: encode(photo(200, 400), "JPEG"),
        "image_too_small",
        ["200×400 px", "at least 300 px", "Use a larger image"],
        ["200×400 像素", "至少需要 300 像素", "请使用更大的图片"],
    ),
    (
        "ratio_3_to_1",
        lambda _: photo(900, 300),
        "image_bad_ratio",
        ["900×300 px", "ratio 3.0:1", "within 1:2.5 and 2.5:1", "Crop it first"],
        ["900×300 像素", "宽高比 3.0:1", "1:2.5 到 2.5:1", "请先裁剪"],
    ),
    (
        "text_bytes",
        lambda _: b"Hello, this is a text file, not a picture.\n" * 20,
        "image_undecodable",
        ["not an image that can be decoded", "Use a JPEG or PNG file"],
        ["不是可解码的图片", "请使用 JPEG 或 PNG 文件"],
    ),
    (
        "truncated_jpeg",
        _cut("JPEG"),
        "image_truncated",
        ["truncated image file", "Download or export it again"],
        ["不完整的图片文件", "请重新下载或导出"],
    ),
    (
        "truncated_png",
        _cut("PNG"),
        "image_truncated",
        ["truncated image file", "Download or export it again"],
        ["不完整的图片文件", "请重新下载或导出"],
    ),
    (
        "bomb_20000",
        lambda _: png_declaring(20000, 20000),
        "image_too_many_pixels",
        ["20000×20000 px (400 megapixels)", "limit is 100 megapixels", "Downscale it"],
        ["20000×20000 像素（400 百万像素）", "上限为 100 百万像素", "请先用图片编辑器缩小"],
    ),
    (
        "bomb_just_over",
        lambda _: data_uri(png_declaring(10001, 10001), "image/png"),
        "image_too_many_pixels",
        ["10001×10001 px (100 megapixels)", "limit is 100 megapixels", "Downscale it"],
        ["10001×10001 像素", "上限为 100 百万像素", "缩小"],
    ),
    (
        "missing_file",
        lambda tmp: tmp / "nope.jpg",
        "image_missing_file",
        ["no file at", "nope.jpg", "Check the path", os.getcwd()],
        ["找不到文件", "nope.jpg", "请检查路径", os.getcwd()],
    ),
    (
        # A deep folder: the message shortens the path in the middle and keeps the file name.
        "missing_file_deep",
        lambda tmp: tmp.joinpath(*["a-rather-long-folder-name"] * 6, "holiday-photo.jpg"),
        "image_missing_file",
        ["no file at", "…/holiday-photo.jpg'", "Check the path"],
        ["找不到文件", "…/holiday-photo.jpg'", "请检查路径"],
    ),
    (
        "directory",
        lambda tmp: tmp,
        "image_not_regular_file",
        ["is a folder, not a regular file", "Pass an image file"],
        ["是文件夹，不是普通文件", "请传入图片文件"],
    ),
    (
        "wrong_type",
        lambda _: 42,
        "image_unsupported_type",
        ["is a int", "pass a URL, a path, a PIL image, bytes or a numpy array"],
        ["的类型是 int", "请传入 URL、路径、PIL 图像、字节或 numpy 数组"],
    ),
    (
        "ftp_url",
        lambda _: "ftp://example.invalid/cat.jpg",
        "image_url_scheme",
        ["'ftp://example.invalid/cat.jpg' is not an http(s) URL", "Pass a URL"],
        ["不是 http(s) URL", "请传入 URL"],
    ),
    (
        "array_channels_first",
        lambda _: np.zeros((3, 400, 500), np.uint8),
        "image_array_shape",
        ["shape 3×400×500", "H×W×3 (RGB)", "array.transpose(1, 2, 0)"],
        ["形状为 3×400×500", "H×W×3（RGB）", "array.transpose(1, 2, 0)"],
    ),
    (
        "array_float_0_255",
        lambda _: np.full((400, 500, 3), 255.0),
        "image_array_range",
        ["float64 array with values from 255 to 255", "must hold 0..1", "divide by 255"],
        ["float64 数组，取值范围为 255 到 255", "须在 0..1 之间", "请先除以 255"],
    ),
    (
        "heic",
        lambda _: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "image_heif",
        ["HEIC/HEIF", "pip install pillow-heif", "export it as JPEG"],
        ["HEIC/HEIF", "pip install pillow-heif", "导出为 JPEG"],
    ),
]


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize(
    ("source", "code", "en", "zh"), [case[1:] for case in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_unusable_image_is_refused_with_cause_and_remedy(
    tmp_path: Path,
    language: str,
    source: Source,
    code: str,
    en: list[str],
    zh: list[str],
) -> None:
    set_language(language)
    with pytest.raises(KlingImageError) as caught:
        prepare_image(source(tmp_path), 3)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, KlingValidationError) and isinstance(error, ValueError)
    assert [v.code for v in error.violations] == [code]
    assert error.fields == ["image_urls[3]"]
    text = str(error)
    assert text.startswith("image_urls[3]")
    for fragment in en if language == "en" else zh:
        assert fragment in text
    assert "base64" not in text and len(text) < 400


def test_refusal_of_a_data_uri_never_quotes_it() -> None:
    broken = data_uri(encode(photo(500, 400), "JPEG")[:5000], "image/jpeg")
    with pytest.raises(KlingImageError) as caught:
        prepare_image(broken)
    assert "base64" not in str(caught.value) and "/9j/" not in str(caught.value)
    with pytest.raises(KlingImageError) as caught:
        prepare_image("data:image/png;base64,@@not base64@@")
    assert caught.value.violations[0].code == "image_undecodable"


def test_unloaded_pil_image_gets_the_same_guards() -> None:
    truncated = Image.open(io.BytesIO(_cut("PNG")(Path())))  # type: ignore[arg-type]
    with pytest.raises(KlingImageError) as caught:
        prepare_image(truncated)
    assert caught.value.violations[0].code == "image_truncated"
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = Image.open(io.BytesIO(encode(photo(600, 400), "JPEG", exif=exif)))
    prepared = prepare_image(rotated)
    assert (prepared.width, prepared.height) == (400, 600) and "exif_rotated" in prepared.fixes


def test_truncated_images_are_never_loaded_half_grey() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(KlingImageError):
        open_image(_cut("JPEG")(Path()))  # type: ignore[arg-type]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- open, load, thumbnails, labels ---------------------------------------------------------


def test_open_image_guards_and_decodes() -> None:
    image = open_image(encode(photo(320, 300), "PNG"))
    assert image.size == (320, 300) and image.getpixel((0, 0)) is not None
    with pytest.raises(KlingImageError) as caught:
        open_image(png_declaring(20000, 20000), 2)
    assert caught.value.fields == ["image_urls[2]"]


def test_load_image_is_upright_and_refuses_urls() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    image = load_image(encode(photo(200, 100), "JPEG", exif=exif))  # size rules not applied
    assert (image.size, image.mode) == ((100, 200), "RGB")
    assert load_image(np.zeros((10, 20, 4), np.uint8)).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(KlingImageError) as caught:
        load_image("https://example.invalid/cat.jpg", 1)
    assert caught.value.violations[0].code == "image_remote"
    assert "image_urls[1]" in str(caught.value)


def test_thumbnail_fits_in_bytes_and_side_even_for_noise() -> None:
    data = thumbnail_bytes(noise(4000, 3000))
    thumb = Image.open(io.BytesIO(data))
    assert len(data) <= 80_000 and thumb.size == (256, 192) and thumb.format == "JPEG"
    coarse = np.random.default_rng(1).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    busy = Image.fromarray(coarse).resize((4000, 3000), Image.Resampling.NEAREST)
    unlimited = thumbnail_bytes(busy, max_side=512, max_bytes=10**9)
    assert len(unlimited) > 80_000  # noise that survives downscaling: the budget has work to do
    data = thumbnail_bytes(busy, max_side=512)
    assert len(data) <= 80_000 and max(Image.open(io.BytesIO(data)).size) <= 512
    small = thumbnail_bytes(busy, max_side=64, max_bytes=4_000)
    assert len(small) <= 4_000 and max(Image.open(io.BytesIO(small)).size) <= 64
    with pytest.raises(ValueError):
        thumbnail_bytes(busy, max_bytes=50)


def test_thumbnail_data_uri_handles_any_mode() -> None:
    cases = [
        (Image.new("RGBA", (300, 600)), (64, 128)),
        (Image.fromarray(np.zeros((50, 80), np.uint16)), (80, 50)),  # never enlarged
    ]
    for image, size in cases:
        content_type, data = decode_data_uri(thumbnail_data_uri(image, max_side=128))
        assert content_type == "image/jpeg"
        assert Image.open(io.BytesIO(data)).size == size


def test_labels_and_repr_stay_short(big_jpeg: bytes) -> None:
    prepared = prepare_image(big_jpeg)
    assert prepared.byte_size == len(decode_data_uri(prepared.url)[1])
    assert len(prepared.url) > 10_000
    assert len(describe_source(prepared.url)) <= 80
    assert len(describe_source("data:image/" + "x" * 200 + ";base64,AAAA")) <= 80
    assert len(describe_source("https://example.invalid/" + "a" * 500 + "/cat.jpg")) <= 80
    assert describe_source("https://example.invalid/" + "a" * 500 + "/cat.jpg").endswith("cat.jpg")
    assert len(describe_source("/tmp/" + "b" * 300 + ".png")) <= 80
    assert len(repr(prepared)) < 200 and "base64" not in repr(prepared)
    assert describe_source(Image.new("RGB", (800, 600))) == "PIL image 800×600 RGB"
    assert describe_source(np.zeros((600, 800, 3), np.uint8)) == "numpy array 600×800×3 uint8"
    assert describe_source(b"\0" * 2048) == "bytes, 2048 B"
    assert describe_source(42) == "int"
