"""`kling_nb.doctor()` and `kling-nb doctor` against real servers on loopback: the emulator
(usable, with or without a status stream), a gateway that refuses the key, one that filters
user agents, a closed port and a server whose CA is not trusted."""

from __future__ import annotations

import http.server
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

import kling_nb
from kling_nb import emulator

from .conftest import CANARY_KEY
from .quirks import Quirks, quirk_server
from .test_cli import THIS_CHECKOUT

Answer = tuple[int, str]


@pytest.fixture
def gateway(
    tmp_path: Path,
) -> Iterator[Callable[[Callable[[str, str, str], Answer]], dict[str, str]]]:
    """`gateway(answer)`: an HTTPS server on loopback whose every answer is
    `answer(method, path, user_agent)`; returns the environment that points doctor at it."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Callable[[str, str, str], Answer]) -> dict[str, str]:
        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self) -> None:
                agent = self.headers.get("User-Agent", "")
                code, body = answer(self.command, self.path, agent)
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = _reply

            def log_message(self, *args: object) -> None:
                pass

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        bundle = tmp_path / f"ca{len(servers)}.pem"
        ca.cert_pem.write_to_path(str(bundle))
        port = server.server_address[1]
        return {
            "FAL_QUEUE_RUN_HOST": f"127.0.0.1:{port}/queue",
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": str(bundle),
        }

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def no_stream() -> Iterator[emulator.Emulator]:
    with emulator.start(service_time=0.1, status_stream=False) as handle:
        yield handle


def emu_env(emu: emulator.Emulator) -> dict[str, str]:
    return {"FAL_QUEUE_RUN_HOST": emu.host, "FAL_KEY": CANARY_KEY, "SSL_CERT_FILE": emu.ca_bundle}


def test_emulator_is_usable_and_every_check_passes(emu) -> None:  # type: ignore[no-untyped-def]
    report = kling_nb.doctor(env=emu_env(emu))
    assert report.ok
    assert [f.check for f in report.findings] == [
        "reachable",
        "tls",
        "key",
        "stream",
        "cancel",
        "clock",
    ]
    assert all(f.status == "ok" for f in report.findings), report
    assert "404" in report.finding("key").text  # type: ignore[union-attr]
    assert "/cancel" in report.finding("cancel").text  # type: ignore[union-attr]
    assert CANARY_KEY not in repr(report) and repr(report) == str(report)


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
def test_every_service_profile_is_usable(profile: str) -> None:
    with emulator.start(service_time=0.1, profile=profile) as emu:
        report = kling_nb.doctor(env=emu_env(emu))
    assert report.ok, report


def test_emulated_gateway_quirks_stream_refused_and_urllib_blocked() -> None:
    with emulator.start(service_time=0.1, stream_refused=True, block_urllib=True) as emu:
        report = kling_nb.doctor(env=emu_env(emu))
    assert report.ok, report  # fal-client's user agent passes the filter
    assert "polls" in report.finding("stream").text  # type: ignore[union-attr]


def test_gateway_without_stream_is_usable_and_kling_nb_polls(no_stream) -> None:  # type: ignore[no-untyped-def]
    report = kling_nb.doctor(env=emu_env(no_stream))
    assert report.ok
    assert "polls" in report.finding("stream").text  # type: ignore[union-attr]


def test_refused_key_is_not_usable_and_names_the_variable(gateway) -> None:  # type: ignore[no-untyped-def]
    body = '{"detail": "\x1b[2JInvalid key ' + CANARY_KEY + '"}'
    env = gateway(lambda method, path, agent: (401, body))
    report = kling_nb.doctor(env=env)
    assert not report.ok
    key = report.finding("key")
    assert key is not None and key.status == "fail" and "FAL_KEY" in key.text
    assert report.finding("stream").status == "skip"  # type: ignore[union-attr]
    assert CANARY_KEY not in str(report)  # even when the server echoes it
    assert "\x1b" not in str(report) and "Invalid key" in str(report)


def test_user_agent_filter_lets_fal_clients_agent_through(gateway) -> None:  # type: ignore[no-untyped-def]
    def firewall(method: str, path: str, agent: str) -> Answer:
        if agent.startswith("Python-urllib") or not agent:
            return 403, "error code: 1010"
        return 404, '{"detail": "Request not found"}'

    report = kling_nb.doctor(env=gateway(firewall))
    assert report.ok, report
    assert report.finding("key").status == "ok"  # type: ignore[union-attr]


def test_stream_refused_with_400_means_polling_and_no_cancel_is_a_warning(gateway) -> None:  # type: ignore[no-untyped-def]
    def qiniu_like(method: str, path: str, agent: str) -> Answer:
        if "/status/stream" in path:
            return 400, '{"detail": "SSE streaming not supported"}'
        if method == "PUT":
            return 405, '{"detail": "Method Not Allowed"}'
        return 404, '{"detail": "request not found"}'

    report = kling_nb.doctor(env=gateway(qiniu_like))
    assert report.ok, report
    stream, cancel = report.finding("stream"), report.finding("cancel")
    assert stream is not None and stream.status == "ok" and "polls" in stream.text
    assert cancel is not None and cancel.status == "warn" and "405" in cancel.text


def test_user_agent_refusal_is_named(gateway) -> None:  # type: ignore[no-untyped-def]
    report = kling_nb.doctor(env=gateway(lambda method, path, agent: (403, "error code: 1010")))
    assert not report.ok and "1010" in report.finding("key").text  # type: ignore[union-attr]


def test_hung_server_ends_the_check_on_time(tmp_path: Path) -> None:
    with quirk_server(tmp_path, Quirks(hang=True)) as server:
        env = {"FAL_QUEUE_RUN_HOST": server.host, "FAL_KEY": CANARY_KEY}
        env["SSL_CERT_FILE"] = server.ca_bundle
        started = time.monotonic()
        report = kling_nb.doctor(env=env, timeout=1)
        elapsed = time.monotonic() - started
    assert elapsed < 1 + 2  # the timeout plus the usual 2 s slack of every wait
    assert not report.ok and "did not answer" in str(report)


def test_stream_that_hangs_means_polling_within_the_timeout(tmp_path: Path) -> None:
    with quirk_server(tmp_path, Quirks(stream="hang")) as server:
        env = {"FAL_QUEUE_RUN_HOST": server.host, "FAL_KEY": CANARY_KEY}
        env["SSL_CERT_FILE"] = server.ca_bundle
        report = kling_nb.doctor(env=env, timeout=1)
    assert report.ok, report  # Qiniu's shapes: 202 for any id, empty cancel
    assert "polls" in report.finding("stream").text  # type: ignore[union-attr]


def test_closed_port_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"FAL_QUEUE_RUN_HOST": f"127.0.0.1:{port}/queue", "FAL_KEY": CANARY_KEY}
    report = kling_nb.doctor(env=env, timeout=5)
    assert not report.ok
    assert [(f.check, f.status) for f in report.findings] == [("reachable", "fail")]
    assert f"127.0.0.1:{port}" in str(report)


def test_untrusted_ca_is_a_tls_failure(emu) -> None:  # type: ignore[no-untyped-def]
    env = {"FAL_QUEUE_RUN_HOST": emu.host, "FAL_KEY": CANARY_KEY}  # no SSL_CERT_FILE
    report = kling_nb.doctor(env=env)
    assert not report.ok
    tls = report.finding("tls")
    assert tls is not None and tls.status == "fail" and "SSL_CERT_FILE" in tls.text


def test_clock_skew_is_a_warning_not_a_failure(emu) -> None:  # type: ignore[no-untyped-def]
    report = kling_nb.doctor(env=emu_env(emu), clock=lambda: time.time() + 600)
    clock = report.finding("clock")
    assert clock is not None and clock.status == "warn"
    assert re.search(r"\+(59\d|6[01]\d) s", clock.text), clock.text  # Date has whole seconds
    assert report.ok


def test_explicit_backend_key_and_host_win_over_the_environment(emu) -> None:  # type: ignore[no-untyped-def]
    env = {"QINIU_API_KEY": "sk-other-0000", "SSL_CERT_FILE": emu.ca_bundle}
    report = kling_nb.doctor("fal", CANARY_KEY, host=emu.host, env=env)
    assert report.ok and report.host == emu.host
    assert report.backend == "emulator"  # the host given is one: said so, whatever was asked


def test_unknown_backend_is_refused_by_name() -> None:
    with pytest.raises(kling_nb.KlingConfigError, match="'bogus'.*emulator"):
        kling_nb.doctor("bogus", env={})


def test_no_key_checks_the_offline_emulator_and_finds_it_usable() -> None:
    report = kling_nb.doctor(env={}, timeout=5)
    assert report.ok and report.backend == "emulator", report
    assert report.host.startswith("127.0.0.1:")
    key = report.finding("key")
    assert key is not None and "checks no keys" in key.text and "Key accepted" not in key.text
    assert "emulator" in str(report).splitlines()[0] and "local" not in str(report)


@pytest.mark.parametrize("name", ["emulator", "local"])
def test_the_emulator_backend_is_checked_by_either_name(name: str) -> None:
    report = kling_nb.doctor(name, env={"QINIU_API_KEY": "sk-q"}, timeout=5)
    assert report.ok and report.backend == "emulator"


def test_a_made_up_key_on_an_emulator_is_not_called_accepted(emu) -> None:  # type: ignore[no-untyped-def]
    report = kling_nb.doctor(env={**emu_env(emu), "FAL_KEY": "made-up"})
    key = report.finding("key")
    assert report.ok and report.backend == "emulator"
    assert key is not None and "checks no keys" in key.text and "Key accepted" not in key.text


def test_a_key_with_a_space_is_refused_as_connect_refuses_it(emu) -> None:  # type: ignore[no-untyped-def]
    env = {**emu_env(emu), "FAL_KEY": "sk-abc def"}
    with pytest.raises(kling_nb.KlingConfigError) as doctor_says:
        kling_nb.doctor(env=env)
    with pytest.raises(kling_nb.KlingConfigError) as connect_says:
        kling_nb.connect(env=dict(env), quiet=True)
    assert str(doctor_says.value) == str(connect_says.value)
    assert "FAL_KEY" in str(doctor_says.value) and "SPACE" in str(doctor_says.value)


def test_no_key_for_a_chosen_service_is_not_usable() -> None:
    report = kling_nb.doctor("qiniu", env={})
    assert not report.ok and "QINIU_API_KEY" in str(report)


def test_fal_backend_does_not_blame_the_fal_queue_run_host_it_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A dead proxy on loopback: fal's host is never looked up, the connection fails at once.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    env = {"FAL_QUEUE_RUN_HOST": "127.0.0.1:1/queue", "FAL_KEY": CANARY_KEY}
    report = kling_nb.doctor("fal", env=env, timeout=3)
    assert report.host == "queue.fal.run" and not report.ok
    ignored, reachable = report.finding("host"), report.finding("reachable")
    assert (
        ignored is not None and "not used" in ignored.text and "127.0.0.1:1/queue" in ignored.text
    )
    assert reachable is not None and reachable.status == "fail"
    assert "FAL_QUEUE_RUN_HOST" not in reachable.text and "fal.ai's address" in reachable.text


def test_a_host_from_fal_queue_run_host_is_named_when_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = kling_nb.doctor(env={"FAL_QUEUE_RUN_HOST": f"127.0.0.1:{port}/queue", "FAL_KEY": "k"})
    assert "FAL_QUEUE_RUN_HOST" in report.finding("reachable").text  # type: ignore[union-attr]


def test_report_speaks_chinese() -> None:
    kling_nb.set_language("zh")
    assert "没有密钥" in str(kling_nb.doctor("qiniu", env={}))


def run_cli(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:

    full = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KLING_NB_LANG": "en", **env}
    full.setdefault("PYTHONPATH", THIS_CHECKOUT)
    return subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "doctor", "--timeout", "10", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_exits_0_when_usable_and_1_when_not(emu, gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]

    good = run_cli(emu_env(emu), tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Usable" in good.stdout and CANARY_KEY not in good.stdout + good.stderr
    refused = gateway(lambda method, path, agent: (403, '{"detail": "Forbidden"}'))
    bad = run_cli(refused, tmp_path)
    assert bad.returncode == 1 and "Key refused" in bad.stdout
    assert CANARY_KEY not in bad.stdout + bad.stderr


# --- issue 22 §4: a server that trickles one byte a second ---------------------------------------

TRICKLE_BODY = b'{"detail": "Request not found"}'
TRICKLE_ANSWER = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(TRICKLE_BODY)}\r\n\r\n".encode()
    + TRICKLE_BODY
)


@contextmanager
def trickling_server(
    tmp_path: Path, slow: tuple[str, ...], head_first: bool = False
) -> Iterator[dict[str, str]]:
    """HTTPS on loopback: a request whose path holds one of `slow` gets its answer one byte a
    second (after the headers, with `head_first`); any other a quick 404. Every read the client
    makes returns within a second, so per-read timeouts never fire."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                path = request.split(b" ", 2)[1].decode()
                if not any(part in path for part in slow):
                    tls.sendall(TRICKLE_ANSWER)
                    tls.recv(1)  # until the client closes
                    return
                split = TRICKLE_ANSWER.index(b"\r\n\r\n") + 4 if head_first else 0
                tls.sendall(TRICKLE_ANSWER[:split])
                for byte in TRICKLE_ANSWER[split:]:
                    if stop.wait(1.0):
                        return
                    tls.sendall(bytes([byte]))
        except OSError:
            pass

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    bundle = tmp_path / "trickle_ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    try:
        yield {
            "FAL_QUEUE_RUN_HOST": f"127.0.0.1:{listener.getsockname()[1]}/queue",
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": str(bundle),
        }
    finally:
        stop.set()
        listener.close()


TIMEOUT = 3.0
SLACK = 1.0  # a check ends within its timeout plus this; the whole doctor within two checks


@pytest.mark.slow
@pytest.mark.parametrize("head_first", [False, True], ids=["headers", "body"])
def test_a_trickled_status_answer_ends_the_check_at_its_deadline(
    tmp_path: Path, head_first: bool
) -> None:
    with trickling_server(tmp_path, ("/status",), head_first) as env:
        started = time.monotonic()
        report = kling_nb.doctor(env=env, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed <= TIMEOUT + SLACK, elapsed
    reachable = report.finding("reachable")
    assert not report.ok and reachable is not None and "within 3 s" in reachable.text


@pytest.mark.slow
def test_trickled_stream_and_cancel_answers_end_together_at_one_deadline(tmp_path: Path) -> None:
    with trickling_server(tmp_path, ("/status/stream", "/cancel")) as env:
        started = time.monotonic()
        report = kling_nb.doctor(env=env, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed <= 2 * (TIMEOUT + SLACK), elapsed  # status, then stream and cancel side by side
    assert report.ok, report  # the key was accepted; no stream (polls), no cancel (a warning)
    assert "polls" in report.finding("stream").text  # type: ignore[union-attr]
    assert report.finding("cancel").status == "warn"  # type: ignore[union-attr]


@pytest.mark.slow
def test_cli_doctor_timeout_3_against_a_trickling_server_ends_in_seconds(tmp_path: Path) -> None:

    with trickling_server(tmp_path, ("/status/stream", "/cancel")) as env:
        full = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KLING_NB_LANG": "en", **env}
        full["PYTHONPATH"] = THIS_CHECKOUT
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "kling_nb.cli", "doctor", "--timeout", "3"],
            env=full,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    # Two rounds of checks, plus the interpreter's start (was 45 s: httpx's timeouts are per read).
    assert elapsed <= 2 * (TIMEOUT + SLACK) + 3, elapsed
    assert proc.returncode == 0 and "polls" in proc.stdout, proc.stdout + proc.stderr
    print(f"\nkling-nb doctor --timeout 3 against a 1 B/s server: {elapsed:.1f} s")


@pytest.mark.parametrize("args", [(), ("--backend", "emulator"), ("--backend", "local")])
def test_cli_without_a_key_checks_the_emulator_and_exits_0(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = run_cli({}, tmp_path, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checks no keys" in proc.stdout and "Usable" in proc.stdout
    assert "Key accepted" not in proc.stdout


def test_cli_refuses_a_key_with_a_space_in_one_line(tmp_path: Path) -> None:
    proc = run_cli({"QINIU_API_KEY": "sk-abc def"}, tmp_path, "--backend", "qiniu")
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr.count("\n") == 1 and "QINIU_API_KEY" in proc.stderr and "SPACE" in proc.stderr
    )
