"""A private JupyterLab on loopback and headless Chromium (the system's, never downloaded).

The server is offline by configuration: no news feed, no update check, a read-only
extension manager, the announcements plugin disabled, its own config/runtime/settings
folders, a random free port and a token. The kernel imports this checkout's kling_nb.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HERE = Path(__file__).parent
REPO = HERE.parents[1]
FIXTURE = HERE / "panel.ipynb"
SERVER_START_TIMEOUT = 40.0

# The fixture notebook is opened in the browser, not run by nbval.
collect_ignore_glob = ["*.ipynb"]


@dataclass
class Lab:
    """A running JupyterLab: where it is, and the folders it works in."""

    url: str
    token: str
    root: Path
    home: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _offline_config(config_dir: Path) -> None:
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True)
    disabled = {
        "@jupyterlab/apputils-extension:announcements": True,
        "@jupyterlab/extensionmanager-extension:plugin": True,
    }
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))


def _lab_command(port: int, token: str, base: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={base / 'root'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={base / 'settings'}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),  # CI boxes
    ]


def _lab_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        KLING_NB_HOME=str(base / "home"),
        KLING_NB_LANG="en",
        KLING_NB_BACKEND="local",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    for name in ("QINIU_API_KEY", "FAL_KEY", "FAL_QUEUE_RUN_HOST"):
        env.pop(name, None)  # the browser test never reaches a real service
    return env


def _wait_ready(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer in {SERVER_START_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a temp folder that holds the fixture notebook."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (the CI script installs it with apt: chromium)")
    base = tmp_path_factory.mktemp("lab")
    for name in ("root", "settings", "workspaces", "runtime", "home"):
        (base / name).mkdir()
    _offline_config(base / "config")
    shutil.copy(FIXTURE, base / "root" / FIXTURE.name)
    port, token = _free_port(), secrets.token_hex(16)
    log = base / "lab.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _lab_command(port, token, base),
            env=_lab_env(base),
            cwd=base / "root",
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels go down with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, token, process, log)
        yield Lab(url, token, base / "root", base / "home", log, process)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@dataclass
class PageProblems:
    """What went wrong in the page: uncaught errors and console errors."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def browser_page(lab: Lab) -> Iterator[tuple[Any, PageProblems]]:
    """A fresh Chromium page, and the problems it reports."""
    from playwright.sync_api import sync_playwright

    problems = PageProblems()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 2400})
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: problems.console.append(msg.text) if msg.type == "error" else None,
        )
        try:
            yield page, problems
        finally:
            context.close()
            browser.close()
