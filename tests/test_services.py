"""kling_nb itself, end to end, against the emulator answering as each service profile."""

from __future__ import annotations

from pathlib import Path

import pytest

import kling_nb
from kling_nb._samples import sample_path

from .conftest import connect_to


def test_an_edit_completes_and_is_billed_once_per_image_on_every_profile(
    profiled_emu: kling_nb.emulator.Emulator,  # type: ignore[name-defined]
    home: Path,
) -> None:
    connect_to(profiled_emu, home)
    before = profiled_emu.stats()["totals"]["billed_images"]
    result = kling_nb.edit(
        "turn <<<image_1>>> into a watercolor", sample_path("cat.jpg"), num_images=2, timeout=60
    )
    assert len(result.images) == 2
    assert profiled_emu.stats()["totals"]["billed_images"] - before == 2


def test_text_to_image_runs_on_the_qiniu_profile(
    profiled_emu: kling_nb.emulator.Emulator,  # type: ignore[name-defined]
    home: Path,
) -> None:
    if profiled_emu.options.profile != "qiniu":
        pytest.skip("text-to-image is documented for Qiniu only")
    connect_to(profiled_emu, home)
    result = kling_nb.edit("a watercolor lighthouse", [], timeout=60)
    assert len(result.images) == 1
