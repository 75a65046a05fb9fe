"""Region edits through the whole pipeline (kling_nb._composites): the real fal_client against
the real emulator on loopback, on every service profile; the journal, the kept original,
replay, resume, budget, save in the original's format, and the drift of every edit."""

from __future__ import annotations

import asyncio
import io
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kling_nb
from kling_nb._api import start_edit
from kling_nb._cache import cache_job_output
from kling_nb._composites import ORIGINALS
from kling_nb._errors import KlingBudgetError, KlingError, KlingJobError, KlingRegionError
from kling_nb._images import PreparedImage
from kling_nb._journal import journal_for
from kling_nb._money import request_fingerprint
from kling_nb._photo import open_photo
from kling_nb._region import RegionPlan
from kling_nb._request import KlingO1Request
from kling_nb._results import make_result

from .conftest import connect_to
from .test_region import changed_mask, exact_pixels, photo_of

PROMPT = "turn <<<image_1>>> into a watercolor"
BOX = (300, 200, 560, 420)  # in a 900 × 600 photo
SUFFIX = {"jpeg": ".jpg", "png": ".png", "png16_grey": ".png", "png16_rgb": ".png", "rgba": ".png"}


def photo_file(folder: Path, kind: str = "jpeg", name: str = "photo") -> Path:
    path = folder / f"{name}{SUFFIX[kind]}"
    path.write_bytes(photo_of(kind))
    return path


def outside_kept(original: Path | bytes, composite: Path, plan: RegionPlan) -> tuple[int, float]:
    """(pixels that differ beyond the feather, share of region pixels that changed)."""
    before = exact_pixels(open_photo(original))
    after = exact_pixels(open_photo(composite))
    changed = changed_mask(before, after)
    size = (0, 0, before.shape[1], before.shape[0])
    return int(changed[~plan.reach(size)].sum()), float(changed[plan.region_mask(size)].mean())


def plan_of(result: kling_nb.EditResult) -> RegionPlan:
    assert result.region is not None
    return RegionPlan.from_json(result.region)


# --- one region edit, start to end ---------------------------------------------------------------


def test_a_region_edit_returns_full_size_composites_and_keeps_the_raw_outputs(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    result = kling_nb.edit(PROMPT, path, region=BOX, num_images=2, progress=False)
    plan = plan_of(result)
    assert [(im.width, im.height) for im in result.images] == [(900, 600)] * 2
    assert [im.path.name for im in result.images] == ["composite_1.png", "composite_2.png"]
    assert len(result.raw_images) == 2 and result.raw_images[0].path != result.images[0].path
    with Image.open(result.raw_images[0].path) as raw:
        assert raw.size != (900, 600)  # the model's own picture of the crop
    assert result.parameters["resolution"] == plan.resolution
    assert result.parameters["aspect_ratio"] == plan.aspect_ratio
    for image in result.images:
        leaked, edited = outside_kept(path, image.path, plan)
        assert leaked == 0 and edited > 0.9
    entry = journal_for(conn.home).find(result.request_id)
    assert entry is not None and entry.state == "completed"
    assert entry.cached == [str(im.path) for im in result.images]
    assert RegionPlan.from_json(entry.region) == plan  # type: ignore[arg-type]
    kept = conn.home / entry.region["kept"]  # type: ignore[index]
    assert kept.parent == conn.home / ORIGINALS and kept.read_bytes() == path.read_bytes()
    assert "photo.jpg · region (300, 200, 560, 420)" in entry.inputs[0]
    drifts = result.drift()
    assert len(drifts) == 2 and all(d.kind == "region" and d.outside_changed == 0 for d in drifts)
    assert "pasted back into the original" in repr(result) and "0 px changed" in repr(result)


def test_extra_references_and_async_edits_take_a_region_too(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    cat = kling_nb.sample_image("cat")
    prompt = "put the cat of <<<image_2>>> into <<<image_1>>>"
    result = asyncio.run(
        kling_nb.edit_async(prompt, [path, cat], region=BOX, num_images=2, progress=False)
    )
    assert len(result) == 2 and result.images[0].width == 900
    assert result.inputs[1] == "cat.jpg"
    assert outside_kept(path, result.images[1].path, plan_of(result))[0] == 0


def test_a_mask_region_edits_its_white_pixels_only(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path, "png")
    mask = Image.new("L", (900, 600), 0)
    mask.paste(255, (350, 250, 500, 400))
    mask.paste(255, (420, 220, 460, 440))
    mask_path = tmp_path / "mask.png"
    mask.save(mask_path)
    result = kling_nb.edit(PROMPT, path, region=mask_path, progress=False)
    plan = plan_of(result)
    assert plan.region.kind == "mask" and plan.region.box == (350, 220, 500, 440)
    leaked, edited = outside_kept(path, result.images[0].path, plan)
    assert leaked == 0 and edited > 0.9
    assert result.images[0].path.suffix == ".png"


def test_an_async_batch_of_region_edits_runs_each_and_a_bad_region_fails_alone(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    grid = kling_nb.request_grid(PROMPT, path, region=[BOX, (0, 0, 5000, 10), (100, 50, 400, 300)])
    batch = asyncio.run(kling_nb.run_batch_async(grid, connection=conn, progress=False))
    assert isinstance(batch[1], KlingRegionError) and "reaches past the photo" in str(batch[1])
    for result, box in ((batch[0], BOX), (batch[2], (100, 50, 400, 300))):
        assert isinstance(result, kling_nb.EditResult) and plan_of(result).region.box == box
        assert outside_kept(path, result.images[0].path, plan_of(result))[0] == 0


# --- money: the fingerprint, replay, budget, estimate --------------------------------------------


@pytest.mark.slow
def test_replay_gives_the_same_composites_and_another_region_or_photo_pays_again(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    first = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    again = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    assert again.request_id == first.request_id and again.paths == first.paths
    assert again.images[0].path.read_bytes() == first.images[0].path.read_bytes()
    moved = kling_nb.edit(PROMPT, path, region=(310, 200, 560, 420), progress=False)
    assert moved.request_id != first.request_id
    # Another photo whose crop is the very same picture: the body sent is identical, so
    # only the plan (the whole original's hash) tells them apart.
    pixels = exact_pixels(open_photo(path)).copy()
    pixels[:40, :40] = 0  # far from the crop
    other = tmp_path / "other.png"
    same = tmp_path / "same.png"
    Image.fromarray(exact_pixels(open_photo(path))).save(same)
    Image.fromarray(pixels).save(other)
    requests = [KlingO1Request(PROMPT, [p], region=BOX) for p in (same, other)]
    bodies = [r.prepare(conn.profile)[0] for r in requests]
    assert bodies[0]["image_urls"] == bodies[1]["image_urls"]
    prints = [
        request_fingerprint(conn, r.endpoint, b, r) for r, b in zip(requests, bodies, strict=True)
    ]
    assert prints[0] != prints[1]
    paid = [kling_nb.edit(PROMPT, p, region=BOX, progress=False) for p in (same, other)]
    assert paid[0].request_id != paid[1].request_id
    rows = journal_for(conn.home).entries()
    assert sum(1 for e in rows if e.replay_of) == 1 and sum(1 for e in rows if not e.replay_of) == 4


def test_a_replay_whose_composites_were_deleted_pastes_them_again_identically(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path, "rgba")
    first = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    made = first.images[0].path.read_bytes()
    first.images[0].path.unlink()
    again = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    assert again.request_id == first.request_id
    assert again.images[0].path.read_bytes() == made


def test_a_budget_counts_a_region_edit_per_output_image(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conn = kling_nb.connect(env={**env, "KLING_NB_PRICE": "0.028 USD"}, quiet=True)
    path = photo_file(tmp_path)
    kling_nb.set_budget("0.05 USD", home=conn.home)
    with pytest.raises(KlingBudgetError, match="0.056"):
        kling_nb.edit(PROMPT, path, region=BOX, num_images=2, progress=False, connection=conn)
    assert journal_for(conn.home).entries() == []  # nothing sent, not even a row
    kling_nb.edit(PROMPT, path, region=BOX, progress=False, connection=conn)
    assert kling_nb.budget(home=conn.home).spent == Decimal("0.028")
    kling_nb.set_budget(None, home=conn.home)


def test_an_estimate_shows_what_the_plan_sends_and_costs_per_image(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    region = kling_nb.estimate(PROMPT, path, region=BOX, num_images=3)
    whole = kling_nb.estimate(PROMPT, path, num_images=3)
    assert region.total.amount == whole.total.amount and region.images == 3
    send = KlingO1Request(PROMPT, [path], region=BOX).region_send(conn.profile)
    assert send is not None
    width, height = send.plan.crop_size
    text = repr(region)
    assert f"crop {width}×{height}" in text
    assert f"sent at {send.plan.resolution} {send.plan.aspect_ratio}" in text
    table = repr(kling_nb.estimate(kling_nb.request_grid([PROMPT], [path], region=[BOX, None])))
    assert table.count("region edit: crop") == 1


def test_request_grid_varies_regions_like_any_parameter(tmp_path: Path) -> None:
    path = photo_file(tmp_path)
    one = kling_nb.request_grid(["a <<<image_1>>>", "b <<<image_1>>>"], [path], region=BOX)
    assert [r.region for r in one] == [BOX, BOX]
    two = kling_nb.request_grid("a <<<image_1>>>", path, region=[BOX, [0, 0, 400, 400]])
    assert [r.region for r in two] == [BOX, [0, 0, 400, 400]]


def test_bad_regions_are_refused_in_words_before_anything_is_sent(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    with pytest.raises(KlingRegionError, match="reaches past the photo"):
        kling_nb.edit(PROMPT, path, region=(0, 0, 901, 10), progress=False)
    with pytest.raises(KlingRegionError, match="needs a photo|no image"):
        kling_nb.edit(PROMPT, [], region=BOX, progress=False)
    with pytest.raises(KlingError, match="web address"):
        kling_nb.edit(PROMPT, "https://example.com/a.jpg", region=BOX, progress=False)
    assert journal_for(conn.home).entries() == []


# --- resume after a crash ------------------------------------------------------------------------


def _crashed(conn, path: Path, **options: object) -> str:  # type: ignore[no-untyped-def]
    """A region edit whose process 'died' once the job completed, before anything was pasted."""
    request = KlingO1Request(PROMPT, [path], region=BOX, **options)  # type: ignore[arg-type]
    started = start_edit(request, conn, progress=False)
    job = started.job  # type: ignore[union-attr]
    output = job.wait_output(60, None, False)
    cache_job_output(job, output, complete=False)  # the outputs were cached, no more
    entry = journal_for(conn.home).find(job.request_id)
    assert entry is not None and entry.state == "downloading" and entry.cached == []
    return job.request_id


@pytest.mark.slow
def test_resume_after_a_crash_pastes_back_what_the_live_edit_would_have(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path, "png16_rgb")
    request_id = _crashed(conn, path, num_images=2)
    resumed = kling_nb.resume(request_id, connection=conn, progress=False)
    assert [im.path.name for im in resumed.images] == ["composite_1.png", "composite_2.png"]
    assert len(resumed.raw_images) == 2 and resumed.region is not None
    for image in resumed.images:
        assert outside_kept(path, image.path, plan_of(resumed))[0] == 0
    entry = journal_for(conn.home).find(request_id)
    assert entry is not None and entry.state == "completed"
    assert entry.cached == [str(im.path) for im in resumed.images]
    replayed = kling_nb.edit(PROMPT, path, region=BOX, num_images=2, progress=False)
    assert replayed.request_id == request_id and replayed.paths == resumed.paths


def test_a_kept_original_that_is_gone_is_said_and_the_job_stays_resumable(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    request_id = _crashed(conn, path)
    entry = journal_for(conn.home).find(request_id)
    kept = conn.home / entry.region["kept"]  # type: ignore[union-attr, index]
    kept.unlink()
    with pytest.raises(KlingJobError, match="no longer at") as caught:
        kling_nb.resume(request_id, connection=conn, progress=False)
    assert str(kept) in str(caught.value)
    assert journal_for(conn.home).find(request_id).state == "downloading"  # type: ignore[union-attr]
    kept.write_bytes(path.read_bytes())  # as the message says
    assert len(kling_nb.resume(request_id, connection=conn, progress=False)) == 1


# --- every service profile, every kind of photo --------------------------------------------------


@pytest.mark.slow
def test_every_profile_keeps_every_pixel_outside_in_the_cached_composite(
    profiled_emu, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    conn = connect_to(profiled_emu, tmp_path / "home")
    kinds = ["jpeg", "png", "png16_grey", "png16_rgb", "rgba"]
    paths = [photo_file(tmp_path, kind, name=kind) for kind in kinds]
    requests = [KlingO1Request(PROMPT, [p], region=BOX) for p in paths]
    batch = kling_nb.run_batch(requests, connection=conn, progress=False)
    batch.raise_for_errors()
    for kind, path, result in zip(kinds, paths, batch.results, strict=True):
        leaked, edited = outside_kept(path, result.images[0].path, plan_of(result))
        assert leaked == 0, (profiled_emu.options.profile, kind)
        assert edited > 0.5, (profiled_emu.options.profile, kind)
        assert result.drift()[0].outside_changed == 0


# --- saving in the original's format -------------------------------------------------------------


def _described(path: Path) -> dict:  # type: ignore[type-arg]
    with Image.open(path) as image:
        return json.loads(image.getexif()[0x010E])


def test_save_writes_the_originals_format_and_says_what_jpeg_does(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    result = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    [jpeg] = result.save(tmp_path / "out")
    assert jpeg.suffix == ".jpg"
    meta = _described(jpeg)
    assert (
        meta["region"]["exact_outside_region"] is False
        and "lossless=True" in meta["region"]["note"]
    )
    assert meta["region"]["box"] == list(BOX) and meta["request_id"] == result.request_id
    with Image.open(jpeg) as written, Image.open(path) as original:
        assert written.quantization == original.quantization and written.size == original.size
    [png] = result.save(tmp_path / "exact", lossless=True)
    assert png.suffix == ".png" and _described(png)["region"]["exact_outside_region"] is True
    assert outside_kept(path, png, plan_of(result))[0] == 0
    sidecar = json.loads(png.with_suffix(".png.json").read_text())
    assert sidecar["region"]["exact_outside_region"] is True


def test_a_lossless_photo_is_saved_exactly_in_its_own_format(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path, "png16_grey")
    result = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    [saved] = result.save(tmp_path / "out")
    assert saved.suffix == ".png" and _described(saved)["region"]["exact_outside_region"] is True
    assert open_photo(saved).mode == "I;16"
    assert outside_kept(path, saved, plan_of(result))[0] == 0


# --- the drift of every edit ---------------------------------------------------------------------


def test_a_whole_picture_edit_measures_its_drift_against_image_1(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = photo_file(tmp_path)
    result = kling_nb.edit(PROMPT, path, num_images=2, progress=False)
    drifts = result.drift()
    assert [d.kind for d in drifts] == ["whole", "whole"]
    assert all(d.delta_e > 1 and d.compared[0] == (900, 600) for d in drifts)
    assert result.raw_images == result.images and result.region is None


def test_a_web_address_input_is_not_fetched_for_drift_unless_asked(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = kling_nb.edit(PROMPT, photo_file(tmp_path), progress=False)
    url = made.images[0].url  # the emulator's result: a web address on loopback
    assert url.startswith("http://127.0.0.1")
    request = KlingO1Request(PROMPT, [url])
    result = make_result(
        made.raw,
        made.images,
        request_id=made.request_id,
        endpoint=made.endpoint,
        connection=conn,
        request=request,
        inputs=[PreparedImage(url, None, None, None, (), "remote")],
    )
    with pytest.raises(KlingError, match="web address"):
        result.drift()
    assert "drift n/a" not in repr(result)  # a whole-picture result's text has no drift line
    [fetched] = result.drift(fetch=True)
    assert fetched.delta_e < 0.5 and "fetched from http://127.0.0.1" in repr(fetched)


def test_a_whole_picture_result_finished_by_resume_says_it_kept_only_a_thumbnail(
    conn, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    started = start_edit(KlingO1Request(PROMPT, [photo_file(tmp_path)]), conn, progress=False)
    job = started.job  # type: ignore[union-attr]
    job.wait_output(60, None, False)
    resumed = kling_nb.resume(job.request_id, connection=conn, progress=False)
    with pytest.raises(KlingError, match="thumbnail"):
        resumed.drift()


def test_the_gallery_shows_one_drift_figure_per_output_in_chinese_too(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kling_nb import _gallery, _i18n

    _i18n.set_language("zh")
    result = kling_nb.edit(PROMPT, photo_file(tmp_path), region=BOX, num_images=2, progress=False)
    captions = result._drift_words()
    assert len(captions) == 2 and all(c.startswith("偏移 ") and c.endswith(" ΔE") for c in captions)
    assert all(set(c) <= _gallery._cjk_characters() for c in captions)  # glyphs, not boxes
    with Image.open(io.BytesIO(result._sheet)) as sheet:
        assert sheet.width > 600
    _i18n.set_language("en")
    assert result._drift_words()[0].startswith("drift ")


def test_nothing_outside_the_region_moves_even_by_one_level(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The figure the issue asks for, on the cached composite as shown: 100 % identical."""
    path = photo_file(tmp_path)
    result = kling_nb.edit(PROMPT, path, region=BOX, progress=False)
    before = exact_pixels(open_photo(path)).astype(np.int32)
    after = exact_pixels(open_photo(result.images[0].path)).astype(np.int32)
    outside = ~plan_of(result).reach((0, 0, 900, 600))
    assert np.abs(before - after).max(axis=2)[outside].max() == 0
