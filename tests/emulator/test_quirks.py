"""Gateway quirks, each an option any profile can combine, each through a real server."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import fal_client
import httpx
import pytest

from .conftest import AUTH, body, image_uri

APP = "fal-ai/kling-image/o1"


def _http(emu: Any) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers=AUTH, verify=emu.ssl_context(), timeout=10)


def _finish(http: httpx.Client, status_url: str) -> None:
    """Wait for the end by polling with a long-poll-free loop bounded in attempts."""
    for _ in range(2000):
        state = http.get(status_url).json()["status"]
        if state in ("COMPLETED", "FAILED"):
            return
    raise AssertionError("the job did not end")


def test_absent_status_stream_answers_404_and_polling_still_works(fal: Any) -> None:
    client, emu = fal(status_stream=False, profile="qiniu")
    with _http(emu) as http:
        sub = http.post(f"/queue/{APP}", json=body()).json()
        assert http.get(sub["status_url"] + "/stream").status_code == 404
        _finish(http, sub["status_url"])
        assert http.get(sub["response_url"]).status_code == 200


def test_refused_status_stream_answers_400_with_the_gateways_words(fal: Any) -> None:
    client, emu = fal(stream_refused=True)
    handle = client.submit(APP, arguments=body())
    with _http(emu) as http:
        answer = http.get(handle.status_url + "/stream")
    assert answer.status_code == 400
    assert answer.json() == {"detail": "SSE streaming not supported"}
    assert client.result(APP, handle.request_id)["images"]  # polling is unaffected


def test_status_without_logs_even_when_asked(fal: Any) -> None:
    _, emu = fal(status_logs=False)
    with _http(emu) as http:
        sub = http.post(f"/queue/{APP}", json=body()).json()
        _finish(http, sub["status_url"])
        status = http.get(sub["status_url"], params={"logs": "1"}).json()
    assert status["status"] == "COMPLETED" and "logs" not in status


def test_failed_status_is_terminal_and_carries_the_error(fal: Any) -> None:
    client, emu = fal(failed_status=True, profile="fal")
    with _http(emu) as http:
        sub = http.post(f"/queue/{APP}", json=body(prompt="")).json()
        _finish(http, sub["status_url"])
        answer = http.get(sub["status_url"])
        lines = []
        with http.stream("GET", sub["status_url"] + "/stream") as r:
            lines = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    assert answer.status_code == 200
    assert answer.json()["status"] == "FAILED" and "prompt" in answer.json()["error"]
    assert lines[-1]["status"] == "FAILED"  # the stream ends on it too


def test_failed_status_leaves_successes_completed(fal: Any) -> None:
    client, _ = fal(failed_status=True)
    assert client.subscribe(APP, arguments=body())["images"]


def test_body_size_cap_answers_413_to_fal_client(fal: Any) -> None:
    client, emu = fal(max_body_mb=0.005)
    big = body(image_urls=[image_uri((1200, 1200))])
    assert len(json.dumps(big)) > 0.005 * 2**20
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        client.submit(APP, arguments=big)
    assert exc.value.status_code == 413 and "0.005 MB" in str(exc.value.message)
    assert client.submit(APP, arguments=body()).request_id  # small bodies pass


def test_user_agent_filter_answers_urllib_with_error_code_1010(fal: Any) -> None:
    client, emu = fal(block_urllib=True)
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    request = urllib.request.Request(
        f"{emu.url}/queue/{APP}", data=json.dumps(body()).encode(), headers=AUTH
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, context=context, timeout=10)
    assert exc.value.code == 403 and exc.value.read() == b"error code: 1010"
    assert client.subscribe(APP, arguments=body())["images"]  # fal-client's agent passes


def test_quirks_combine_with_a_profile(fal: Any) -> None:
    _, emu = fal(profile="qiniu", stream_refused=True, status_logs=False, failed_status=True)
    with _http(emu) as http:
        sub = http.post(f"/queue/{APP}", json=body(prompt="")).json()
        assert http.get(sub["status_url"] + "/stream").status_code == 400
        _finish(http, sub["status_url"])
        status = http.get(sub["status_url"], params={"logs": "1"}).json()
    assert status["status"] == "FAILED" and "logs" not in status and sub["cancel_url"] == ""


def test_billed_images_count_outputs_of_completed_jobs_only(fal: Any) -> None:
    client, emu = fal()
    two = client.submit(APP, arguments=body(num_images=2))
    refused = client.submit(APP, arguments=body(prompt=""))
    assert len(client.result(APP, two.request_id)["images"]) == 2
    with pytest.raises(fal_client.client.FalClientHTTPError):
        client.result(APP, refused.request_id)
    stats = emu.stats()
    assert stats["totals"]["billed_images"] == 2
    assert stats["requests"][two.request_id]["billed_images"] == 2
    assert stats["requests"][refused.request_id]["billed_images"] == 0


def test_data_results_are_evicted_by_total_size(fal: Any) -> None:
    client, emu = fal(result_urls="data", data_results_max_mb=0.001)
    first = client.submit(APP, arguments=body())
    client.result(APP, first.request_id)
    second = client.subscribe(APP, arguments=body(prompt="pixel art"))
    assert second["images"][0]["url"].startswith("data:")
    assert first.request_id not in emu.stats()["requests"]  # the older result made room
