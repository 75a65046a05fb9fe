"""EditResult: cached at once, displayed as a small gallery, saved with metadata, no key."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

import kling_nb
from kling_nb import EditResult

from .conftest import CANARY_KEY


def photo() -> Image.Image:
    img = Image.radial_gradient("L").resize((800, 600)).convert("RGB")
    img.paste((30, 160, 60), (100, 100, 300, 300))
    return img


@pytest.fixture
def result(conn) -> EditResult:  # type: ignore[no-untyped-def]
    return kling_nb.edit("oil painting of <<<image_1>>>", photo(), num_images=2, progress=False)


def test_images_are_in_the_cache_when_edit_returns(result: EditResult, home) -> None:  # type: ignore[no-untyped-def]
    assert len(result) == 2
    for im in result:
        assert im.path.is_file() and im.path.is_relative_to(home / "cache" / result.request_id)
        assert im.pil().size == (im.width, im.height)
    assert result.emulated and result.backend == "emulator"


def test_gallery_bundle_is_a_small_jpeg_plus_text(result: EditResult) -> None:
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"image/jpeg", "text/plain"}
    jpeg = base64.b64decode(bundle["image/jpeg"])
    assert len(jpeg) <= 80_000 * len(result)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    assert result.request_id in bundle["text/plain"] and "2 image(s)" in bundle["text/plain"]


def test_compare_shows_inputs_and_outputs(result: EditResult) -> None:
    bundle = result.compare()._repr_mimebundle_()
    assert "inputs: 1 · outputs: 2" in bundle["text/plain"]
    sheet = Image.open(io.BytesIO(base64.b64decode(bundle["image/jpeg"])))
    assert sheet.width > sheet.height  # two outputs side by side, input above


def test_repr_does_no_io(result: EditResult, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("display must not read files")

    monkeypatch.setattr(Image, "open", refuse)
    assert "EditResult" in repr(result)
    result._repr_mimebundle_()


def test_save_embeds_metadata_in_png_and_writes_a_sidecar(result: EditResult, tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = result.save(tmp_path / "out")
    assert [p.suffix for p in paths] == [".png", ".png"]
    with Image.open(paths[0]) as img:
        meta = json.loads(img.text["kling_nb"])  # type: ignore[attr-defined]
        assert img.size == (result[0].width, result[0].height)
    assert meta["request_id"] == result.request_id and meta["prompt"].startswith("oil painting")
    assert meta["num_images"] == 2 and meta["endpoint"] == kling_nb.ENDPOINT
    sidecar = json.loads(paths[1].with_suffix(".png.json").read_text(encoding="utf-8"))
    assert sidecar["image"] == 2


def test_save_jpeg_keeps_pixels_and_adds_exif(conn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = kling_nb.edit("sketch <<<image_1>>>", photo(), output_format="jpeg", progress=False)
    (path,) = res.save(tmp_path)
    assert path.suffix == ".jpg"
    with Image.open(path) as saved, Image.open(res[0].path) as cached:
        desc = json.loads(saved.getexif()[0x010E])
        assert saved.tobytes() == cached.tobytes()  # the JPEG was not re-encoded
    assert desc["request_id"] == res.request_id


def test_no_saved_or_cached_file_contains_the_key(result: EditResult, tmp_path, home) -> None:  # type: ignore[no-untyped-def]
    result.save(tmp_path / "saved")
    files = [p for p in list(tmp_path.rglob("*")) + list(home.rglob("*")) if p.is_file()]
    assert files
    for path in files:
        assert CANARY_KEY.encode() not in path.read_bytes(), path
    assert CANARY_KEY not in repr(result)


def test_save_returns_paths_as_the_caller_named_the_folder(
    result: EditResult,
    tmp_path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = result.save("outputs")
    assert [str(p.parent) for p in paths] == ["outputs", "outputs"]  # portable in a notebook
    assert all((tmp_path / p).is_file() for p in paths)


def test_the_journal_records_saves_through_the_job_not_the_result(
    result: EditResult,
    tmp_path,  # type: ignore[no-untyped-def]
    home,  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    from kling_nb._journal import journal_for

    saved = result.save(tmp_path / "a")
    entry = journal_for(home).find(result.request_id)
    assert entry is not None and entry.saved == [str(p.resolve()) for p in saved]
    # The same value without its producer's hook is plain data: saving writes no journal.
    loose = replace(result, _on_saved=None)
    loose.save(tmp_path / "b")
    again = journal_for(home).find(result.request_id)
    assert again is not None and again.saved == entry.saved
