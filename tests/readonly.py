"""Run a Python script in a child process that sees `home` read-only.

Root ignores file modes: there, the home is a read-only bind mount in a private mount
namespace (gone with the child process); a root without mount namespaces skips the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_read_only(home: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -c script` with `home` read-only (modes 555/444, a read-only mount as root)."""
    home.chmod(0o555)
    for path in home.iterdir():
        if path.is_file():
            path.chmod(0o444)
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        mount = f'mount --bind {home} {home} && mount -o remount,bind,ro {home} && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, "sh", *command]
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            home.chmod(0o755)
            pytest.skip("root without a mount namespace: cannot make a read-only home")
    base = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "PYTHONPATH": str(REPO),
        "HOME": str(home.parent),
    }
    try:
        return subprocess.run(
            command, capture_output=True, text=True, env={**base, **env}, timeout=120
        )
    finally:
        home.chmod(0o755)
