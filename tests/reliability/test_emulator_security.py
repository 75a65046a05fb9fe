"""Emulator security, on a real server (uvicorn, TLS, raw sockets): no file outside its own
folders is served by any spelling of a path, calls without a key are 401, bodies over 64 MB
are 413 even when streamed without a length, and webhooks leave loopback never."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx
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


def _submit(emu: emulator.Emulator, payload: bytes) -> httpx.Response:
    with httpx.Client(verify=emu.ssl_context(), timeout=30) as client:
        return client.post(
            f"{emu.url}/queue/fal-ai/kling-image/o1",
            content=payload,
            headers={"Authorization": "Key k", "Content-Type": "application/json"},
        )


@pytest.mark.parametrize("depth", [33, 100_000])
def test_a_deeply_nested_body_is_422_not_500(emu, depth: int) -> None:  # type: ignore[no-untyped-def]
    answer = _submit(emu, b'{"prompt":' + b"[" * depth + b"]" * depth + b"}")
    assert answer.status_code == 422
    assert "nests" in answer.json()["detail"][0]["msg"]


def test_a_4400_digit_number_is_422_in_words(emu) -> None:  # type: ignore[no-untyped-def]
    answer = _submit(emu, b'{"prompt":"x","num_images":' + b"7" * 4400 + b"}")
    assert answer.status_code == 422
    assert "number is too long" in answer.json()["detail"][0]["msg"]


def test_two_million_image_urls_are_refused_by_count_before_any_fetch(emu) -> None:  # type: ignore[no-untyped-def]
    payload = b'{"prompt":"x","image_urls":[' + b",".join([b'"a"'] * 2_000_000) + b"]}"
    answer = _submit(emu, payload)
    assert answer.status_code == 200  # queued; the service checks inputs when a runner starts
    rid = answer.json()["request_id"]
    with httpx.Client(verify=emu.ssl_context(), headers={"Authorization": "Key k"}) as client:
        stream_url = answer.json()["status_url"] + "/stream"
        with client.stream("GET", stream_url) as events:
            for _ in events.iter_lines():
                pass
        result = client.get(answer.json()["response_url"])
    detail = result.json()["detail"]
    assert result.status_code == 422 and len(detail) == 1  # one count error, no 2M items
    assert detail[0]["loc"] == ["body", "image_urls"] and "2000000" in detail[0]["msg"]
    assert emu.stats()["requests"][rid]["state"] == "COMPLETED"


def test_two_million_json_objects_are_refused_while_parsing(emu) -> None:  # type: ignore[no-untyped-def]
    payload = b'{"prompt":"x","image_urls":[' + b",".join([b"{}"] * 2_000_000) + b"]}"
    answer = _submit(emu, payload)
    assert answer.status_code == 422
    assert "more than 1000 JSON objects" in answer.json()["detail"][0]["msg"]
