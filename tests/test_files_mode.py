"""Files kling_nb writes follow the umask, like any program's: saved results, their sidecars,
the image cache and thumbnails are 0644 under umask 022 (0600 under 077), never a temp file's
private 0600 regardless."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb._files import atomic_write_bytes, current_umask

from .test_tasks import photo


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_current_umask_reads_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_an_atomic_write_has_the_mode_open_would_give(umask: int, tmp_path: Path) -> None:
    path = atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_saved_results_cache_and_thumbnails_follow_the_umask(emu, conn, home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = os.umask(0o022)
    try:
        result = kling_nb.edit("sepia <<<image_1>>>", photo(), progress=False)
        saved = result.save(tmp_path / "results")
    finally:
        os.umask(old)
    written = [*saved, *(p.with_suffix(p.suffix + ".json") for p in saved), *result.paths]
    written += list((home / "thumbs").iterdir())
    modes = {str(p): p.stat().st_mode & 0o777 for p in written}
    assert set(modes.values()) == {0o644}, modes
