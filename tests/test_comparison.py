"""`EditResult` says itself in the interface language, and `compare()` outside a notebook is a
picture that can be saved or opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import kling_nb
from kling_nb import EditResult, _i18n

from .test_results import photo


@pytest.fixture
def result(emu, conn) -> EditResult:  # type: ignore[no-untyped-def]
    return kling_nb.edit("sepia <<<image_1>>>", photo(), num_images=2, progress=False)


def test_the_repr_speaks_chinese_in_the_zh_interface(result: EditResult) -> None:
    _i18n.set_language("zh")
    text = repr(result)
    assert text.startswith("编辑结果（EditResult）：2 张图片") and "模拟器" in text
    assert "emulator" not in text and "image(s)" not in text
    _i18n.set_language("en")
    assert repr(result).startswith("EditResult: 2 image(s)") and "· emulator ·" in repr(result)


@pytest.mark.parametrize(
    ("name", "kind"), [("cmp.png", "PNG"), ("cmp.jpg", "JPEG"), ("cmp", "JPEG")]
)
def test_compare_outside_a_notebook_saves_a_picture(
    result: EditResult, tmp_path: Path, name: str, kind: str
) -> None:
    comparison = result.compare()
    path = comparison.save(tmp_path / name)
    assert path.name.startswith("cmp") and path.suffix in (".png", ".jpg")
    with Image.open(path) as saved:
        assert saved.format == kind and saved.size == comparison.image().size
    assert "inputs: 1 · outputs: 2" in repr(comparison)


def test_compare_labels_its_rows_in_the_interface_language(result: EditResult) -> None:
    english = result.compare().image()
    _i18n.set_language("zh")
    chinese = result.compare().image()
    assert "输入: 1 · 输出: 2" in repr(result.compare())
    assert english.size == chinese.size and english.tobytes() != chinese.tobytes()
