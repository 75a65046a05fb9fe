"""The emulator's renderer: sizes, styles, variants, references, badge, formats, determinism."""

from __future__ import annotations

import io
import itertools
import math
import zlib
from functools import cache

import numpy as np
import pytest
from PIL import Image

from kling_nb._samples import sample_path
from kling_nb._wire import ASPECT_RATIOS
from kling_nb.emulator import _render
from kling_nb.emulator._render import (
    BADGE_ACCENT,
    PIXELS,
    RATIOS,
    STYLES,
    RenderedImage,
    output_size,
    render,
    style_of,
)

# One prompt per style, in the language pairs the guide and fal's docs use.
PROMPTS = {
    "cyberpunk": (
        "将这张图片转换为赛博朋克风格，添加霓虹灯光效果",
        "Make it cyberpunk with neon lights",
    ),
    "watercolor": (
        "将 <<<image_1>>> 转换为水彩画风格，保持原始构图",
        "Turn @Image1 into a watercolor",
    ),
    "oil_painting": ("将这张图片转换为油画风格", "Render this as an oil painting"),
    "sketch": ("把这张照片变成素描", "A pencil sketch of this photo"),
    "ink_wash": ("转换为中国水墨画", "Chinese ink wash painting"),
    "vintage": ("复古老照片效果", "Vintage sepia photo"),
    "anime": ("动漫风格", "Anime style, like a cartoon"),
    "black_and_white": ("黑白照片", "Black and white, please"),
    "pixel_art": ("像素风", "8-bit pixel art"),
    "neutral": ("让它更好看一点", "Make the lighting a bit nicer"),
}


@cache
def photo(name: str = "coffee.jpg") -> Image.Image:
    with Image.open(sample_path(name)) as img:
        img.load()
    return img


@cache
def rendered(prompt: str, **params: object) -> RenderedImage:
    """One cached 1K render of the coffee photo (JPEG: cheap to encode, fine to compare)."""
    params = {"output_format": "jpeg", **params}
    return render([photo()], prompt, **params)[0]  # type: ignore[arg-type]


def pixels(data: bytes, size: tuple[int, int] = (240, 160)) -> np.ndarray:
    """Decoded, reduced to a common small size, as float RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB").resize(size, Image.Resampling.BOX), np.float32)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("resolution", sorted(PIXELS))
@pytest.mark.parametrize("ratio", [r for r in ASPECT_RATIOS if r != "auto"])
def test_output_size_has_the_pixels_and_ratio_asked_for(resolution: str, ratio: str) -> None:
    w, h = output_size(resolution, ratio, (640, 480))
    assert w % 16 == 0 and h % 16 == 0
    megapixels = w * h / 2**20
    assert abs(megapixels / {"1K": 1, "2K": 4, "4K": 16}[resolution] - 1) < 0.03
    a, b = RATIOS[ratio]
    assert abs(math.log((w / h) / (a / b))) < 0.02


@pytest.mark.parametrize(
    ("first_input", "expected"),
    [
        ((1024, 683), "3:2"),
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((500, 500), "1:1"),
        ((640, 480), "4:3"),
        ((384, 512), "3:4"),
        ((2100, 900), "21:9"),
        ((3000, 1200), "21:9"),  # wider than any allowed ratio: the widest
        ((1010, 1000), "1:1"),
    ],
)
def test_auto_snaps_the_first_input_to_the_nearest_ratio(
    first_input: tuple[int, int], expected: str
) -> None:
    assert output_size("1K", "auto", first_input) == output_size("1K", expected, (1, 1))


def test_rendered_size_matches_output_size_and_auto_follows_the_first_input() -> None:
    portrait = photo("rocket.jpg")  # 320×427 → 3:4
    out = render([portrait, photo()], "watercolor", output_format="jpeg")[0]
    assert (out.width, out.height) == output_size("1K", "3:4", (1, 1))
    with Image.open(io.BytesIO(out.data)) as img:
        assert img.size == (out.width, out.height)


def test_a_4k_render_has_sixteen_megapixels() -> None:
    out = render([photo()], "anime", resolution="4K", aspect_ratio="16:9", output_format="jpeg")
    assert (out[0].width, out[0].height) == output_size("4K", "16:9", (1, 1))
    with Image.open(io.BytesIO(out[0].data)) as img:
        assert img.size == (out[0].width, out[0].height)
        assert img.width * img.height > 15.5 * 2**20


# ---------------------------------------------------------------- styles


@pytest.mark.parametrize("style", STYLES)
def test_chinese_and_english_prompts_pick_the_same_style(style: str) -> None:
    zh, en = PROMPTS[style]
    assert style_of(zh) == style
    assert style_of(en) == style


@pytest.mark.parametrize(
    ("prompt", "style"),
    [
        ("Boil the soil under foil", "neutral"),  # "oil" only as a whole word
        ("a pixelated, neon-lit street", "pixel_art"),  # the first style mentioned wins
        ("霓虹灯下的水彩", "cyberpunk"),
        ("NEON", "cyberpunk"),
        ("戴墨镜的人", "neutral"),  # 墨 alone (sunglasses) is not ink wash
    ],
)
def test_style_keywords_match_words_and_the_first_mention(prompt: str, style: str) -> None:
    assert style_of(prompt) == style


def test_every_style_changes_the_picture_and_differs_from_every_other() -> None:
    source = pixels(_jpeg(photo()))
    outputs = {style: pixels(rendered(PROMPTS[style][1]).data) for style in STYLES}
    for style, out in outputs.items():
        assert mean_diff(out, source) > 8, f"{style} is too close to the input"
    for (s1, a), (s2, b) in itertools.combinations(outputs.items(), 2):
        assert mean_diff(a, b) > 6, f"{s1} and {s2} look alike"


def test_an_unknown_prompt_gets_a_visible_neutral_edit() -> None:
    prompt = "Something the renderer has no filter for"
    assert style_of(prompt) == "neutral"
    assert mean_diff(pixels(rendered(prompt).data), pixels(_jpeg(photo()))) > 5


def test_pixel_art_is_blocky_with_a_small_palette() -> None:
    out = render([photo()], "pixel art")[0]  # PNG: exact colours
    with Image.open(io.BytesIO(out.data)) as img:
        rgb = np.asarray(img.convert("RGB"))
    body = rgb[: rgb.shape[0] * 3 // 4]  # above the badge
    assert len(np.unique(body.reshape(-1, 3), axis=0)) <= 24
    same_as_left = (body[:, 1:] == body[:, :-1]).all(axis=2).mean()
    assert same_as_left > 0.85


def test_sketch_and_black_and_white_are_monochrome_and_cyberpunk_is_neon() -> None:
    sketch = pixels(rendered(PROMPTS["sketch"][1]).data)
    bw = pixels(rendered(PROMPTS["black_and_white"][1]).data)
    for grey in (sketch, bw):
        assert np.abs(grey - grey.mean(axis=2, keepdims=True)).mean() < 6
    neon = pixels(rendered(PROMPTS["cyberpunk"][0]).data)
    r, g, b = neon[..., 0].mean(), neon[..., 1].mean(), neon[..., 2].mean()
    assert b > g and r > g  # magenta/violet dominated


# ---------------------------------------------------------------- determinism and variants


def test_the_same_arguments_give_the_same_bytes_and_another_seed_other_bytes() -> None:
    a = render([photo()], "watercolor", seed=7, output_format="png")[0]
    b = render([photo()], "watercolor", seed=7, output_format="png")[0]
    c = render([photo()], "watercolor", seed=8, output_format="png")[0]
    assert a.data == b.data
    assert a.data != c.data


def test_each_of_num_images_is_visibly_different() -> None:
    outs = render([photo()], PROMPTS["oil_painting"][0], num_images=3, output_format="jpeg")
    assert [o.file_name for o in outs] == ["image_1.jpg", "image_2.jpg", "image_3.jpg"]
    decoded = [pixels(o.data) for o in outs]
    for a, b in itertools.combinations(decoded, 2):
        assert mean_diff(a, b) > 4
    again = render([photo()], PROMPTS["oil_painting"][0], num_images=3, output_format="jpeg")
    assert [o.data for o in again] == [o.data for o in outs]


def test_variants_of_pixel_art_differ_too() -> None:
    outs = render([photo()], "pixel art", num_images=2, output_format="jpeg")
    assert mean_diff(pixels(outs[0].data), pixels(outs[1].data)) > 4


# ---------------------------------------------------------------- references


def _solid(color: tuple[int, int, int], size: tuple[int, int] = (400, 400)) -> Image.Image:
    img = Image.new("RGB", size, color)
    img.paste((255, 255, 255), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    return img


def test_a_second_referenced_image_is_composed_into_the_first() -> None:
    red = _solid((220, 30, 30))
    prompt = "Put the cup from @Image2 onto @Image1, neutral light"
    single = render([photo()], prompt.replace("@Image2", "it"), output_format="jpeg")[0]
    both = render([photo(), red], prompt, output_format="jpeg")[0]
    a, b = pixels(single.data), pixels(both.data)
    assert mean_diff(a, b) > 3
    # The inset sits in the lower left: that is where the red arrives.
    lower_left = (slice(80, 160), slice(0, 120))
    redness = b[lower_left][..., 0] - b[lower_left][..., 1]
    assert (redness > 80).mean() > 0.1


def test_image_1_is_the_base_whenever_the_prompt_names_it() -> None:
    red, blue = _solid((220, 30, 30)), _solid((30, 30, 220))
    out = render([red, blue], "把 <<<image_2>>> 放进 <<<image_1>>>", output_format="jpeg")[0]
    px = pixels(out.data)[:60]  # the top: base only, the inset row is at the bottom
    assert px[..., 0].mean() > px[..., 2].mean() + 60


def test_otherwise_the_first_image_the_prompt_names_is_the_base() -> None:
    red, blue, green = _solid((220, 30, 30)), _solid((30, 30, 220)), _solid((30, 200, 30))
    out = render([red, blue, green], "Start from @Image3, add @Image2", output_format="jpeg")[0]
    px = pixels(out.data)
    top = px[:60]
    assert top[..., 1].mean() > top[..., 0].mean() + 60
    bottom_left = px[100:150, 0:60]
    assert bottom_left[..., 2].mean() > bottom_left[..., 1].mean() + 40  # image 2's inset


def test_a_prompt_naming_no_image_uses_image_1_alone() -> None:
    blue = _solid((30, 30, 220))
    alone = render([photo()], "vintage", output_format="jpeg")[0]
    with_extra = render([photo(), blue], "vintage", output_format="jpeg")[0]
    assert alone.data == with_extra.data


# ---------------------------------------------------------------- badge and formats


def test_every_picture_carries_the_badge_in_the_bottom_right_corner() -> None:
    prompt = PROMPTS["watercolor"][1]
    with_badge = render([photo()], prompt)[0]
    without = render([photo()], prompt, _badge=False)[0]
    a, b = (
        np.asarray(Image.open(io.BytesIO(o.data)).convert("RGB")) for o in (with_badge, without)
    )
    h, w = a.shape[:2]
    changed = np.argwhere((a != b).any(axis=2))
    assert len(changed) > 500
    top, left = changed.min(axis=0)
    assert top > h * 0.85 and left > w * 0.6  # only the corner changed
    corner = a[int(h * 0.9) :, int(w * 0.7) :].reshape(-1, 3).astype(int)
    amber = np.abs(corner - np.array(BADGE_ACCENT)).sum(axis=1) < 40
    assert amber.sum() > 20  # the accent dot
    white = (corner > 235).all(axis=1) & (corner.std(axis=1) < 5)
    dark = (corner < 70).all(axis=1)
    assert white.sum() > 100 and dark.sum() > 1000  # white text on a dark label


def test_the_badge_scales_with_the_image() -> None:
    small, large = _render._badge_image(1024), _render._badge_image(2048)
    assert 1.8 < large.height / small.height < 2.2
    assert small.height >= 20  # legible at 1K


@pytest.mark.parametrize(
    ("fmt", "content_type", "pil_format", "extension"),
    [
        ("png", "image/png", "PNG", "png"),
        ("jpeg", "image/jpeg", "JPEG", "jpg"),
        ("webp", "image/webp", "WEBP", "webp"),
    ],
)
def test_output_format_sets_encoding_type_and_file_name(
    fmt: str, content_type: str, pil_format: str, extension: str
) -> None:
    out = render([photo()], "black and white", output_format=fmt, num_images=2)
    for i, o in enumerate(out, 1):
        assert o.content_type == content_type
        assert o.file_name == f"image_{i}.{extension}"
        with Image.open(io.BytesIO(o.data)) as img:
            assert img.format == pil_format
            assert img.size == (o.width, o.height)
            img.load()


def test_the_png_writer_is_lossless() -> None:
    img = photo().resize((123, 77))
    data = _render._png(img)
    with Image.open(io.BytesIO(data)) as back:
        assert back.mode == "RGB"
        assert back.tobytes() == img.tobytes()
    assert zlib.crc32(data[12:29]) == int.from_bytes(data[29:33], "big")  # IHDR checksum


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK", "LA"])
def test_any_input_mode_renders(mode: str) -> None:
    img = photo().convert("RGBA" if mode in ("RGBA", "LA") else "RGB")
    img = img.convert(mode) if mode != "I;16" else img.convert("L").convert("I;16")
    out = render([img], "anime", output_format="jpeg")[0]
    assert out.width > 0 and out.data[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    "params",
    [
        {"resolution": "8K"},
        {"aspect_ratio": "5:4"},
        {"output_format": "gif"},
        {"num_images": 0},
        {"num_images": 10},
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        render([photo()], "x", **params)  # type: ignore[arg-type]


def _jpeg(img: Image.Image) -> bytes:
    """The input as the renderer would frame it at 1K (same ratio), encoded for `pixels`."""
    size = output_size("1K", "auto", img.size)
    buf = io.BytesIO()
    img.convert("RGB").resize(size).save(buf, "JPEG", quality=95)
    return buf.getvalue()
