"""Cancel in the panel says what the service did, on every service profile (issue 17 §1).

Through real emulators on loopback answering as `plain` (a cancel is confirmed), `qiniu`
(cancel not supported: the job runs on and is billed) and `fal` (a queued job is removed, a
running one only asked): only a confirmed cancel reads as "cancelled"; any other run is
"stopped", kept in the session's runs, and Collect (`kling_nb.resume`) fetches its pictures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kling_nb import EditPanel, KlingValidationError, emulator
from kling_nb._samples import sample_path
from kling_nb.panel.state import PanelRun

from .conftest import connect_to
from .test_services import CANCEL_TRUTH

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

WAIT = 30.0
PROMPT = "turn <<<image_1>>> into a watercolor"


@pytest.fixture(params=sorted(CANCEL_TRUTH))
def served(request: pytest.FixtureRequest, home: Path) -> Iterator[tuple[str, Any]]:
    """An emulator answering as one service profile, one worker, kling_nb connected to it."""
    options = {"service_time": 1.5, "workers": 1, "seed": 7, "profile": request.param}
    with emulator.start(**options) as handle:
        connect_to(handle, home)
        yield request.param, handle


def _job_state(emu: Any, request_id: str) -> str:
    return str(emu.stats()["requests"][request_id]["state"])


def _until(what: Any, timeout: float = WAIT) -> None:
    """Poll the emulator (a real server: its state changes on its own clock)."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "the emulator never got there"
        time.sleep(0.02)


def _submitted(panel: EditPanel) -> str:
    _until(lambda: panel.history[-1].request_id is not None)
    request_id = panel.history[-1].request_id
    assert request_id is not None
    return request_id


def _panel() -> EditPanel:
    return EditPanel(prompt=PROMPT, images=[sample_path("cat.jpg")])


@pytest.mark.parametrize("where", ["queued", "running"])
def test_cancel_reads_as_cancelled_only_when_the_service_confirms(
    served: tuple[str, Any], where: str
) -> None:
    profile, emu = served
    if where == "queued":
        blocker = _panel()  # the one worker is busy with another panel's job
        blocker.run()
        _submitted(blocker)
    panel = _panel()
    panel.run()
    request_id = _submitted(panel)
    if where == "running":
        _until(lambda: _job_state(emu, request_id) == "IN_PROGRESS")
    assert panel.cancel()
    assert panel.wait(WAIT) is None
    run = panel.history[-1]
    expected = CANCEL_TRUTH[profile][where == "running"]
    assert run.cancel == expected, run.error
    if expected == "confirmed":
        _assert_cancelled(panel, run, emu)
    else:
        _assert_stopped_then_collected(panel, run, emu)


def _assert_cancelled(panel: EditPanel, run: PanelRun, emu: Any) -> None:
    facts = emu.stats()["requests"][run.request_id]
    assert run.state == "cancelled" and facts["cancelled"] is True
    assert "⊘ #" in panel.status and "cancelled" in panel.status
    notice = panel.widgets.notice.value
    assert "cancelled on the server" in notice and "Nothing more is billed" in notice
    assert panel.widgets.history_collect.disabled  # nothing to collect
    with pytest.raises(KlingValidationError, match="nothing to collect"):
        panel.collect(run.number)
    assert facts["billed_images"] == 0


def _assert_stopped_then_collected(panel: EditPanel, run: PanelRun, emu: Any) -> None:
    request_id = run.request_id
    assert run.state == "stopped" and run in panel.history  # kept in the session's runs
    assert "⏸ #" in panel.status and "stopped waiting" in panel.status
    assert "billed" in panel.status and "· cancelled" not in panel.status
    notice = panel.widgets.notice.value
    assert "kling-nb-warn" in notice and "stopped waiting" in notice
    assert f"kling_nb.resume(&#x27;{request_id}&#x27;)" in notice and "Collect" in notice
    assert "not be billed" not in notice and "Nothing more" not in notice
    assert panel.last_error is None  # a job that may finish is not an error
    assert emu.stats()["requests"][request_id]["cancelled"] is False

    collect = panel.widgets.history_collect
    assert panel.widgets.history.value == run.number and not collect.disabled
    collect.click()  # what the page does; the wait runs on a worker, the kernel stays free
    assert "collecting" in panel.status or panel.history[-1].state == "completed"
    done = panel._dispatch.pump_until(lambda: panel.history[-1].state == "completed", WAIT)
    assert done, panel.last_error
    result = panel.result
    assert result is not None and result.request_id == request_id
    assert len(panel.widgets.gallery.children) == 1
    assert "done (collected)" in panel.status and "collected" in panel.widgets.notice.value
    assert collect.disabled and emu.stats()["requests"][request_id]["billed_images"] == 1


def test_a_stopped_run_that_cannot_be_collected_yet_says_why_and_stays_collectable(
    home: Path,
) -> None:
    # Qiniu keeps running a job it cannot cancel; with a collect deadline shorter than the
    # job, the wait ends in words, the run stays "stopped", and a later Collect gets it.
    options = {"service_time": 3.0, "workers": 1, "seed": 7, "profile": "qiniu"}
    with emulator.start(**options) as emu:
        connect_to(emu, home)
        panel = _panel()
        panel.run()
        request_id = _submitted(panel)
        panel.cancel()
        assert panel.wait(WAIT) is None and panel.history[-1].state == "stopped"
        panel.timeout = 0.5
        first = panel.collect()
        assert isinstance(first.exception(WAIT), Exception)
        panel._dispatch.flush(WAIT)
        run = panel.history[-1]
        assert run.state == "stopped" and run.collectable
        assert panel.last_error is not None and "collected again" in panel.last_error
        panel.timeout = WAIT
        assert panel.collect().result(WAIT).request_id == request_id
        assert panel.history[-1].state == "completed" and panel.last_error is None


@pytest.mark.parametrize("profile", ["plain", "qiniu"])
def test_a_deadline_ends_the_run_as_the_service_answered_its_cancel(
    profile: str, home: Path
) -> None:
    options = {"service_time": 3.0, "workers": 1, "seed": 7, "profile": profile}
    with emulator.start(**options) as emu:
        connect_to(emu, home)
        panel = _panel()
        panel.timeout = 1.0
        panel.run()
        assert panel.wait(WAIT) is None
        run = panel.history[-1]
        assert run.cancel == CANCEL_TRUTH[profile][1]
        if profile == "plain":  # cancelled on the server: a failure in words, nothing to collect
            assert run.state == "failed" and not run.collectable
            assert panel.last_error is not None and "within 1.0 s" in panel.last_error
            assert "not be billed" in panel.last_error
        else:  # runs on, billed: stopped, said in the notice, and collectable
            assert run.state == "stopped" and run.collectable and panel.last_error is None
            notice = panel.widgets.notice.value
            assert "within 1.0 s" in notice and "will be billed" in notice
            panel.timeout = WAIT
            assert panel.collect().result(WAIT).request_id == run.request_id
