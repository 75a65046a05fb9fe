"""The upstream seam: an upstream that is down, a submit whose answer is lost (never resent)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kling_nb import emulator

from ..conftest import CANARY_KEY
from .conftest import APP, add, body, http, open_room, wait_for


def test_an_upstream_that_is_down_is_said_in_words_and_nothing_is_charged(tmp_path: Path) -> None:
    emu = emulator.start(service_time=5.0, workers=1)
    with open_room(tmp_path / "class", emu) as room:
        token = add(room, "1", name="down")
        with http(room, token) as web:
            running = web.post(f"/queue/{APP}", json=body()).json()
            emu.stop()  # the service goes away mid-class
            status = web.get(running["status_url"])
            submit = web.post(f"/queue/{APP}", json=body())
        spent = room.store.student("down").spent
    assert status.status_code == 503 and "did not answer" in status.json()["detail"]
    assert submit.status_code == 503 and "cannot be reached" in submit.json()["detail"]
    assert "nothing charged" in submit.json()["detail"]
    assert spent == Decimal("0.028")  # the first job only
    for answer in (status, submit):
        assert CANARY_KEY not in answer.text and "Traceback" not in answer.text


def test_a_submit_whose_answer_is_lost_is_unknown_charged_and_never_resent(tmp_path: Path) -> None:
    with (
        emulator.start(service_time=0.2, submit_drop_rate=1.0) as emu,
        open_room(tmp_path / "class", emu) as room,
    ):
        token = add(room, "1", name="lost_answer")
        with http(room, token) as web:
            answer = web.post(f"/queue/{APP}", json=body())
        assert answer.status_code == 502 and "x-fal-request-id" not in answer.headers
        assert "not resent" in answer.json()["detail"]
        assert emu.stats()["totals"]["submits"] == 1  # the upstream saw it once
        (job,) = room.store.jobs()
        assert job.state == "unknown" and job.note
        assert room.store.student("lost_answer").spent == Decimal("0.028")  # it may be billed
        assert room.store.report()[0]["unknown"] == 1


def test_a_job_the_upstream_forgot_answers_completed_with_the_reason(tmp_path: Path) -> None:
    with (
        emulator.start(service_time=0.2, result_ttl=0.5) as emu,
        open_room(tmp_path / "class", emu, sweep_interval=60) as room,
    ):
        token = add(room)
        with http(room, token) as web:
            answer = web.post(f"/queue/{APP}", json=body()).json()
            wait_for(
                lambda: (
                    emu.stats()["requests"][room.store.job(answer["request_id"]).upstream_id][
                        "state"
                    ]
                    == "COMPLETED"
                )
            )  # type: ignore[union-attr]
            import time

            time.sleep(0.8)  # the emulator forgets it; nobody polled in between
            status = web.get(answer["status_url"])
            result = web.get(answer["response_url"])
        job = room.store.job(answer["request_id"])
    assert status.status_code == 200 and status.json()["error_type"] == "upstream_lost"
    assert result.status_code == 404 and "no longer knows" in result.json()["detail"]
    assert job is not None and job.state == "lost"
