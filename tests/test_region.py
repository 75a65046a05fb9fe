"""Region edits (kling_nb._region, kling_nb._photo): plan, crop, paste-back, refusals.

The "model output" is the emulator's renderer painting the crop (a real filter, with its own
colours and geometry), or a known change (a tint) where a figure must be exact.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

import kling_nb
from kling_nb import _i18n
from kling_nb._drift import ciede2000, srgb_to_lab
from kling_nb._errors import KlingRegionError, KlingValidationError
from kling_nb._images import prepare_image
from kling_nb._paste import RegionEdit, composite, paste
from kling_nb._photo import _png16, open_photo
from kling_nb._region import (
    OUTPUT_LONG_SIDE,
    CropRules,
    Region,
    RegionPlan,
    crop,
    plan,
)
from kling_nb._rules import check_image_size
from kling_nb._wire import ASPECT_RATIOS, IMAGE_MAX_RATIO, IMAGE_MIN_SIDE
from kling_nb.emulator._render import render

PROMPT = "turn <<<image_1>>> into a watercolor"


# --- photos made by code --------------------------------------------------------------------


def scene(width: int = 900, height: int = 600, seed: int = 0) -> np.ndarray:
    """An RGB float picture in 0…1: gradients, shapes and grain, like a photo's content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack(
        [
            0.5 + 0.35 * np.sin(x / 97 + y / 151),
            0.45 + 0.3 * np.cos(y / 83),
            0.5 + 0.25 * np.sin((x - y) / 211),
        ],
        axis=-1,
    )
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 90)
        rgb[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0.05, 0.95, 3)
    rgb += rng.normal(0, 0.02, rgb.shape)
    return np.clip(rgb, 0, 1)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_photo(width: int = 900, height: int = 600) -> bytes:
    pixels = (scene(width, height) * 255 + 0.5).astype(np.uint8)
    return encoded(Image.fromarray(pixels), "JPEG", quality=90)


def png16_rgb(width: int = 900, height: int = 600, alpha: bool = False) -> bytes:
    pixels = (scene(width, height) * 65535 + 0.5).astype(np.uint16)
    if alpha:
        ramp = np.linspace(0, 65535, width, dtype=np.float32)[None, :].repeat(height, 0)
        pixels = np.dstack([pixels, ramp.astype(np.uint16)])
    return _png16(pixels, None, None, None, ())


def photo_of(kind: str) -> bytes:
    """One photo of each kind the issue names."""
    rgb = scene()
    if kind == "jpeg":
        return jpeg_photo()
    if kind == "jpeg_grey":
        return encoded(Image.fromarray((rgb.mean(-1) * 255).astype(np.uint8)), "JPEG")
    if kind == "png":
        return encoded(Image.fromarray((rgb * 255).astype(np.uint8)), "PNG")
    if kind == "png16_grey":
        return encoded(Image.fromarray((rgb.mean(-1) * 65535).astype(np.uint16)), "PNG")
    if kind == "png16_rgb":
        return png16_rgb()
    if kind == "png16_rgba":
        return png16_rgb(alpha=True)
    if kind == "rgba":
        ramp = np.linspace(0, 255, rgb.shape[1])[None, :].repeat(rgb.shape[0], 0)
        pixels = np.dstack([(rgb * 255).astype(np.uint8), ramp.astype(np.uint8)])
        return encoded(Image.fromarray(pixels, "RGBA"), "PNG")
    raise ValueError(kind)


def model_output(crop_image: Image.Image, chosen: RegionPlan, prompt: str = PROMPT) -> bytes:
    """What the emulator paints for the crop at the plan's resolution and ratio."""
    rendered = render(
        [crop_image],
        prompt,
        resolution=chosen.resolution,
        aspect_ratio=chosen.aspect_ratio,
        _badge=False,
    )
    return rendered[0].data


def changed_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    before = before[:, :, None] if before.ndim == 2 else before
    after = after[:, :, None] if after.ndim == 2 else after
    return (before != after).any(axis=2)


def exact_pixels(photo: kling_nb._photo.Photo) -> np.ndarray:  # type: ignore[name-defined]
    return photo.window((0, 0, *photo.size))


# --- bit-identical outside the region and the feather ---------------------------------------


KINDS = ["jpeg", "jpeg_grey", "png", "png16_grey", "png16_rgb", "png16_rgba", "rgba"]


@pytest.mark.parametrize("kind", KINDS)
def test_pixels_beyond_the_feather_are_bit_identical(kind: str) -> None:
    data = photo_of(kind)
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420))
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])

    before, after = exact_pixels(open_photo(data)), exact_pixels(done.photo)
    assert after.dtype == before.dtype and after.shape == before.shape
    changed = changed_mask(before, after)
    reach = chosen.reach((0, 0, *done.photo.size))
    assert not changed[~reach].any(), f"{changed[~reach].sum()} pixels changed outside"
    inside = changed[200:420, 300:560]
    assert inside.mean() > 0.9, "the region itself was edited"


@pytest.mark.parametrize("kind", ["png", "png16_grey", "png16_rgb", "png16_rgba", "rgba"])
def test_lossless_files_decode_to_the_composite_exactly(kind: str) -> None:
    data = photo_of(kind)
    crop_image, chosen = RegionEdit.prepare(data, (100, 100, 400, 300))
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    assert done.format == "PNG"
    reread = open_photo(done.data)
    assert reread.mode == open_photo(data).mode
    assert np.array_equal(exact_pixels(reread), exact_pixels(done.photo))


def test_jpeg_is_written_back_with_its_own_tables_or_losslessly() -> None:
    data = photo_of("jpeg")
    crop_image, chosen = RegionEdit.prepare(data, (100, 100, 400, 300))
    output = model_output(crop_image, chosen)
    [as_jpeg] = RegionEdit.finish(chosen, data, [output])
    [as_png] = RegionEdit.finish(chosen, data, [output], lossless=True)
    with Image.open(io.BytesIO(as_jpeg.data)) as written, Image.open(io.BytesIO(data)) as first:
        assert written.format == "JPEG" and written.size == first.size
        assert written.quantization == first.quantization
    assert as_png.format == "PNG" and as_png.content_type == "image/png"
    assert np.array_equal(exact_pixels(open_photo(as_png.data)), exact_pixels(as_jpeg.photo))


def test_sixteen_bit_png_is_read_exactly_whatever_its_row_filters() -> None:
    pixels = (scene(64, 48) * 65535).astype(np.uint16)
    for kind in range(5):  # None, Sub, Up, Average, Paeth
        data = _png16(pixels, None, None, None, (), filter_type=kind)
        photo = open_photo(data)
        assert photo.mode == "RGB;16"
        assert np.array_equal(exact_pixels(photo), pixels), f"filter {kind}"


def test_alpha_is_kept_outside_and_made_opaque_inside() -> None:
    data = photo_of("rgba")
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420))
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    alpha_before = exact_pixels(open_photo(data))[:, :, 3]
    alpha_after = exact_pixels(done.photo)[:, :, 3]
    reach = chosen.reach((0, 0, 900, 600))
    assert np.array_equal(alpha_after[~reach], alpha_before[~reach])
    assert (alpha_after[200:420, 300:560] == 255).all()
    assert alpha_before[200:420, 300:560].min() < 200  # it was translucent there


def test_alpha_keep_keeps_the_photos_transparency_everywhere() -> None:
    data = photo_of("rgba")
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420), alpha="keep")
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    before, after = exact_pixels(open_photo(data)), exact_pixels(done.photo)
    assert np.array_equal(after[:, :, 3], before[:, :, 3])
    assert changed_mask(before[:, :, :3], after[:, :, :3])[200:420, 300:560].mean() > 0.9


def test_exif_rotated_photo_takes_a_box_in_the_picture_as_shown() -> None:
    stored = Image.fromarray((scene(400, 600) * 255).astype(np.uint8))  # 400 wide, 600 high
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 600 wide, 400 high
    data = encoded(stored, "JPEG", quality=92, exif=exif.tobytes())
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert shown.size == (600, 400)

    box = (420, 60, 580, 200)  # right = 580 only exists in the turned picture
    crop_image, chosen = RegionEdit.prepare(data, box)
    assert chosen.original.orientation == 6
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    assert done.photo.size == (600, 400)
    changed = changed_mask(np.asarray(shown), exact_pixels(done.photo))
    assert not changed[~chosen.reach((0, 0, 600, 400))].any()
    assert changed[60:200, 420:580].mean() > 0.9
    with Image.open(io.BytesIO(done.data)) as written:
        assert written.size == (600, 400)
        assert written.getexif().get(0x0112) == 1  # upright now: no viewer turns it again


def test_box_in_the_stored_frame_of_a_turned_photo_is_refused_naming_the_rotation() -> None:
    stored = Image.fromarray((scene(400, 600) * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encoded(stored, "JPEG", exif=exif.tobytes())
    with pytest.raises(KlingRegionError) as caught:
        RegionEdit.prepare(data, (100, 300, 380, 580))  # fits 400×600, not 600×400
    text = str(caught.value)
    assert "bottom = 580" in text and "600×400" in text and "EXIF" in text
    assert caught.value.fields == ["region.bottom"]


# --- the crop -------------------------------------------------------------------------------


def test_margin_is_a_quarter_of_the_box_and_clamped_at_the_photos_edges() -> None:
    middle = plan((3000, 2000), (1200, 800, 1800, 1400))
    assert middle.crop == (1050, 650, 1950, 1550)  # 600 px box, 150 px context each side
    corner = plan((3000, 2000), (0, 0, 600, 400))
    assert corner.crop[0] == 0 and corner.crop[1] == 0
    assert corner.crop[2] >= 600 + 150 and corner.crop[3] >= 400 + 100
    assert corner.padding == (0, 0, 0, 0)
    far = plan((3000, 2000), (2400, 1600, 3000, 2000))
    assert far.crop[2] == 3000 and far.crop[3] == 2000 and far.padding == (0, 0, 0, 0)


def test_tiny_region_grows_to_the_services_minimum_side() -> None:
    chosen = plan((3000, 2000), (1500, 1000, 1510, 1010))
    width, height = chosen.crop_size
    assert min(width, height) >= IMAGE_MIN_SIDE
    assert chosen.aspect_ratio == "1:1" and chosen.resolution == "1K"
    box = chosen.crop
    assert box[0] <= 1500 and box[2] >= 1510 and box[1] <= 1000 and box[3] >= 1010
    assert check_image_size(width, height) == []


@pytest.mark.parametrize(
    ("box", "ratio"), [((1000, 500, 1040, 900), "9:16"), ((500, 1000, 1500, 1040), "21:9")]
)
def test_a_one_to_ten_strip_grows_to_an_output_ratio_within_the_rules(
    box: tuple[int, int, int, int], ratio: str
) -> None:
    chosen = plan((3000, 2000), box)
    width, height = chosen.crop_size
    assert chosen.aspect_ratio == ratio  # the most elongated output ratio on that side
    assert max(width, height) / min(width, height) <= IMAGE_MAX_RATIO
    a, b = (int(x) for x in ratio.split(":"))
    assert abs(width / height - a / b) < 0.01  # the output maps back without distortion
    assert check_image_size(width, height) == []


def test_resolution_is_the_smallest_that_does_not_shrink_the_crop() -> None:
    small = plan((6000, 4000), (2000, 1500, 2600, 2100))
    assert small.crop_size == (900, 900) and small.resolution == "1K"
    assert small.scale >= 1
    large = plan((6000, 4000), (1000, 1000, 2400, 2000))
    assert max(large.crop_size) > OUTPUT_LONG_SIDE["1K"] and large.resolution == "2K"
    assert plan((6000, 4000), (2000, 1500, 2600, 2100), resolution="2K").resolution == "2K"


def test_whole_photo_of_a_ratio_the_service_lacks_is_sent_with_mirrored_padding() -> None:
    data = encoded(Image.fromarray((scene(1000, 800) * 255).astype(np.uint8)), "PNG")  # 5:4
    crop_image, chosen = RegionEdit.prepare(data, (0, 0, 1000, 800))
    assert chosen.aspect_ratio == "4:3" and any(chosen.padding)
    assert crop_image.size == chosen.crop_size
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    assert done.photo.size == (1000, 800)
    assert changed_mask(exact_pixels(open_photo(data)), exact_pixels(done.photo)).mean() > 0.9


def test_crop_is_accepted_by_the_input_rules_and_sent_unshrunk() -> None:
    data = photo_of("jpeg")
    crop_image, chosen = RegionEdit.prepare(data, (40, 30, 120, 90))
    prepared = prepare_image(crop_image)
    assert (prepared.width, prepared.height) == chosen.crop_size


# --- masks ----------------------------------------------------------------------------------


def disc_mask(size: tuple[int, int], centre: tuple[int, int], radius: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    cx, cy = centre
    ImageDraw.Draw(mask).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
    return mask


def test_a_mask_edits_its_white_pixels_and_keeps_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = photo_of("png")
    mask = disc_mask((900, 600), (450, 300), 120)
    path = tmp_path / "mask.png"
    mask.save(path)
    region = Region.of(str(path))
    assert region.kind == "mask" and region.box == (330, 180, 571, 421)
    crop_image, chosen = RegionEdit.prepare(data, region)
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    changed = changed_mask(exact_pixels(open_photo(data)), exact_pixels(done.photo))
    reach = chosen.reach((0, 0, 900, 600))
    assert not changed[~reach].any()
    white = np.asarray(mask) >= 128
    assert changed[white].mean() > 0.9
    corner = np.zeros_like(white)
    corner[180:200, 330:350] = True  # inside the box, outside the disc and its feather
    assert not changed[corner & ~reach].any() and (corner & ~reach).any()


def test_mask_of_another_size_is_refused_in_words() -> None:
    data = photo_of("png")
    with pytest.raises(KlingRegionError) as caught:
        RegionEdit.prepare(data, disc_mask((450, 300), (200, 150), 50))
    assert "450×300" in str(caught.value) and "900×600" in str(caught.value)
    _i18n.set_language("zh")
    with pytest.raises(KlingRegionError) as caught:
        RegionEdit.prepare(data, disc_mask((450, 300), (200, 150), 50))
    assert "蒙版为 450×300" in str(caught.value)


def test_all_black_mask_is_refused_in_words() -> None:
    with pytest.raises(KlingRegionError, match="all black: nothing to edit"):
        Region.of(Image.new("L", (900, 600), 0))


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "field", "words"),
    [
        ((0, 0, 1000, 500), "region.right", "right = 1000"),
        ((500, 100, 400, 300), "region", "left = 500 and right = 400"),
        ((10, 10, 10, 50), "region", "empty or inverted"),
        ((-5, 0, 100, 100), "region.left", "negative"),
        (("a", 0, 100, 100), "region.left", "not a number of pixels"),
        ((float("nan"), 0, 100, 100), "region.left", "not a number of pixels"),
        ((1, 2, 3), "region", "has 3 numbers"),
        (42, "region", "neither a box nor a mask"),
    ],
)
def test_bad_regions_are_refused_naming_field_value_and_fix(
    region: object, field: str, words: str
) -> None:
    with pytest.raises(KlingRegionError) as caught:
        plan((900, 600), region)  # type: ignore[arg-type]
    assert isinstance(caught.value, KlingValidationError)
    assert caught.value.fields[0] == field
    assert words in str(caught.value)


def test_refusals_are_worded_in_chinese_too() -> None:
    _i18n.set_language("zh")
    with pytest.raises(KlingRegionError) as caught:
        plan((900, 600), (0, 0, 1000, 500))
    assert "超出了照片" in str(caught.value) and "900×600" in str(caught.value)


def test_photo_under_the_minimum_side_and_bad_options_are_refused() -> None:
    with pytest.raises(KlingRegionError, match="at least 300 px"):
        plan((280, 600), (10, 10, 100, 100))
    with pytest.raises(KlingRegionError, match="margin = 9"):
        plan((900, 600), (10, 10, 100, 100), margin=9)
    with pytest.raises(KlingRegionError, match="resolution = 4K"):
        plan((900, 600), (10, 10, 100, 100), resolution="4K")
    with pytest.raises(KlingRegionError, match="no crop around region"):
        plan((3000, 300), (0, 0, 3000, 300))  # 10:1, and no room to grow


def test_finish_refuses_a_photo_other_than_the_planned_one() -> None:
    data = photo_of("jpeg")
    crop_image, chosen = RegionEdit.prepare(data, (100, 100, 300, 300))
    other = photo_of("png")
    with pytest.raises(KlingRegionError, match="not the one this region edit was planned for"):
        RegionEdit.finish(chosen, other, [model_output(crop_image, chosen)])


# --- seams ----------------------------------------------------------------------------------


def test_a_global_colour_drift_of_the_output_leaves_no_seam() -> None:
    data = photo_of("png")
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420))
    # The model "changed" nothing but drifted every colour: warmer, brighter, contrastier.
    shifted = np.asarray(crop_image.convert("RGB")).astype(np.float32)
    shifted = np.clip((shifted - 128) * 1.25 + 128 + np.array([30, 10, -25]), 0, 255)
    drifted = Image.fromarray(shifted.astype(np.uint8)).resize(chosen.output_size)
    photo, fit = paste(data, encoded(drifted, "PNG"), chosen)
    assert fit.samples > 1000
    before, after = exact_pixels(open_photo(data)), exact_pixels(photo)
    raw_delta = ciede2000(srgb_to_lab(before), srgb_to_lab(shifted_full(before, shifted, chosen)))
    delta = ciede2000(srgb_to_lab(before), srgb_to_lab(after))
    reach = chosen.reach((0, 0, 900, 600))
    region = chosen.region_mask((0, 0, 900, 600))
    assert raw_delta[region].mean() > 8  # the drift was plain to see
    assert delta[region].mean() < 2.0  # and is gone once fitted on the ring
    assert delta[reach & ~region].mean() < 2.0  # the feather blends without a step


def shifted_full(before: np.ndarray, crop_pixels: np.ndarray, chosen: RegionPlan) -> np.ndarray:
    """The drifted crop put back where it came from (no fit, no feather): for comparison."""
    out = before.copy()
    left, top, right, bottom = chosen.crop
    out[top:bottom, left:right] = crop_pixels.astype(np.uint8)
    return out


def test_the_feathers_outer_edge_shows_no_step() -> None:
    data = photo_of("png")
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420))
    photo, _ = paste(data, model_output(crop_image, chosen), chosen)
    lab = srgb_to_lab(exact_pixels(photo))
    original = srgb_to_lab(exact_pixels(open_photo(data)))
    f = chosen.feather
    rows = slice(220, 400)
    last_touched, first_kept = 560 + f - 1, 560 + f
    step = ciede2000(lab[rows, last_touched], lab[rows, first_kept]).mean()
    natural = ciede2000(original[rows, last_touched], original[rows, first_kept]).mean()
    assert step < natural + 1.0, (step, natural)


# --- values for the journal: JSON, fingerprint, replay --------------------------------------


def test_plan_survives_json_and_replay_gives_the_same_composites() -> None:
    data = photo_of("png")
    mask = disc_mask((900, 600), (450, 300), 100)
    crop_image, chosen = RegionEdit.prepare(data, mask)
    output = model_output(crop_image, chosen)
    recorded = json.loads(json.dumps(chosen.to_json()))
    again = RegionPlan.from_json(recorded)
    assert again == chosen and again.fingerprint() == chosen.fingerprint()
    assert again.original.sha256 == open_photo(data).sha256
    first = RegionEdit.finish(chosen, data, [output])[0]
    second = RegionEdit.finish(again, data, [output])[0]
    assert first.data == second.data and first.raw == output
    moved = plan(open_photo(data), (10, 10, 200, 200))
    assert moved.fingerprint() != chosen.fingerprint()


def test_a_record_that_is_not_a_plan_is_refused_in_words() -> None:
    with pytest.raises(KlingRegionError, match="not a region plan"):
        RegionPlan.from_json({"version": 1, "crop": [0, 0]})


def test_composite_returns_the_full_size_picture() -> None:
    data = photo_of("jpeg")
    crop_image, chosen = RegionEdit.prepare(data, (100, 100, 300, 300))
    picture = composite(data, model_output(crop_image, chosen), chosen)
    assert picture.size == (900, 600) and picture.mode == "RGB"
    assert crop(data, chosen).size == chosen.crop_size


def test_emulated_label_is_drawn_inside_the_region_only() -> None:
    data = photo_of("png")
    crop_image, chosen = RegionEdit.prepare(data, (200, 100, 700, 500))
    output = model_output(crop_image, chosen)
    plain = RegionEdit.finish(chosen, data, [output])[0]
    labelled = RegionEdit.finish(chosen, data, [output], emulated=True)[0]
    differs = changed_mask(exact_pixels(plain.photo), exact_pixels(labelled.photo))
    assert differs.any()
    ys, xs = np.nonzero(differs)
    assert xs.min() >= 200 and xs.max() < 700 and ys.min() >= 100 and ys.max() < 500


def test_emulated_label_of_a_mask_region_lies_wholly_inside_the_mask() -> None:
    data = photo_of("png")
    mask = disc_mask((900, 600), (450, 300), 150)
    crop_image, chosen = RegionEdit.prepare(data, mask)
    output = model_output(crop_image, chosen)
    plain = RegionEdit.finish(chosen, data, [output])[0]
    labelled = RegionEdit.finish(chosen, data, [output], emulated=True)[0]
    differs = changed_mask(exact_pixels(plain.photo), exact_pixels(labelled.photo))
    assert differs.sum() > 500  # the words are there, whole
    assert not differs[~(np.asarray(mask) >= 128)].any()


def test_rules_of_a_profile_come_from_the_wire() -> None:
    rules = CropRules.for_profile("qiniu")
    assert rules.min_side == IMAGE_MIN_SIDE and rules.max_ratio == IMAGE_MAX_RATIO
    assert set(rules.aspect_ratios) == set(ASPECT_RATIOS) - {"auto"}
    assert math.isclose(plan((900, 600), (1, 1, 5, 5), rules=rules).crop_size[0], 300)


def test_crop_sent_through_the_emulator_comes_back_and_pastes(conn) -> None:  # type: ignore[no-untyped-def]
    """The seam with the real pipeline: the crop goes out as image 1 through fal_client to
    the emulator on loopback; the cached outputs are pasted back."""
    data = photo_of("jpeg")
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420))
    result = kling_nb.edit(
        PROMPT,
        crop_image,
        resolution=chosen.resolution,
        aspect_ratio=chosen.aspect_ratio,
        num_images=2,
        progress=False,
    )
    outputs = [path.read_bytes() for path in result.paths]
    done = RegionEdit.finish(chosen, data, outputs, emulated=result.emulated)
    assert [d.photo.size for d in done] == [(900, 600), (900, 600)]
    before = exact_pixels(open_photo(data))
    for one in done:
        changed = changed_mask(before, exact_pixels(one.photo))
        assert not changed[~chosen.reach((0, 0, 900, 600))].any()
        assert changed[200:420, 300:560].mean() > 0.9


def test_a_photo_given_as_a_pil_image_can_be_finished_after_a_restart() -> None:
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down
    picture = Image.open(
        io.BytesIO(
            encoded(Image.fromarray((scene() * 255).astype(np.uint8)), "JPEG", exif=exif.tobytes())
        )
    )
    crop_image, chosen = RegionEdit.prepare(picture, (100, 100, 300, 300))
    kept = RegionEdit.original_bytes(picture)  # what the journal's cache holds
    output = model_output(crop_image, chosen)
    now = RegionEdit.finish(chosen, picture, [output])[0]
    later = RegionEdit.finish(RegionPlan.from_json(chosen.to_json()), kept, [output])[0]
    assert np.array_equal(exact_pixels(now.photo), exact_pixels(later.photo))


def test_every_region_message_exists_in_both_languages_with_the_same_facts() -> None:
    import re
    import string
    from pathlib import Path

    import kling_nb._paste as paste_module
    import kling_nb._photo as photo_module
    import kling_nb._region as region_module
    from kling_nb._i18n import MESSAGES

    keys = [k for k in MESSAGES if k.startswith(("region.", "drift."))]
    for key in keys:
        facts = [
            {name for _, name, _, _ in string.Formatter().parse(MESSAGES[key][lang]) if name}
            for lang in ("en", "zh")
        ]
        assert facts[0] == facts[1], key
    used = set()
    for module in (region_module, paste_module, photo_module):
        source = Path(str(module.__file__)).read_text()
        used |= set(re.findall(r'_refuse\(\s*(?:index,\s*)?"(\w+)"', source))
        used |= set(re.findall(r'"(\w+)" if \w+ else "(?:\w+)"', source))
        used |= set(re.findall(r'key = "(\w+)"', source))
    assert used and {f"region.{code}" for code in used} <= set(keys)
