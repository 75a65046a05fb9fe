"""Cancel answers as each service documents it (docs/services.md, "Cancel"): plain stops
everything, fal removes a queued job but lets a running one finish (billed), Qiniu does
not support cancel at all (the job runs on and is billed). Through the real fal_client and
raw httpx, against a real emulator on loopback."""

from __future__ import annotations

from typing import Any

import fal_client
import httpx
import pytest

from kling_nb.emulator import Emulator

from .conftest import AUTH, body, wait_for

APP = "fal-ai/kling-image/o1"
SLOW = {"workers": 1, "service_time": 1.0}  # a job runs about a second: time to cancel it


def _facts(emu: Emulator, request_id: str) -> dict[str, Any]:
    facts: dict[str, Any] = emu.stats()["requests"][request_id]
    return facts


def _state(emu: Emulator, request_id: str, state: str) -> None:
    wait_for(lambda: _facts(emu, request_id)["state"] == state, timeout=20)


def _running_and_queued(client: Any, emu: Emulator) -> tuple[Any, Any]:
    """Two handles: the first running, the second waiting behind it (one worker)."""
    running = client.submit(APP, arguments=body(num_images=2))
    queued = client.submit(APP, arguments=body(prompt="second <<<image_1>>>"))
    _state(emu, running.request_id, "IN_PROGRESS")
    assert _facts(emu, queued.request_id)["state"] == "IN_QUEUE"
    return running, queued


def _http(emu: Emulator) -> httpx.Client:
    return httpx.Client(headers=AUTH, verify=emu.ssl_context(), timeout=10, trust_env=False)


def test_plain_stops_queued_and_running_jobs_and_bills_neither(fal: Any) -> None:
    client, emu = fal(profile="plain", **SLOW)
    running, queued = _running_and_queued(client, emu)
    queued.cancel()  # the handle's own cancel_url
    client.cancel(APP, running.request_id)  # fal_client.cancel's short path form
    for handle, outcome in ((queued, "removed"), (running, "stopped")):
        facts = _facts(emu, handle.request_id)
        assert facts["state"] == "COMPLETED" and facts["cancelled"] is True
        assert facts["cancel_outcome"] == outcome and facts["billed_images"] == 0
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        client.result(APP, running.request_id)
    assert exc.value.status_code == 400 and exc.value.response.json()["error_type"] == "cancelled"


def test_fal_removes_a_queued_job_unbilled_and_lets_a_running_one_finish_billed(
    fal: Any,
) -> None:
    client, emu = fal(profile="fal", **SLOW)
    running, queued = _running_and_queued(client, emu)
    with _http(emu) as http:
        answers = [http.put(h.cancel_url) for h in (queued, running)]
    assert [(a.status_code, a.json()) for a in answers] == [
        (202, {"status": "CANCELLATION_REQUESTED"}),
        (202, {"status": "CANCELLATION_REQUESTED"}),  # the same words: billed or not
    ]
    removed = _facts(emu, queued.request_id)
    assert removed["cancelled"] and removed["cancel_outcome"] == "removed"
    assert removed["billed_images"] == 0 and removed["started_at"] is None
    output = running.get()  # it finishes anyway, and is billed
    assert len(output["images"]) == 2
    finished = _facts(emu, running.request_id)
    assert finished["cancelled"] is False and finished["cancel_outcome"] == "signalled"
    assert finished["billed_images"] == 2 and finished["error_type"] is None
    logs = client.status(APP, running.request_id, with_logs=True).logs or []
    assert any(e["level"] == "WARN" and "billed" in e["message"] for e in logs)


def test_qiniu_refuses_cancel_as_unsupported_and_the_job_runs_on_billed(fal: Any) -> None:
    client, emu = fal(profile="qiniu", **SLOW)
    running, queued = _running_and_queued(client, emu)
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        client.cancel(APP, queued.request_id)  # …/requests/{id}/cancel: no such service
    assert exc.value.status_code == 404
    body_ = exc.value.response.json()
    assert body_["status"] is False and "not supported" in body_["message"]
    with _http(emu) as http:
        answer = http.put(running.status_url.replace("/status", "/cancel"))
    assert answer.status_code == 404 and answer.json()["status"] is False
    for handle in (queued, running):
        _state(emu, handle.request_id, "COMPLETED")
        facts = _facts(emu, handle.request_id)
        assert facts["cancelled"] is False and facts["cancel_outcome"] == "unsupported"
        assert facts["billed_images"] >= 1 and facts["cancel_requests"] == 1
    assert emu.stats()["totals"]["billed_images"] == 3  # 2 + 1: nothing was saved


def test_qiniu_handles_cancel_url_is_empty_so_fal_clients_own_cancel_cannot_send(
    fal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unpatched, fal_client 1.0.3 retries the unsendable PUT 10 times (about 45 s here).
    monkeypatch.setattr(fal_client.client, "MAX_ATTEMPTS", 1)
    client, emu = fal(profile="qiniu")
    handle = client.submit(APP, arguments=body())
    assert handle.cancel_url == ""
    with pytest.raises(httpx.UnsupportedProtocol):
        handle.cancel()  # PUT "": fal_client cannot even send it
    assert emu.stats()["totals"]["cancels"] == 0


@pytest.mark.parametrize("profile", ["plain", "fal"])
def test_cancel_after_completion_is_already_completed_and_changes_nothing(
    fal: Any, profile: str
) -> None:
    client, emu = fal(profile=profile)
    handle = client.submit(APP, arguments=body())
    handle.get()
    with _http(emu) as http:
        late = http.put(handle.cancel_url)
        unknown = http.put(handle.cancel_url.replace(handle.request_id, "no-such-request"))
    assert (late.status_code, late.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})
    facts = _facts(emu, handle.request_id)
    assert facts["cancel_outcome"] == "too_late" and facts["billed_images"] == 1
    assert client.result(APP, handle.request_id)["images"]


def test_the_cancel_option_overrides_the_profile(fal: Any) -> None:
    client, emu = fal(profile="qiniu", cancel="stops", **SLOW)
    running, queued = _running_and_queued(client, emu)
    client.cancel(APP, running.request_id)
    assert _facts(emu, running.request_id)["cancel_outcome"] == "stopped"
    _state(emu, queued.request_id, "COMPLETED")  # the next one ran at once
    assert emu.stats()["totals"]["billed_images"] == 1


def test_an_unknown_cancel_mode_is_refused_by_name() -> None:
    from kling_nb.emulator import EmulatorOptions

    with pytest.raises(ValueError, match="cancel = 'sometimes'"):
        EmulatorOptions(cancel="sometimes")  # type: ignore[arg-type]
