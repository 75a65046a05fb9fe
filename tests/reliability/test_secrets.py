"""Secrets canary: every notebook and the CLI run with a canary API key against an emulator
in its own process. The key must occur zero times in notebook outputs, the journal, the
cache, saved files and metadata, and the logs of the emulator and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from benchmarks.emulator_process import EmulatorProcess, emulator_process

CANARY = "sk-canary-0a1b2c3d4e5f-kling"
REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorProcess, Path]]:
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with emulator_process(log=log, service_time=0.5, workers=4) as process:
        yield process, log


def canary_env(emu: EmulatorProcess, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QINIU_API_KEY", "KLING_NB_BACKEND")}
    # PYTHONPATH: the kernels import this checkout even where it is not pip-installed, so
    # the notebooks' install cell never reaches for the network.
    return {
        **env,
        **emu.env,
        "FAL_KEY": CANARY,
        "KLING_NB_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }


def assert_no_canary(*roots: Path) -> int:
    """Every file below `roots` is free of the canary; returns how many files were read."""
    count = 0
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                count += 1
                assert CANARY.encode() not in path.read_bytes(), path
    return count


@pytest.mark.timeout(180)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_run_with_a_canary_key_never_shows_it(
    notebook: Path,
    emu: tuple[EmulatorProcess, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, log = emu
    work = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", work, ignore=shutil.ignore_patterns("outputs"))
    home = tmp_path / "home"
    for key, value in canary_env(process, home).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(work / notebook.name, as_version=4)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(work)}}).execute()
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    text = executed.read_text(encoding="utf-8")
    assert "kling_nb → the fal-compatible queue" in text or "FAL_QUEUE_RUN_HOST" in text
    assert home.is_dir()  # the journal and cache were written, and are checked below
    files = assert_no_canary(executed, home, work, log)
    assert files >= 3


def test_cli_with_a_canary_key_never_shows_it(
    emu: tuple[EmulatorProcess, Path], tmp_path: Path
) -> None:
    process, log = emu
    home, out = tmp_path / "home", tmp_path / "out"
    env = canary_env(process, home)
    sample = REPO / "kling_nb" / "samples" / "cat.jpg"
    runs = [
        ["edit", str(sample), "-p", "pixel art of <<<image_1>>>", "--out", str(out)],
        ["edit", "https://example.com/cat.jpg", "-p", "fails: remote URL"],
        ["history"],
        ["resume"],
    ]
    seen = ""
    for args in runs:
        proc = subprocess.run(
            [sys.executable, "-m", "kling_nb.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        seen += proc.stdout + proc.stderr
    assert "pixel art" in seen and list(out.glob("*.png"))
    assert CANARY not in seen
    assert assert_no_canary(home, out, log) >= 4
