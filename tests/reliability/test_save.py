"""save(): whole files or none, inside its folder, never over another result's image, and a
path with an image suffix is a file name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import kling_nb
from kling_nb import KlingError

from .hostile import png_bytes


@pytest.fixture(scope="module")
def two_results(emu, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ..conftest import connect_to

    home = tmp_path_factory.mktemp("save_home")
    source = home / "in.png"
    source.write_bytes(png_bytes(400))
    conn = connect_to(emu, home)
    first = kling_nb.edit("make <<<image_1>>> red", [source], connection=conn, timeout=60)
    second = kling_nb.edit("make <<<image_1>>> blue", [source], connection=conn, timeout=60)
    kling_nb._config._current = None
    return first, second


def test_the_same_stem_for_two_results_never_overwrites(two_results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, second = two_results
    (a,) = first.save(tmp_path, stem="cat")
    before = a.read_bytes()
    (b,) = second.save(tmp_path, stem="cat")
    assert a.name == "cat_1.png" and b.name == "cat_1-2.png"
    assert a.read_bytes() == before and b.read_bytes() != before
    sidecar = json.loads(b.with_suffix(".png.json").read_text(encoding="utf-8"))
    assert sidecar["request_id"] == second.request_id
    assert first.save(tmp_path, stem="cat") == [a]  # saving the same result again: same file
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_path_with_an_image_suffix_is_a_file_name(two_results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, second = two_results
    (path,) = first.save(tmp_path / "out.png")
    assert path == tmp_path / "out.png" and path.is_file()
    with Image.open(path) as img:
        assert img.format == "PNG" and "kling_nb" in img.info
    (jpeg,) = first.save(tmp_path / "out.JPG")
    with Image.open(jpeg) as img:
        assert img.format == "JPEG"
    with pytest.raises(KlingError, match="already holds a different image"):
        second.save(tmp_path / "out.png")  # a named file is never replaced by another result


@pytest.mark.parametrize("stem", ["../escape", "/abs", "a/b", "..", "nul\x00"])
def test_a_stem_cannot_leave_the_folder(two_results, tmp_path: Path, stem: str) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_results
    folder = tmp_path / "inside"
    with pytest.raises(KlingError, match="is not a plain file name"):
        first.save(folder, stem=stem)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_an_unwritable_folder_is_said_in_words(two_results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_results
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KlingError, match="Could not save to"):
        first.save(blocker / "sub")
