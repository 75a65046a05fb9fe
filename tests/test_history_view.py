"""history() reads without writing, and speaks the interface language."""

from __future__ import annotations

from pathlib import Path

import kling_nb
from kling_nb import _i18n

from .test_job import photo


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_history_writes_no_file_and_finds_the_tile_made_at_completion(emu, conn, home) -> None:  # type: ignore[no-untyped-def]
    result = kling_nb.edit("watercolor of <<<image_1>>>", photo(), progress=False)
    thumbs = home / "thumbs"
    tile = thumbs / f"out-{result.request_id}.jpg"
    assert tile.is_file()  # made when the job completed
    tile.unlink()  # as in an older journal, whose tiles were never made
    before = files_under(home)
    shown = kling_nb.history()
    assert shown._sheet  # the tile made in memory
    assert files_under(home) == before


def test_history_rows_speak_chinese_in_the_zh_interface(emu, conn) -> None:  # type: ignore[no-untyped-def]
    kling_nb.edit("watercolor of <<<image_1>>>", photo(), progress=False)
    _i18n.set_language("zh")
    text = repr(kling_nb.history())
    assert "已完成" in text and "completed" not in text
    _i18n.set_language("en")
    assert "completed" in repr(kling_nb.history())
