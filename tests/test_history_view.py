"""history() reads without writing, and speaks the interface language."""

from __future__ import annotations

from pathlib import Path

import kling_nb
from kling_nb import _i18n
from kling_nb._journal import JournalEntry

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


def test_an_empty_journal_says_so_and_only_a_filter_says_match(home: Path) -> None:
    empty = repr(kling_nb.history())
    assert "no jobs yet" in empty and "match" not in empty
    assert "match these filters" in repr(kling_nb.history("failed"))


def test_emulated_rows_are_not_counted_as_spend(emu, env) -> None:  # type: ignore[no-untyped-def]
    kling_nb.connect(env={**env, "KLING_NB_PRICE": "0.028 USD"}, quiet=True)
    kling_nb.edit("watercolor of <<<image_1>>>", photo(), num_images=2, progress=False)
    text = repr(kling_nb.history())
    assert "0.056 USD (emulated)" in text  # the row's figure, marked
    day = next(line for line in text.splitlines() if line.startswith("  20"))
    assert day.split(": ", 1)[1].startswith("0 (besides 0.056 USD emulated, not billed)"), day
    assert "emulator" in text.splitlines()[2] and "custom" not in text and "local" not in text


def test_a_row_prints_as_one_readable_line(emu, conn) -> None:  # type: ignore[no-untyped-def]
    result = kling_nb.edit("sepia <<<image_1>>>", photo(), progress=False)
    row = kling_nb.history()[0]
    line = repr(row)
    assert "\n" not in line and line.startswith("#1 · ") and str(row) == line
    assert f"· completed · emulator · {result.request_id} · 1 image(s) ·" in line
    assert "'sepia <<<image_1>>>'" in line and isinstance(row, JournalEntry)
