"""Injected faults: reproducible by seed, shaped like an ingress or the app, never on stats."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fal_client.client import _is_ingress_error

from kling_nb.emulator import DroppedConnection, EmulatorOptions, start
from kling_nb.emulator._queue import FAULT_KINDS, Faults

from .conftest import AUTH, SUBMIT, Api, SmallModel, body, image_uri


def _kind(api: Api, url: str) -> str:
    """What one faulted-or-not GET returned: its status code, or `drop`."""
    try:
        return str(api.client.get(url, headers=AUTH).status_code)
    except DroppedConnection:
        return "drop"


def _sequence(make_api: Any, seed: int, n: int = 40) -> tuple[list[str], list[str]]:
    api = make_api(model=SmallModel(), fault_rate=0.5, seed=seed, service_time=5.0)
    sub = api.submit()
    seen = [_kind(api, sub["status_url"] if i % 3 else sub["response_url"]) for i in range(n)]
    logged = [entry["kind"] for entry in api.client.get("/_emulator/stats").json()["fault_log"]]
    return seen, logged


def test_same_seed_same_faults_other_seed_other_faults(make_api: Any) -> None:
    first, logged = _sequence(make_api, seed=11)
    again, _ = _sequence(make_api, seed=11)
    other, _ = _sequence(make_api, seed=12)
    assert first == again and first != other
    assert 8 < len(logged) < 32  # about half of 40
    faulted = [k for k in first if k not in ("202", "400")]
    assert [k[:3] if k != "drop" else k for k in logged] == faulted


def test_no_faults_at_rate_zero(make_api: Any) -> None:
    api = make_api(model=SmallModel())
    sub = api.submit()
    codes = {api.status(sub).status_code for _ in range(200)}
    assert codes <= {200, 202}
    assert api.queue.totals["faults"] == 0


def test_fault_kinds_look_like_an_ingress_or_the_app(make_api: Any) -> None:
    api = make_api(model=SmallModel(), fault_rate=1.0, seed=3)
    sub = api.submit()
    seen: dict[str, httpx.Response | None] = {}
    for _ in range(80):
        try:
            response: httpx.Response | None = api.status(sub)
        except DroppedConnection:
            response = None
        kind = api.queue.fault_log[-1]["kind"]
        seen.setdefault(kind, response)
    assert set(seen) == set(FAULT_KINDS)
    assert seen["drop"] is None
    for kind in ("502-ingress", "503-ingress"):
        response = seen[kind]
        assert response is not None and "nginx" in response.text
        assert "x-fal-request-id" not in response.headers
        assert _is_ingress_error(response)  # fal-client retries these
    for kind in ("502", "503"):
        response = seen[kind]
        assert response is not None and response.headers["x-fal-request-id"] == sub["request_id"]
        assert response.json()["error_type"] == response.headers["x-fal-error-type"]
        assert not _is_ingress_error(response)  # fal-client raises on these
    assert seen["429"] is not None and seen["429"].status_code == 429


def test_fault_kinds_option_limits_what_is_injected(make_api: Any) -> None:
    api = make_api(model=SmallModel(), fault_rate=1.0, fault_kinds=("429",))
    sub = api.submit()
    assert {api.status(sub).status_code for _ in range(20)} == {429}
    with pytest.raises(ValueError, match="fault_kinds"):
        EmulatorOptions(fault_kinds=("418",))


def test_submit_drop_creates_the_job_but_loses_the_answer(make_api: Any) -> None:
    api = make_api(model=SmallModel(), submit_drop_rate=1.0)
    with pytest.raises(DroppedConnection):
        api.client.post(SUBMIT, json=body(), headers=AUTH)
    (job,) = api.queue.jobs.values()
    api.wait_state({"request_id": job.request_id}, "COMPLETED")
    assert job.failure is None and api.queue.totals["submit_drops"] == 1


def test_fail_rate_failures_end_with_the_documented_bodies(make_api: Any) -> None:
    api = make_api(model=SmallModel(), fail_rate=1.0, seed=5, workers=4, service_time=0.02)
    results = [api.result(api.submit()) for _ in range(12)]
    by_code = {r.status_code: r for r in results}
    assert set(by_code) == {422, 503, 504}
    refused = by_code[422]
    assert refused.json()["detail"][0]["type"] == "content_policy_violation"
    assert refused.headers["x-fal-retryable"] == "false"
    for code, error_type in ((503, "runner_disconnected"), (504, "request_timeout")):
        response = by_code[code]
        assert response.json()["error_type"] == error_type and response.json()["detail"]
        assert response.headers["x-fal-error-type"] == error_type
        assert response.headers["x-fal-request-id"]
    stats = api.client.get("/_emulator/stats").json()
    assert stats["totals"]["jobs_failed"] == 12
    assert {r["error_type"] for r in stats["requests"].values()} == {
        "content_policy_violation",
        "runner_disconnected",
        "request_timeout",
    }


def test_a_dropped_connection_breaks_a_real_http_connection() -> None:
    with start(service_time=0.05, fault_rate=1.0, fault_kinds=("drop",)) as emu:
        with httpx.Client(verify=emu.ssl_context(), headers=AUTH, trust_env=False) as client:
            sub = client.post(f"{emu.url}{SUBMIT}", json=body()).json()
            with pytest.raises(httpx.RemoteProtocolError):
                client.get(sub["status_url"])
        assert emu.stats()["totals"]["faults"] == 1


def test_fal_client_rides_through_retryable_faults(fal: Any) -> None:
    client, emu = fal(fault_rate=0.4, fault_kinds=("429", "502-ingress", "503-ingress", "drop"))
    result = client.subscribe(
        "fal-ai/kling-image/o1", {"prompt": "pixel art", "image_urls": [image_uri()]}
    )
    assert result["images"]
    assert emu.stats()["totals"]["faults"] > 0


def _first_submit_dropped_second_not(seed: int) -> bool:
    faults = Faults(EmulatorOptions(submit_drop_rate=0.5, seed=seed))
    return faults.drop_submit() and not faults.drop_submit()


def test_fal_client_retries_a_lost_submit_and_so_bills_twice(fal: Any) -> None:
    """Why kling_nb must not let fal-client retry a submit: the first job still runs."""
    seed = next(s for s in range(200) if _first_submit_dropped_second_not(s))
    client, emu = fal(submit_drop_rate=0.5, seed=seed)
    handle = client.submit("fal-ai/kling-image/o1", {"prompt": "x", "image_urls": [image_uri()]})
    stats = emu.stats()
    assert stats["totals"]["submits"] == 2 and stats["totals"]["submit_drops"] == 1
    assert handle.request_id in stats["requests"]
