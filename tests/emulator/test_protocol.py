"""The fal queue protocol as PROTOCOL.md states it, served in-process (Starlette TestClient)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from PIL import Image

from .conftest import AUTH, ENDPOINT, SUBMIT, Api, SmallModel, body, wait_for


def test_submit_answers_ids_long_form_urls_and_queue_position(api: Api) -> None:
    response = api.client.post(SUBMIT, json=body(), headers=AUTH)
    sub = response.json()
    rid = sub["request_id"]
    base = f"https://testserver/queue/{ENDPOINT}/requests/{rid}"
    assert response.status_code == 200 and response.headers["x-fal-request-id"] == rid
    assert sub == {
        "request_id": rid,
        "response_url": base,
        "status_url": base + "/status",
        "cancel_url": base + "/cancel",
        "status": "IN_QUEUE",
        "queue_position": 0,
    }


@pytest.mark.parametrize("form", ["fal-ai/kling-image", "fal-ai/kling-image/o1"])
def test_status_result_and_cancel_accept_short_and_long_paths(api: Api, form: str) -> None:
    sub = api.submit()
    base = f"/queue/{form}/requests/{sub['request_id']}"
    assert api.client.get(base + "/status", headers=AUTH).status_code in (200, 202)
    api.wait_state(sub, "COMPLETED")
    assert api.client.get(base, headers=AUTH).json()["images"]
    assert api.client.put(base + "/cancel", headers=AUTH).json() == {"status": "ALREADY_COMPLETED"}


def test_other_apps_paths_do_not_find_the_request(api: Api) -> None:
    sub = api.submit()
    other = f"/queue/fal-ai/flux/requests/{sub['request_id']}/status"
    assert api.client.get(other, headers=AUTH).status_code == 404


def test_status_bodies_follow_the_lifecycle(make_api: Any) -> None:
    api = make_api(workers=1, service_time=0.4)
    first, second = api.submit(), api.submit()
    api.wait_state(first, "IN_PROGRESS")
    queued = api.status(second)
    assert queued.status_code == 202
    assert queued.json() == {"status": "IN_QUEUE", "queue_position": 0, "logs": None}
    assert api.status(second, logs=True).json()["logs"] == []
    running = api.status(first)
    assert running.status_code == 202 and running.json() == {"status": "IN_PROGRESS", "logs": None}
    api.wait_state(first, "COMPLETED")
    done = api.status(first, logs=True)
    payload = done.json()
    assert done.status_code == 200 and done.headers["x-fal-request-id"] == first["request_id"]
    assert payload["status"] == "COMPLETED" and "error" not in payload
    assert payload["metrics"]["inference_time"] >= 0.4
    messages = [entry["message"] for entry in payload["logs"]]
    assert any(m.startswith("Decoded 1 input image") for m in messages)
    assert "Style: watercolor (emulated filters, not Kling)" in messages
    assert "Rendering image 1/1" in messages
    for entry in payload["logs"]:
        assert set(entry) == {"message", "level", "source", "timestamp"}
        assert entry["source"] == "USER" and entry["timestamp"].endswith("+00:00")


@pytest.mark.parametrize(
    ("value", "with_logs"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_logs_flag_accepts_python_and_js_spellings(api: Api, value: str, with_logs: bool) -> None:
    sub = api.submit()
    api.wait_state(sub, "COMPLETED")
    logs = api.client.get(sub["status_url"] + f"?logs={value}", headers=AUTH).json()["logs"]
    assert (logs is not None) is with_logs


def test_logs_flag_garbage_is_a_422(api: Api) -> None:
    sub = api.submit()
    response = api.client.get(sub["status_url"] + "?logs=maybe", headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "logs"]


def test_queue_positions_are_fifo_and_zero_based_with_one_worker(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    subs = [api.submit()]
    api.wait_state(subs[0], "IN_PROGRESS")
    subs += [api.submit() for _ in range(3)]
    assert [s["queue_position"] for s in subs[1:]] == [0, 1, 2]
    positions = [api.status(s).json().get("queue_position") for s in subs]
    assert positions == [None, 0, 1, 2]
    api.client.put(subs[1]["cancel_url"], headers=AUTH)
    assert [api.status(s).json().get("queue_position") for s in subs[2:]] == [0, 1]


def test_low_priority_jobs_queue_behind_normal_ones(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    api.submit()
    low = api.submit(headers={"x-fal-queue-priority": "low"})
    normal = api.submit()
    assert (
        api.status(normal).json()["queue_position"],
        api.status(low).json()["queue_position"],
    ) in (
        (0, 1),
        (1, 2),
    )


def test_result_before_completion_is_a_clear_400(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    sub = api.submit()
    response = api.client.get(sub["response_url"], headers=AUTH)
    assert response.status_code == 400
    assert "still IN_" in response.json()["detail"] and "status_url" in response.json()["detail"]


def test_result_is_the_output_with_request_id_and_a_viewable_file(api: Api) -> None:
    sub = api.submit(body(num_images=2, output_format="jpeg"))
    response = api.result(sub)
    assert response.status_code == 200
    assert response.headers["x-fal-request-id"] == sub["request_id"]
    images = response.json()["images"]
    assert len(images) == 2
    for img in images:
        assert set(img) == {"url", "content_type", "file_name", "file_size", "width", "height"}
        assert img["content_type"] == "image/jpeg"
        assert img["url"] == f"http://testserver/files/{sub['request_id']}/{img['file_name']}"
        served = api.client.get(img["url"])
        assert served.status_code == 200 and len(served.content) == img["file_size"]
        assert served.content[:2] == b"\xff\xd8"


def test_a_result_url_can_be_the_next_input(api: Api) -> None:
    first = api.result(api.submit()).json()["images"][0]["url"]
    second = api.result(api.submit(body(image_urls=[first], prompt="make it a sketch")))
    assert second.status_code == 200, second.text


def test_data_mode_returns_data_uris(make_api: Any) -> None:
    api = make_api(result_urls="data")
    image = api.result(api.submit()).json()["images"][0]
    assert image["url"].startswith("data:image/png;base64,")
    assert not any(api.queue.files_dir.rglob("*.png"))


@pytest.mark.parametrize("profile", ["plain", "qiniu"])
def test_data_mode_answers_are_streamed_whole_and_decode_to_the_pictures(
    make_api: Any, profile: str
) -> None:
    import base64

    api = make_api(result_urls="data", profile=profile)
    sub = api.submit(body(num_images=2))
    result = api.result(sub)
    assert result.headers["x-fal-request-id"] == sub["request_id"]
    output = result.json()  # pieces joined back: one valid JSON document
    sizes = []
    for image in output["images"]:
        data = base64.b64decode(image["url"].split(",", 1)[1], validate=True)
        sizes.append(Image.open(io.BytesIO(data)).size)
    assert len(set(sizes)) == 1 and len(sizes) == 2
    held = api.queue.stats()["queue"]["data_bytes"]
    assert sum(len(i["url"]) for i in output["images"]) <= held < len(result.content) + 500
    if profile == "qiniu":  # the inline result of the status is streamed the same way
        assert api.status(sub).json()["result"] == output


def test_data_results_stay_within_their_cap(make_api: Any) -> None:
    cap = 0.005  # MB: three of SmallModel's results (about 1.6 KB each as data: URIs)
    api = make_api(result_urls="data", data_results_max_mb=cap, model=SmallModel())
    for i in range(6):
        api.submit(body(prompt=f"{i} <<<image_1>>>"))
    wait_for(lambda: api.queue.totals["jobs_completed"] == 6)  # the oldest are forgotten
    held = api.queue.stats()["queue"]["data_bytes"]
    assert 0 < held <= cap * 2**20 and len(api.queue.jobs) == 3


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Key "},
        {"Authorization": "Bearer sk-secret-123"},
    ],
)
def test_calls_without_a_key_are_401_and_never_echo_it(api: Api, headers: dict[str, str]) -> None:
    sub = api.submit()
    calls = [
        api.client.post(SUBMIT, json=body(), headers=headers),
        api.client.get(sub["status_url"], headers=headers),
        api.client.get(sub["response_url"], headers=headers),
        api.client.put(sub["cancel_url"], headers=headers),
    ]
    for response in calls:
        assert response.status_code == 401
        assert "Key <your key>" in response.json()["detail"]
        assert "sk-secret-123" not in response.text


def test_bodies_over_64_mb_are_413(api: Api) -> None:
    big = b'{"prompt": "' + b"x" * (64 * 1024 * 1024) + b'"}'
    response = api.client.post(
        SUBMIT, content=big, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 413 and "64 MB" in response.json()["detail"]
    assert api.queue.totals["submits"] == 0


def test_unknown_endpoint_and_bad_json_are_refused_at_submit(api: Api) -> None:
    other = api.client.post("/queue/fal-ai/flux/dev", json=body(), headers=AUTH)
    assert other.status_code == 404 and ENDPOINT in other.json()["detail"]
    bad = api.client.post(SUBMIT, content=b"{nope", headers=AUTH)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body"]


def test_unknown_request_ids_are_404(api: Api) -> None:
    base = f"/queue/{ENDPOINT}/requests/00000000-0000-0000-0000-000000000000"
    assert api.client.get(base + "/status", headers=AUTH).status_code == 404
    assert api.client.get(base, headers=AUTH).status_code == 404
    cancel = api.client.put(base + "/cancel", headers=AUTH)
    assert cancel.status_code == 404 and cancel.json() == {"status": "NOT_FOUND"}


def test_cancel_queued_job_removes_it_and_ends_it_with_an_error(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    api.submit()
    sub = api.submit()
    response = api.client.put(sub["cancel_url"], headers=AUTH)
    assert response.status_code == 202 and response.json() == {"status": "CANCELLATION_REQUESTED"}
    status = api.status(sub)
    assert status.status_code == 200
    assert status.json()["error_type"] == "cancelled" and status.json()["error"]
    job = api.queue.jobs[sub["request_id"]]
    assert job.started_at is None and job.cancelled
    result = api.client.get(sub["response_url"], headers=AUTH)
    assert result.status_code == 400 and result.json()["error_type"] == "cancelled"
    assert result.headers["x-fal-error-type"] == "cancelled"


def test_cancel_running_job_stops_it_and_frees_the_worker(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    first, second = api.submit(), api.submit()
    api.wait_state(first, "IN_PROGRESS")
    assert api.client.put(first["cancel_url"], headers=AUTH).status_code == 202
    assert api.status(first).json()["error_type"] == "cancelled"
    api.wait_state(second, "IN_PROGRESS", timeout=3.0)
    assert api.client.get(first["response_url"], headers=AUTH).status_code == 400


def test_cancel_completed_job_is_400_already_completed(api: Api) -> None:
    sub = api.submit()
    api.wait_state(sub, "COMPLETED")
    response = api.client.put(sub["cancel_url"], headers=AUTH)
    assert response.status_code == 400 and response.json() == {"status": "ALREADY_COMPLETED"}


def test_request_timeout_header_expires_a_job_that_never_started(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    api.submit()
    sub = api.submit(headers={"x-fal-request-timeout": "1.2"})
    api.wait_state(sub, "COMPLETED", timeout=5.0)
    result = api.client.get(sub["response_url"], headers=AUTH)
    assert result.status_code == 504 and result.json()["error_type"] == "request_timeout"
    assert result.headers["x-fal-request-timeout-type"] == "user"


def _events(text: str) -> tuple[list[dict[str, Any]], int]:
    frames = [f for f in text.split("\n\n") if f]
    data = [json.loads(f[len("data: ") :]) for f in frames if f.startswith("data: ")]
    return data, sum(1 for f in frames if f == ": keep-alive")


def test_status_stream_sends_each_change_and_closes_after_completed(make_api: Any) -> None:
    api = make_api(workers=1, service_time=0.3)
    api.submit()  # keeps the one worker busy, so the streamed job starts IN_QUEUE
    second = api.submit()
    with api.client.stream("GET", second["status_url"] + "/stream?logs=1", headers=AUTH) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events, _ = _events(r.read().decode())
    states = [e["status"] for e in events]
    assert states[0] == "IN_QUEUE" and states[-1] == "COMPLETED"
    assert states == sorted(states, key=["IN_QUEUE", "IN_PROGRESS", "COMPLETED"].index)
    assert states.count("IN_PROGRESS") >= 2  # log lines arrived while running
    assert len(events[-1]["logs"]) >= len(events[-2]["logs"])
    assert api.queue.totals["status_streams"] == 1


def test_status_stream_sends_keep_alive_comments_while_idle(make_api: Any) -> None:
    api = make_api(workers=1, service_time=0.5, keepalive_interval=0.05)
    sub = api.submit()
    with api.client.stream("GET", sub["status_url"] + "/stream", headers=AUTH) as r:
        events, keep_alives = _events(r.read().decode())
    assert keep_alives >= 3 and events[-1]["status"] == "COMPLETED"
    assert all(e["logs"] is None for e in events)


def test_status_stream_of_a_completed_job_is_one_event(api: Api) -> None:
    sub = api.submit()
    api.wait_state(sub, "COMPLETED")
    response = api.client.get(sub["status_url"] + "/stream", headers=AUTH)
    events, _ = _events(response.text)
    assert [e["status"] for e in events] == ["COMPLETED"]


@pytest.mark.parametrize(
    "path",
    [
        "/files/..%2F..%2Fetc/passwd",
        "/files/%2e%2e/%2e%2e",
        "/files/x/..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/.hidden/name.png",
        "/samples/..%2F_queue.py",
        "/samples/%2e%2e%2f__init__.py",
    ],
)
def test_file_routes_refuse_path_traversal(api: Api, path: str) -> None:
    assert api.client.get(path).status_code == 404


def test_bundled_samples_are_served(api: Api) -> None:
    from kling_nb import _samples

    name = _samples.sample_names()[0]
    response = api.client.get(f"/samples/{name}")
    assert response.status_code == 200 and response.content == _samples.sample_bytes(name)


def test_stats_have_totals_and_per_request_facts(make_api: Any) -> None:
    api = make_api(workers=1, service_time=5.0)
    running = api.submit(body(num_images=2))
    sub = api.submit()
    api.status(sub)
    api.status(sub)
    api.client.put(sub["cancel_url"], headers=AUTH)
    stats = api.client.get("/_emulator/stats").json()
    totals = stats["totals"]
    for name in ("submits", "status_polls", "status_streams", "results", "cancels"):
        assert name in totals
    assert (totals["submits"], totals["status_polls"], totals["cancels"]) == (2, 2, 1)
    entry = stats["requests"][sub["request_id"]]
    assert entry["state"] == "COMPLETED" and entry["cancelled"] is True
    assert entry["status_polls"] == 2 and entry["started_at"] is None
    assert entry["submitted_at"] <= entry["completed_at"]
    assert entry["endpoint"] == ENDPOINT and entry["error_type"] == "cancelled"
    first = stats["requests"][running["request_id"]]
    assert first["num_images"] == 2 and first["started_at"] is not None
    assert first["completed_at"] is None
    assert api.client.post("/_emulator/reset").status_code == 200
    assert api.client.get("/_emulator/stats").json()["totals"]["submits"] == 0


def test_stats_need_no_key_and_are_never_faulted(make_api: Any) -> None:
    api = make_api(fault_rate=1.0)
    for _ in range(20):
        assert api.client.get("/_emulator/stats").status_code == 200


def test_oldest_finished_jobs_are_forgotten_beyond_max_jobs(make_api: Any) -> None:
    api = make_api(max_jobs=2, workers=1)
    subs = [api.submit() for _ in range(3)]
    last = subs[-1]["request_id"]
    wait_for(lambda: api.queue.jobs[last].state == "COMPLETED")
    assert list(api.queue.jobs) == [s["request_id"] for s in subs[1:]]
    assert not (api.queue.files_dir / subs[0]["request_id"]).exists()
    assert api.status(subs[0]).status_code == 404


class _SlowModel(SmallModel):
    """Renders take a second (sleeping, as CPU work in a worker thread would keep it busy)."""

    def render(self, inputs: list[Any], prompt: str, **params: Any) -> list[Any]:
        time.sleep(1.0)
        return super().render(inputs, prompt, **params)


class _BrokenModel(SmallModel):
    def render(self, inputs: list[Any], prompt: str, **params: Any) -> list[Any]:
        raise RuntimeError("filter exploded")


def test_rendering_runs_off_the_event_loop_so_polls_stay_fast(make_api: Any) -> None:
    api = make_api(model=_SlowModel(), service_time=0.01)
    sub = api.submit()
    wait_for(
        lambda: any(e.key.endswith("rendering") for e in api.queue.jobs[sub["request_id"]].logs)
    )
    started = time.monotonic()
    assert api.status(sub).json()["status"] == "IN_PROGRESS"
    assert time.monotonic() - started < 0.5
    api.wait_state(sub, "COMPLETED")
    assert api.status(sub).json()["metrics"]["inference_time"] >= 1.0  # max(render, service)


def test_a_crashing_renderer_ends_the_job_with_a_500(make_api: Any) -> None:
    api = make_api(model=_BrokenModel())
    sub = api.submit()
    result = api.result(sub)
    assert result.status_code == 500 and result.json()["error_type"] == "internal_server_error"
    assert "filter exploded" in api.status(sub).json()["error"]
