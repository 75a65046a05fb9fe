"""Each service profile answers as that service documents (PROTOCOL.md, last section),
through the real fal_client and a real emulator on loopback."""

from __future__ import annotations

import json
import uuid
from typing import Any

import fal_client
import httpx
import pytest

from kling_nb.emulator import Emulator, start

from .conftest import AUTH, GUIDE_URL, SmallModel, body, image_uri

APP = "fal-ai/kling-image/o1"


def _http(emu: Emulator, auth: dict[str, str] = AUTH) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers=auth, verify=emu.ssl_context(), timeout=10)


def _done(emu: Emulator, status_url: str, auth: dict[str, str] = AUTH) -> dict[str, Any]:
    """The last status of the stream (the emulator closes it at the end)."""
    last: dict[str, Any] = {}
    with _http(emu, auth) as http, http.stream("GET", status_url + "/stream") as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                last = json.loads(line[6:])
    return last


def _result(emu: Emulator, response_url: str) -> Any:
    """GET the result directly: fal_client 1.0.3's `result()` polls status first and
    raises KeyError('logs') on Qiniu's documented COMPLETED status (a client must cope)."""
    with _http(emu) as http:
        return http.get(response_url).json()


def test_unmodified_fal_client_runs_the_guide_on_qiniu_as_the_cookbook_run_shows(
    fal: Any,
) -> None:
    client, emu = fal(profile="qiniu", workers=1, service_time=0.3)
    client.submit(APP, arguments=body())
    handle = client.submit(APP, arguments=body(prompt="second <<<image_1>>>"))
    assert isinstance(handle.status(), fal_client.Queued)  # reads queue_position
    output = client.result(APP, handle.request_id)  # polls without logs: reads `logs`
    assert set(output["images"][0]) == {"url", "content_type"}


def test_a_gateway_without_status_logs_trips_unmodified_fal_client(fal: Any) -> None:
    client, emu = fal(profile="qiniu", status_logs=False)
    handle = client.submit(APP, arguments=body())
    _done(emu, handle.status_url)
    with pytest.raises(KeyError, match="logs"):
        handle.status()  # why kling_nb parses statuses itself, leniently


def test_qiniu_submit_has_empty_cancel_url_no_position_and_a_non_uuid_id(fal: Any) -> None:
    client, emu = fal(profile="qiniu", service_time=5.0, workers=1)
    first = client.submit(APP, arguments=body())
    handle = client.submit(APP, arguments=body(prompt="second"))
    assert handle.cancel_url == ""
    assert handle.request_id.startswith("qimage-root-")
    with pytest.raises(ValueError):
        uuid.UUID(handle.request_id)
    with _http(emu) as http:
        queued = http.get(handle.status_url).json()
        submit = http.post(f"/queue/{APP}", json=body()).json()
        http.put(handle.status_url.replace("/status", "/cancel"))
        http.put(first.status_url.replace("/status", "/cancel"))
    assert queued == {"status": "IN_QUEUE", "queue_position": 0, "logs": None}
    assert "queue_position" not in submit and submit["cancel_url"] == ""


def test_qiniu_completed_status_carries_the_result_inline_with_url_and_type_only(
    fal: Any,
) -> None:
    client, emu = fal(profile="qiniu")
    handle = client.submit(APP, arguments=body(resolution="1k"))
    status = _done(emu, handle.status_url)
    assert status["status"] == "COMPLETED" and status["logs"] is None
    assert status["detail"] is None  # Qiniu's reference: the reason of a failure, else null
    images = status["result"]["images"]
    assert [set(i) for i in images] == [{"url", "content_type"}]
    assert _result(emu, handle.response_url) == status["result"]
    with _http(emu) as http:
        asked = http.get(handle.status_url, params={"logs": "1"}).json()
    assert asked["logs"] and asked["logs"][-1]["message"].startswith("Stored 1 image")


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
def test_qiniu_accepts_bearer_and_key_other_profiles_key_only(profile: str) -> None:
    bearer = {"Authorization": "Bearer sk-test"}
    with start(profile=profile, service_time=0.01) as emu, _http(emu, bearer) as http:
        answer = http.post(f"/queue/{APP}", json=body())
        with_key = http.post(f"/queue/{APP}", json=body(), headers=AUTH)
    assert answer.status_code == (200 if profile == "qiniu" else 401)
    assert with_key.status_code == 200 and "sk-test" not in answer.text


def test_qiniu_runs_a_prompt_without_images_as_text_to_image(fal: Any) -> None:
    client, emu = fal(profile="qiniu")
    handle = client.submit(APP, arguments={"prompt": "a watercolor lighthouse"})
    status = _done(emu, handle.status_url)
    assert "error" not in status, status
    assert _result(emu, handle.response_url)["images"][0]["content_type"] == "image/png"


@pytest.mark.parametrize("profile", ["plain", "fal"])
def test_other_profiles_refuse_a_prompt_without_images(fal: Any, profile: str) -> None:
    client, emu = fal(profile=profile)
    handle = client.submit(APP, arguments={"prompt": "a watercolor lighthouse"})
    _done(emu, handle.status_url)
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        client.result(APP, handle.request_id)
    detail = exc.value.response.json()["detail"][0]
    assert exc.value.status_code == 422 and detail["loc"] == ["body", "image_urls"]
    if profile == "fal":
        assert "Qiniu" in detail["msg"]  # says where text-to-image is documented


def test_fal_runs_elements_and_a_bare_image_reference(fal: Any) -> None:
    client, emu = fal(profile="fal")
    element = {"frontal_image_url": image_uri(), "reference_image_urls": [GUIDE_URL]}
    arguments = body(prompt="@Image meets @Element1", elements=[element], sync_mode=False)
    out = client.subscribe(APP, arguments=arguments)
    assert set(out["images"][0]) >= {"url", "content_type", "width", "height", "file_name"}
    assert emu.stats()["totals"]["billed_images"] == 1


@pytest.mark.parametrize("profile", ["plain", "qiniu"])
def test_elements_are_refused_where_the_schema_lacks_them(fal: Any, profile: str) -> None:
    client, emu = fal(profile=profile, detail_shape="object")
    arguments = body(elements=[{"frontal_image_url": GUIDE_URL}])
    handle = client.submit(APP, arguments=arguments)
    status = _done(emu, handle.status_url)
    if profile == "qiniu":  # Qiniu words a failure in the COMPLETED status's `detail`
        detail = status["detail"]
    else:
        detail = _result(emu, handle.response_url)["detail"][0]
    assert detail["loc"] == ["body", "elements"] and "fal" in detail["msg"]


def test_fal_422_details_carry_loc_msg_a_specific_type_and_url(fal: Any) -> None:
    client, emu = fal(profile="fal")
    handle = client.submit(APP, arguments=body(image_urls=[image_uri((200, 400))]))
    _done(emu, handle.status_url)
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        client.result(APP, handle.request_id)
    detail = exc.value.response.json()["detail"][0]
    assert detail["loc"] == ["body", "image_urls", 0]
    assert detail["type"] == "image_too_small"
    assert detail["url"].endswith("#image_too_small") and "300" in detail["msg"]


def test_fal_stream_events_carry_only_new_log_lines(fal: Any) -> None:
    _, emu = fal(profile="fal", service_time=0.2)
    with _http(emu) as http:
        sub = http.post(f"/queue/{APP}", json=body(num_images=2)).json()
        with http.stream("GET", sub["status_url"] + "/stream", params={"logs": "1"}) as r:
            events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
        everything = http.get(sub["status_url"], params={"logs": "1"}).json()["logs"]
    streamed = [entry for event in events for entry in event["logs"]]
    assert streamed == everything  # each line once, in order, none missing
    assert len(events) > 2


def test_plain_stream_events_repeat_all_logs_so_far(fal: Any) -> None:
    _, emu = fal()
    with _http(emu) as http:
        sub = http.post(f"/queue/{APP}", json=body()).json()
        with http.stream("GET", sub["status_url"] + "/stream", params={"logs": "1"}) as r:
            events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    counts = [len(e["logs"]) for e in events]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_fal_results_expire_after_the_ttl_and_then_answer_404(make_api: Any) -> None:
    now = [1000.0]
    api = make_api(profile="fal", clock=lambda: now[0])
    sub = api.submit(body())
    assert api.result(sub).status_code == 200
    assert api.queue.options.ttl == 3600.0  # fal's documented keep, about an hour
    now[0] += 3601
    gone = api.result(sub)
    assert gone.status_code == 404 and "expired" in gone.json()["detail"]
    assert api.status(sub).status_code == 404
    assert api.queue.stats()["totals"]["results_expired"] == 1


def test_result_ttl_is_an_option_of_any_profile(make_api: Any) -> None:
    now = [1000.0]
    api = make_api(result_ttl=5.0, clock=lambda: now[0])
    sub = api.submit(body())
    assert api.result(sub).status_code == 200
    now[0] += 4
    assert api.result(sub).status_code == 200
    now[0] += 2
    assert api.result(sub).status_code == 404


def test_the_profiled_fixture_serves_each_profile(profiled_emu: Emulator) -> None:
    with _http(profiled_emu) as http:
        sub = http.post(f"/queue/{APP}", json=body()).json()
    profile = profiled_emu.options.profile
    assert (sub["cancel_url"] == "") == (profile == "qiniu")
    assert _done(profiled_emu, sub["status_url"])["status"] == "COMPLETED"


def test_fal_sync_mode_answers_with_data_uris_counted_for_eviction(fal: Any) -> None:
    client, emu = fal(profile="fal")
    inline = client.submit(APP, arguments=body(sync_mode=True)).get()
    linked = client.submit(APP, arguments=body()).get()
    assert inline["images"][0]["url"].startswith("data:image/png;base64,")
    assert linked["images"][0]["url"].startswith("http")
    held = emu.stats()["queue"]["data_bytes"]  # in memory: bounded like result_urls=data
    assert held >= len(json.dumps(inline)) - 100 and held < 2 * len(json.dumps(inline))


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
def test_every_answer_names_the_profile_in_a_header(make_api: Any, profile: str) -> None:
    api = make_api(profile=profile, service_time=5.0, model=SmallModel())
    sub = api.submit(body())
    get, put = api.client.get, api.client.put
    answers = [
        api.client.post(f"/queue/{APP}", json=body(), headers=AUTH),  # 200
        get(sub["status_url"], headers=AUTH),  # 202
        get(sub["status_url"]),  # 401
        get(sub["status_url"], params={"logs": "maybe"}, headers=AUTH),  # 422
        get(sub["response_url"], headers=AUTH),  # 400: not finished
        get(sub["response_url"].replace(sub["request_id"], "nope"), headers=AUTH),  # 404
        put(sub["status_url"].replace("/status", "/cancel"), headers=AUTH),
        get("/_emulator/stats"),
        get("/no/such/route"),
        api.client.post("/_fal/rest/storage/auth/token", headers=AUTH),
    ]
    assert {a.headers.get("x-kling-nb-emulator-profile") for a in answers} == {profile}
    assert len({a.status_code for a in answers}) >= 6
