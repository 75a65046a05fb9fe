"""The in-process handle: addresses, TLS files, stats, a stop that frees everything."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import certifi
import httpx
import pytest

from kling_nb.emulator import start

from .conftest import AUTH, SUBMIT, body


def test_handle_names_its_addresses_and_trust_files() -> None:
    with start(service_time=0.05) as emu:
        host, port = emu.url.removeprefix("https://").split(":")
        assert host == "127.0.0.1" and emu.host == f"127.0.0.1:{port}/queue"
        assert emu.files_url.startswith("http://127.0.0.1:") and emu.files_url != emu.url
        assert emu.env() == {
            "FAL_QUEUE_RUN_HOST": emu.host,
            "SSL_CERT_FILE": emu.ca_bundle,
            "KLING_NB_PROFILE": "plain",  # start()'s default; the CLI's is qiniu
        }
        bundle, own = Path(emu.ca_bundle).read_text(), Path(emu.ca_cert).read_text()
        assert bundle.startswith(Path(certifi.where()).read_text().rstrip()[:200])
        assert bundle.rstrip().endswith(own.rstrip())
        assert isinstance(emu.ssl_context(), ssl.SSLContext)
        assert emu.matches(service_time=0.05) and not emu.matches(workers=3)
        assert "running" in repr(emu)


def test_tls_verifies_with_the_bundle_for_127_0_0_1_and_localhost() -> None:
    with start() as emu:
        for base in (emu.url, emu.url.replace("127.0.0.1", "localhost")):
            with httpx.Client(verify=emu.ssl_context(), trust_env=False) as client:
                assert client.get(base + "/_emulator/stats").status_code == 200
        with pytest.raises(httpx.ConnectError):  # certifi alone does not trust it
            plain = ssl.create_default_context(cafile=certifi.where())
            httpx.get(emu.url + "/_emulator/stats", verify=plain, trust_env=False)


def test_files_port_serves_files_and_samples_but_not_the_queue() -> None:
    with start() as emu:
        assert httpx.get(emu.files_url + "/samples/running-man.jpg").status_code == 200
        queue = httpx.post(emu.files_url + SUBMIT, json=body(), headers=AUTH)
        assert queue.status_code == 404


def test_stop_is_idempotent_frees_ports_and_deletes_temp_files() -> None:
    emu = start(service_time=0.05)
    with httpx.Client(verify=emu.ssl_context(), headers=AUTH, trust_env=False) as client:
        sub = client.post(emu.url + SUBMIT, json=body()).json()
        stats = emu.stats()
        assert stats["totals"]["submits"] == 1 and sub["request_id"] in stats["requests"]
        folder = Path(emu.ca_bundle).parent.parent
        port = int(emu.url.rsplit(":", 1)[1])
        started = time.monotonic()
        emu.stop()
        emu.stop()
        assert time.monotonic() - started < 5
    assert not folder.exists()
    assert emu.stats()["totals"]["submits"] == 1  # the final numbers stay readable
    assert not emu.matches()
    with start(port=port) as again:  # the port is free for the next emulator
        assert again.url == emu.url


def test_start_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="workers"):
        start(workers=0)
    with pytest.raises(ValueError, match="fault_rate"):
        start(fault_rate=1.5)
    with pytest.raises(TypeError):
        start(colour="blue")


def test_status_stream_arrives_incrementally_over_real_https() -> None:
    with start(service_time=0.6, workers=1) as emu:
        with httpx.Client(verify=emu.ssl_context(), headers=AUTH, trust_env=False) as client:
            sub = client.post(emu.url + SUBMIT, json=body()).json()
            arrivals = []
            with client.stream("GET", sub["status_url"] + "/stream?logs=0") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        arrivals.append((time.monotonic(), line))
    assert '"COMPLETED"' in arrivals[-1][1] and '"COMPLETED"' not in arrivals[0][1]
    assert arrivals[-1][0] - arrivals[0][0] > 0.4  # the first event came long before the last
