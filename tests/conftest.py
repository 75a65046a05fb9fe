"""Shared fixtures: a temporary KLING_NB_HOME, and a real emulator on loopback.

Tests never touch the user's home or the network beyond 127.0.0.1: the `no_remote`
guard makes any other connection attempt fail loudly.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import _config, _i18n

CANARY_KEY = "sk-canary-5f3e9d1c7b2a"

# A parent that ignores SIGINT (nohup, some CI runners) hands that on to pytest and to every
# process it starts; the interrupt tests need Python's own handler, here and in those children.
signal.signal(signal.SIGINT, signal.default_int_handler)


def _is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return True  # unix sockets and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection to a non-loopback address."""
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def guarded_connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise AssertionError(f"test tried to reach {address!r}: only loopback is allowed")
        real_connect(self, address)

    def guarded_create(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach {address!r}: only loopback is allowed")
        return real_create(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create)


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME in a temporary folder: whatever falls back to ~/.kling_nb stays out of the
    user's real home."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("user_home")))


#: what connect() writes into the process environment (fal_client and httpx read it there)
PROCESS_VARIABLES = ("FAL_QUEUE_RUN_HOST", "FAL_KEY", "SSL_CERT_FILE", "KLING_NB_BACKEND")


@pytest.fixture(autouse=True)
def restored_process_env() -> Iterator[None]:
    """Undo what a test's connect() wrote into os.environ: a later test must not inherit an
    emulator's host or a CA bundle that was deleted with it."""
    saved = {name: os.environ.get(name) for name in PROCESS_VARIABLES}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages in English unless a test asks otherwise; reset afterwards."""
    _i18n.set_language("en")
    yield
    _i18n.set_language(None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh KLING_NB_HOME."""
    folder = tmp_path / "kling_home"
    monkeypatch.setenv("KLING_NB_HOME", str(folder))
    return folder


@pytest.fixture(scope="module")
def emu() -> Iterator[kling_nb.emulator.Emulator]:  # type: ignore[name-defined]
    """A real emulator on loopback, shared by a test module (short service time)."""
    from kling_nb import emulator

    with emulator.start(service_time=0.3, workers=2, seed=7) as handle:
        yield handle


@pytest.fixture(scope="module", params=["plain", "qiniu", "fal"])
def profiled_emu(request: pytest.FixtureRequest) -> Iterator[kling_nb.emulator.Emulator]:  # type: ignore[name-defined]
    """A real emulator on loopback answering as each service profile in turn (docs/services.md)."""
    from kling_nb import emulator

    with emulator.start(service_time=0.3, workers=2, seed=7, profile=request.param) as handle:
        yield handle


@pytest.fixture
def env(emu, home: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An environment mapping that points kling_nb at `emu` with a canary key."""
    return {
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(home),
        "KLING_NB_LANG": "en",
    }


def connect_to(emu: kling_nb.emulator.Emulator, home: Path) -> _config.Connection:  # type: ignore[name-defined]
    """Connect kling_nb to `emu` the way a user with FAL_QUEUE_RUN_HOST would, with its
    own home and the canary key."""
    env = {
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(home),
        "KLING_NB_PROFILE": emu.options.profile,  # the rules of the service it imitates
    }
    return kling_nb.connect(env=env, quiet=True)


@pytest.fixture
def conn(env: dict[str, str]) -> Iterator[_config.Connection]:
    """A connection to the test emulator (through the explicit-host path of connect)."""
    connection = kling_nb.connect(env=env, quiet=True)
    yield connection
    _config._current = None
