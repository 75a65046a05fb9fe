"""A SIGKILLed emulator leaves its temp folder (TLS private key inside); the next start
removes such folders, but only ours and only of processes that are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kling_nb.emulator import start
from kling_nb.emulator._server import OWNER_FILE, remove_stale_folders

REPO = Path(__file__).resolve().parents[2]
CHILD = (
    "import time, kling_nb.emulator as e\n"
    "emu = e.start(service_time=0.01)\n"
    "print(emu.ca_bundle, flush=True)\n"
    "time.sleep(120)\n"
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="probes PIDs with signal 0")


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of our own, for this process and its children (no other emulators)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _emulator_child(root: Path) -> tuple[subprocess.Popen[str], Path]:
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", ""), "TMPDIR": str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    bundle = Path(child.stdout.readline().strip())
    return child, bundle.parents[1]  # <folder>/tls/bundle.pem


def test_a_killed_emulators_folder_is_removed_by_the_next_start(temp_root: Path) -> None:
    killed, stale = _emulator_child(temp_root)
    alive, live = _emulator_child(temp_root)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert (stale / "tls" / "server.key").is_file()  # what SIGKILL leaves behind
        foreign = temp_root / "kling_nb_emulator_not_ours"  # no owner mark: not ours to judge
        foreign.mkdir()
        with start(service_time=0.01) as emu:
            assert Path(emu.ca_bundle).is_relative_to(temp_root)
            assert not stale.exists()
            assert live.exists() and foreign.exists()  # a live process's, and a stranger
    finally:
        alive.kill()
        alive.wait(10)


def test_only_dead_owners_folders_go(temp_root: Path) -> None:
    def folder(name: str, owner: str | None) -> Path:
        path = temp_root / f"kling_nb_emulator_{name}"
        path.mkdir()
        if owner is not None:
            (path / OWNER_FILE).write_text(owner)
        return path

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    dead = folder("dead", str(gone.pid))
    mine = folder("mine", str(os.getpid()))
    garbled = folder("garbled", "not a pid")
    unmarked = folder("unmarked", None)
    other = temp_root / "something_else"
    other.mkdir()
    assert remove_stale_folders(temp_root) == [dead]
    assert all(p.exists() for p in (mine, garbled, unmarked, other))
