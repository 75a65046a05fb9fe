"""The drift meter (kling_nb._drift): zero for no change, the right figure for a known one,
the same measures as scikit-image's, and an exact count beyond a region's feather."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from kling_nb import _i18n
from kling_nb._drift import (
    CHANGED_DELTA_E,
    MEASURE_SIDE,
    ciede2000,
    measure,
    srgb_to_lab,
    ssim,
)
from kling_nb._paste import RegionEdit
from kling_nb._photo import open_photo

from .test_region import encoded, model_output, photo_of, scene


def picture(width: int = 400, height: int = 300, seed: int = 0) -> Image.Image:
    return Image.fromarray((scene(width, height, seed) * 255 + 0.5).astype(np.uint8))


def test_identical_pictures_have_no_drift() -> None:
    a = picture()
    drift = measure(a, a.copy())
    assert drift.ssim == pytest.approx(1.0)
    assert drift.delta_e == 0 and drift.changed_fraction == 0
    assert drift.summary() == "drift 0.0 ΔE"


def test_a_known_colour_change_gives_its_ciede2000() -> None:
    grey = Image.new("RGB", (200, 100), (120, 120, 120))
    warmer = Image.new("RGB", (200, 100), (140, 118, 100))
    expected = float(
        deltaE_ciede2000(
            rgb2lab(np.array([[[120] * 3]], np.uint8)),
            rgb2lab(np.array([[[140, 118, 100]]], np.uint8)),
        )[0, 0]
    )
    drift = measure(grey, warmer)
    assert drift.delta_e == pytest.approx(expected, abs=1e-3)
    assert expected > CHANGED_DELTA_E and drift.changed_fraction == 1.0
    assert drift.summary() == f"drift {expected:.1f} ΔE"


def test_half_changed_picture_reports_half() -> None:
    a = picture()
    pixels = np.asarray(a).copy()
    pixels[:, 200:] = 255 - pixels[:, 200:]
    drift = measure(a, Image.fromarray(pixels))
    assert drift.changed_fraction == pytest.approx(0.5, abs=0.02)
    assert drift.ssim < 0.7


def test_measures_agree_with_scikit_image() -> None:
    a = np.asarray(picture(seed=1))
    b = np.clip(a.astype(int) + np.random.default_rng(2).integers(-25, 25, a.shape), 0, 255)
    b = b.astype(np.uint8)
    assert np.abs(srgb_to_lab(a) - rgb2lab(a)).max() < 1e-3
    ours = ciede2000(srgb_to_lab(a), srgb_to_lab(b))
    assert np.abs(ours - deltaE_ciede2000(rgb2lab(a), rgb2lab(b))).max() < 1e-2
    luma = [np.asarray(x, np.float32) / 255 @ np.array([0.2125, 0.7154, 0.0721]) for x in (a, b)]
    reference = structural_similarity(luma[0], luma[1], data_range=1.0, win_size=7)
    assert ssim(Image.fromarray(a), Image.fromarray(b)) == pytest.approx(reference, abs=1e-4)


@pytest.mark.parametrize(
    ("lab1", "lab2", "published"),
    [  # Sharma, Wu, Dalal (2005), Table 1, pairs 1–3 and 7
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 3.1571, -77.2803), (50, 0, -82.7485), 2.8615),
        ((50, 2.8361, -74.0200), (50, 0, -82.7485), 3.4412),
        ((50, 0, 0), (50, -1, 2), 2.3669),
    ],
)
def test_ciede2000_matches_sharmas_published_pairs(
    lab1: tuple[float, ...], lab2: tuple[float, ...], published: float
) -> None:
    assert float(ciede2000(np.array(lab1), np.array(lab2))) == pytest.approx(published, abs=1e-3)


def test_pictures_of_other_sizes_are_stretched_and_it_is_said() -> None:
    before = picture(400, 300)
    after = picture(320, 180)
    drift = measure(before, after)
    assert drift.stretched and drift.compared == ((400, 300), (320, 180))
    assert "stretched" in repr(drift) and "400×300" in repr(drift)


def test_big_pictures_are_measured_on_reduced_copies() -> None:
    drift = measure(picture(2048, 1536), picture(2048, 1536, seed=3))
    assert max(drift.frame) == MEASURE_SIDE
    assert drift.delta_map.shape == (drift.frame[1], drift.frame[0])


def test_region_drift_is_zero_beyond_the_feather_and_sees_a_leak() -> None:
    data = photo_of("png")
    crop_image, chosen = RegionEdit.prepare(data, (300, 200, 560, 420))
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    drift = measure(data, done, plan=chosen)
    assert drift.kind == "region" and drift.outside_changed == 0
    assert drift.outside_total == 900 * 600 - int(chosen.reach((0, 0, 900, 600)).sum())
    assert 0 < drift.delta_e < 5  # only the feather ring differs outside the region
    assert drift.summary().startswith("drift 0 px beyond the feather")

    leaked = done.image().copy()
    leaked.putpixel((5, 5), (0, 0, 0))  # one pixel far from the region
    worse = measure(data, leaked, plan=chosen)
    assert worse.outside_changed == 1 and worse.summary().startswith("drift 1 px")


def test_heatmap_is_light_where_the_picture_changed() -> None:
    a = picture()
    pixels = np.asarray(a).copy()
    pixels[100:200, 100:200] = 255 - pixels[100:200, 100:200]
    heat = np.asarray(measure(a, Image.fromarray(pixels)).heatmap().convert("L"))
    assert heat[120:180, 120:180].mean() > heat[:80, :80].mean() + 100


def test_drift_shows_as_html_and_text_in_both_languages() -> None:
    a = picture()
    drift = measure(a, Image.fromarray(255 - np.asarray(a)))
    page = drift._repr_html_()
    assert '<img src="data:image/jpeg;base64,' in page and "CIEDE2000" in page
    assert repr(drift).startswith("Drift: drift of the whole picture")
    _i18n.set_language("zh")
    assert "偏移" in drift.summary() and "结构相似度" in repr(drift)


def test_region_drift_of_a_16_bit_photo_is_counted_exactly() -> None:
    data = photo_of("png16_rgb")
    crop_image, chosen = RegionEdit.prepare(data, (100, 100, 300, 300))
    [done] = RegionEdit.finish(chosen, data, [model_output(crop_image, chosen)])
    assert measure(open_photo(data), done.photo, plan=chosen).outside_changed == 0
    assert encoded(done.image(), "PNG")  # an 8-bit view for showing
