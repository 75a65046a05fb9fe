"""Each gateway quirk, served by a real emulator on loopback (any profile can combine them)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import fal_client
import httpx
import pytest

from kling_nb._wire import data_uri

from .conftest import AUTH, ENDPOINT, body, wait_for


def _http(emu: Any) -> httpx.Client:
    return httpx.Client(base_url=emu.url, verify=emu.ssl_context(), trust_env=False)


def _submit(http: httpx.Client, payload: dict[str, Any] | None = None) -> Any:
    response = http.post(f"/queue/{ENDPOINT}", json=payload or body(), headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def _final(http: httpx.Client, sub: dict[str, Any]) -> dict[str, Any]:
    def done() -> Any:
        answer = http.get(sub["status_url"], params={"logs": 1}, headers=AUTH).json()
        return answer if answer["status"] not in ("IN_QUEUE", "IN_PROGRESS") else None

    final: dict[str, Any] = wait_for(done)
    return final


def test_stream_absent_is_a_404(fal: Callable[..., Any]) -> None:
    _, emu = fal(status_stream=False)
    with _http(emu) as http:
        sub = _submit(http)
        assert http.get(sub["status_url"] + "/stream", headers=AUTH).status_code == 404


def test_stream_refused_is_a_400_with_the_gateways_words(fal: Callable[..., Any]) -> None:
    _, emu = fal(stream_refused=True, profile="qiniu")
    with _http(emu) as http:
        sub = _submit(http)
        refused = http.get(sub["status_url"] + "/stream", headers=AUTH)
        assert refused.status_code == 400
        assert refused.json() == {"detail": "SSE streaming not supported"}


def test_status_without_logs_breaks_fal_client_polling(fal: Callable[..., Any]) -> None:
    client, emu = fal(status_logs=False)
    handle = client.submit(ENDPOINT, arguments=body())
    with _http(emu) as http:
        final = _final(http, {"status_url": handle.status_url})
        assert "logs" not in final and final["status"] == "COMPLETED"
    with pytest.raises(KeyError):  # fal_client 1.0.3 needs the key; kling_nb must not
        handle.status(with_logs=True)


def test_failed_jobs_end_with_a_failed_status(fal: Callable[..., Any]) -> None:
    _, emu = fal(failed_status=True, profile="qiniu")
    with _http(emu) as http:
        sub = _submit(http, body(num_images=12))
        final = _final(http, sub)
        assert final["status"] == "FAILED" and "num_images" in final["error"]
        ok = _final(http, _submit(http))
        assert ok["status"] == "COMPLETED"


def test_body_size_cap_is_a_413(fal: Callable[..., Any]) -> None:
    client, emu = fal(max_body_mb=0.5)
    big = data_uri(bytes(600_000), "image/png")  # 800 kB on the wire: over the cap
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        client.submit(ENDPOINT, arguments=body(image_urls=[big]))
    assert caught.value.status_code == 413 and "0.5 MB" in str(caught.value)
    client.submit(ENDPOINT, arguments=body())  # a small one passes


def test_urllib_agent_is_refused_with_error_code_1010(fal: Callable[..., Any]) -> None:
    client, emu = fal(block_urllib_agent=True)
    context = ssl.create_default_context(cafile=emu.ca_cert)
    request = urllib.request.Request(
        f"{emu.url}/queue/{ENDPOINT}",
        data=json.dumps(body()).encode(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, context=context, timeout=10)
    assert caught.value.code == 403 and caught.value.read() == b"error code: 1010"
    assert client.submit(ENDPOINT, arguments=body()).request_id  # fal-client's agent passes


def test_stats_count_billed_images_per_request_and_in_total(fal: Callable[..., Any]) -> None:
    client, emu = fal()
    three = client.submit(ENDPOINT, arguments=body(num_images=3))
    two = client.submit(ENDPOINT, arguments=body(num_images=2))
    refused = client.submit(ENDPOINT, arguments=body(num_images=2, resolution="4K"))
    for handle in (three, two):
        handle.get()
    with _http(emu) as http:
        _final(http, {"status_url": refused.status_url})
    stats = emu.stats()
    per = {rid: facts["billed_images"] for rid, facts in stats["requests"].items()}
    assert per == {three.request_id: 3, two.request_id: 2, refused.request_id: 0}
    assert stats["totals"]["billed_images"] == 5


def test_every_quirk_has_a_cli_flag_mapping_to_its_start_keyword() -> None:
    from kling_nb.emulator import EmulatorOptions
    from kling_nb.emulator.__main__ import parse_args

    argv = ["--profile", "qiniu", "--stream-refused", "--no-status-logs", "--failed-status"]
    argv += ["--block-urllib-agent", "--max-body-mb", "3", "--result-ttl", "5"]
    options = EmulatorOptions(**vars(parse_args(argv)))
    assert (options.profile, options.stream_refused, options.status_logs) == ("qiniu", True, False)
    assert (options.failed_status, options.block_urllib_agent) == (True, True)
    assert (options.max_body_mb, options.result_lifetime) == (3.0, 5.0)
    assert EmulatorOptions(**vars(parse_args([]))) == EmulatorOptions()  # plain, no quirks
