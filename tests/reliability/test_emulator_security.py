"""Emulator security, on a real server (uvicorn, TLS, raw sockets): no file outside its own
folders is served by any spelling of a path, calls without a key are 401, bodies over 64 MB
are 413 even when streamed without a length, and webhooks leave loopback never."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from kling_nb import emulator

PATHS = [
    "/files/../../../../etc/passwd",
    "/files/..%2f..%2f..%2fetc%2fpasswd",
    "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/files/x/..%252f..%252fetc%252fpasswd",
    "/samples/../_queue.py",
    "/samples/..%5c_queue.py",
    "/samples/%2e%2e%2f__init__.py",
    "//etc/passwd",
]


@pytest.fixture(scope="module")
def emu() -> Iterator[emulator.Emulator]:
    with emulator.start(service_time=0.01) as handle:
        yield handle


def raw(emu: emulator.Emulator, request: bytes, *, tls: bool = True) -> bytes:
    """Send bytes as they are (no client-side path cleaning) and read the whole answer."""
    base = emu.url if tls else emu.files_url
    host, port = base.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    if tls:
        sock = emu.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http-files"])
@pytest.mark.parametrize("path", PATHS)
def test_no_spelling_of_a_path_escapes_the_file_folders(emu, path: str, tls: bool) -> None:  # type: ignore[no-untyped-def]
    answer = raw(
        emu, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), tls=tls
    )
    status = answer.split(b"\r\n", 1)[0]
    assert b" 200 " not in status, (path, status)
    assert b"root:" not in answer and b"import " not in answer


def test_calls_without_a_key_are_401(emu) -> None:  # type: ignore[no-untyped-def]
    for auth in (b"", b"Authorization: \r\n", b"Authorization: Bearer x\r\n"):
        answer = raw(
            emu,
            b"GET /queue/fal-ai/kling-image/requests/x/status HTTP/1.1\r\nHost: x\r\n"
            + auth
            + b"Connection: close\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 401"), answer[:80]


def test_a_streamed_body_over_64_mb_is_413(emu) -> None:  # type: ignore[no-untyped-def]
    host, port = emu.url.split("//")[1].split(":")
    sock = emu.ssl_context().wrap_socket(
        socket.create_connection((host, int(port)), timeout=20), server_hostname="127.0.0.1"
    )
    head = (
        b"POST /queue/fal-ai/kling-image/o1 HTTP/1.1\r\nHost: x\r\nAuthorization: Key k\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * (1 << 20)
    with sock:
        sock.sendall(head)
        try:
            for _ in range(70):  # 70 MB, chunked: no Content-Length to check up front
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server may stop reading once it has refused
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert emu.stats()["totals"]["submits"] == 0


def _post(emu: emulator.Emulator, raw_body: bytes) -> tuple[int, bytes]:
    import httpx

    with httpx.Client(verify=emu.ssl_context(), trust_env=False, timeout=60) as http:
        response = http.post(
            f"{emu.url}/queue/fal-ai/kling-image/o1",
            content=raw_body,
            headers={"Authorization": "Key k", "Content-Type": "application/json"},
        )
    return response.status_code, response.content


def test_two_million_image_urls_are_refused_before_parsing(emu) -> None:  # type: ignore[no-untyped-def]
    before = emu.stats()["totals"]["submits"]
    raw_body = b'{"prompt":"x","image_urls":[' + b",".join([b'"a"'] * 2_000_000) + b"]}"
    assert len(raw_body) > 6_000_000
    code, answer = _post(emu, raw_body)
    assert code == 422 and b"about 2000003 strings" in answer
    assert emu.stats()["totals"]["submits"] == before


@pytest.mark.parametrize("depth", [50, 100_000])
def test_deeply_nested_json_is_a_422_not_a_500(emu, depth: int) -> None:  # type: ignore[no-untyped-def]
    raw_body = b'{"prompt":"x","image_urls":' + b"[" * depth + b"]" * depth + b"}"
    code, answer = _post(emu, raw_body)
    assert code == 422, answer[:200]


def test_a_4400_digit_number_is_a_clear_422(emu) -> None:  # type: ignore[no-untyped-def]
    code, answer = _post(emu, b'{"prompt":"x","image_urls":[],"num_images":' + b"9" * 4400 + b"}")
    assert code == 422 and b"more than 4300 digits" in answer


def test_data_uri_results_are_evicted_by_total_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import fal_client
    import fal_client.client

    from tests.emulator.conftest import body

    with emulator.start(service_time=0.0, result_urls="data", max_data_bytes=400_000) as emu:
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://{emu.host}/")
        monkeypatch.setenv("SSL_CERT_FILE", emu.ca_bundle)
        client = fal_client.SyncClient(key="k")
        try:
            for _ in range(6):
                client.submit("fal-ai/kling-image/o1", arguments=body(num_images=2)).get()
        finally:
            client._client.close()
        stats = emu.stats()
        assert stats["totals"]["results_evicted"] > 0 and len(stats["requests"]) < 6
        assert stats["totals"]["billed_images"] == 12  # evicted jobs still counted as billed
