"""kling_nb's own edit, end to end, against the emulator playing each service profile."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import kling_nb
from kling_nb import _config

from .conftest import connect_to


def test_edit_completes_on_every_profile_and_counts_billed_images(
    profile_emu: Any, home: Path
) -> None:
    conn = connect_to(profile_emu, home)
    conn = dataclasses.replace(conn, profile=profile_emu.options.profile)
    try:
        sample = kling_nb.sample_image("running-man.jpg")
        result = kling_nb.edit(
            "turn <<<image_1>>> into a watercolor",
            sample,
            num_images=2,
            progress=False,
            connection=conn,
            timeout=60,
        )
    finally:
        _config._current = None
    assert len(result.images) == 2
    billed = profile_emu.stats()["requests"][result.request_id]["billed_images"]
    assert billed == 2


def test_text_to_image_through_kling_nb_on_the_qiniu_profile(profile_emu: Any, home: Path) -> None:
    profile = profile_emu.options.profile
    conn = dataclasses.replace(connect_to(profile_emu, home), profile=profile)
    try:
        if profile != "qiniu":
            before = profile_emu.stats()["totals"]["submits"]
            try:
                kling_nb.edit("a lighthouse at dusk", [], progress=False, connection=conn)
            except kling_nb.KlingValidationError as exc:
                assert "Qiniu only" in str(exc)
            else:
                raise AssertionError("text-to-image was sent to a profile without it")
            assert profile_emu.stats()["totals"]["submits"] == before  # refused before sending
            return
        result = kling_nb.edit(
            "a lighthouse at dusk, watercolor", [], progress=False, connection=conn, timeout=60
        )
    finally:
        _config._current = None
    assert len(result.images) == 1
