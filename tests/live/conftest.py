"""Live tests: the real service that QINIU_API_KEY (or FAL_KEY) selects, billed per image.

They run only when a key is set AND they are asked for with `-m live`: without a key they are
not even collected, so `pytest tests` (CI, tests/run.sh) never selects them. Here alone the
autouse loopback guard of tests/conftest.py is switched off, since they must reach the service.

    QINIU_API_KEY=… python -m pytest tests/live -m live -q      # about $0.03–0.06 on fal
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import _config

KEYS = ("QINIU_API_KEY", "FAL_KEY")

if not any(os.environ.get(name, "").strip() for name in KEYS):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(autouse=True)
def no_remote() -> None:
    """Overrides the loopback-only guard: these tests exist to reach the real service."""


@pytest.fixture(autouse=True)
def asked_for(request: pytest.FixtureRequest) -> None:
    """Skip unless the run selected live tests explicitly (`-m live`)."""
    expression = request.config.getoption("markexpr") or ""
    if "live" not in expression or "not live" in expression:
        pytest.skip("live tests run only with -m live (they call the paid service)")


@pytest.fixture
def backend() -> str:
    """qiniu when QINIU_API_KEY is set, else fal: as connect('auto') chooses."""
    return "qiniu" if os.environ.get("QINIU_API_KEY", "").strip() else "fal"


@pytest.fixture
def live(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_config.Connection]:
    """A connection to the real service, with a journal in a temporary home."""
    monkeypatch.setenv("KLING_NB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAL_QUEUE_RUN_HOST", raising=False)
    yield kling_nb.connect(backend, quiet=True)
    _config._current = None
