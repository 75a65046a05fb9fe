"""nbval runs each notebook in a kernel started from this pytest process: start it offline
on the emulator (no keys, its own temporary KLING_NB_HOME, loopback only), exactly as
`regenerate.py` does, and leave the environment of the other tests untouched."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from regenerate import offline_env, patched_environ

_homes: dict[Path, Path] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # nbval starts a notebook's kernel while setting up the notebook's first cell.
    if item.path.suffix != ".ipynb":
        yield
        return
    if item.path not in _homes:
        _homes[item.path] = Path(tempfile.mkdtemp(prefix="kling_nb_notebooks_"))
    with patched_environ(offline_env(_homes[item.path])):
        yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    for home in _homes.values():
        shutil.rmtree(home, ignore_errors=True)
