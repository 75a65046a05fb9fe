"""run_fal_task / Job / edit against a real emulator on loopback, through the real fal-client."""

from __future__ import annotations

import _thread
import io
import random
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

import kling_nb
import kling_nb._job
from kling_nb import (
    ENDPOINT,
    KlingCancelledError,
    KlingJobError,
    KlingTimeoutError,
    KlingValidationError,
    emulator,
)
from kling_nb._job import Job
from kling_nb._progress import LineProgress

from .conftest import CANARY_KEY, connect_to


def photo(w: int = 640, h: int = 480) -> Image.Image:
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    img.paste((200, 40, 40), (w // 4, h // 4, w // 2, h // 2))
    return img


def args(**extra: object) -> dict[str, object]:
    return {"prompt": "watercolor of <<<image_1>>>", "image_urls": [photo()], **extra}


def request_stats(emu: emulator.Emulator, request_id: str) -> dict[str, object]:
    return emu.stats()["requests"][request_id]


@pytest.fixture(scope="module")
def slow_emu() -> Iterator[emulator.Emulator]:
    """Jobs that take 20 s, so there is time to interrupt them."""
    with emulator.start(service_time=20.0, workers=1) as handle:
        yield handle


def slow_conn(slow_emu: emulator.Emulator, home) -> kling_nb.Connection:  # type: ignore[no-untyped-def]
    return connect_to(slow_emu, home)


def test_run_fal_task_returns_the_guide_shaped_result_by_the_stream(emu, conn) -> None:  # type: ignore[no-untyped-def]
    before = emu.stats()["totals"]
    result = kling_nb.run_fal_task(ENDPOINT, args(num_images=2), progress=False)
    assert [set(im) >= {"url", "content_type"} for im in result["images"]] == [True, True]
    after = emu.stats()["totals"]
    assert after["status_streams"] == before["status_streams"] + 1
    assert after["status_polls"] == before["status_polls"]


def test_a_fixed_poll_interval_polls_like_the_guide(emu, conn) -> None:  # type: ignore[no-untyped-def]
    job = Job.submit(ENDPOINT, args(), connection=conn)
    result = job.wait(poll_interval=0.05, progress=False)
    assert result["images"]
    polls = request_stats(emu, job.request_id)["status_polls"]
    assert polls >= 3  # 0.3 s of service at 0.05 s intervals


def test_guide_positional_call_still_works(emu, conn) -> None:  # type: ignore[no-untyped-def]
    url = kling_nb._images.to_image_url(photo())
    result = kling_nb.run_fal_task(ENDPOINT, {"prompt": "oil painting", "image_urls": [url]}, 0.1)
    assert len(result["images"]) == 1


def test_invalid_arguments_are_refused_before_any_request(emu, conn) -> None:  # type: ignore[no-untyped-def]
    before = emu.stats()["totals"]["submits"]
    with pytest.raises(KlingValidationError, match="num_images"):
        kling_nb.run_fal_task(ENDPOINT, args(num_images=12), progress=False)
    with pytest.raises(KlingValidationError, match="image_urls\\[0\\] is 100×100"):
        kling_nb.run_fal_task(ENDPOINT, args(image_urls=[photo(100, 100)]), progress=False)
    assert emu.stats()["totals"]["submits"] == before


def test_a_failed_job_raises_job_error_with_request_id_and_detail(emu, conn) -> None:  # type: ignore[no-untyped-def]
    remote = "https://photos.example.com/cat.jpg"  # the emulator fetches nothing remote
    with pytest.raises(KlingJobError) as exc:
        kling_nb.run_fal_task(ENDPOINT, args(image_urls=[remote]), progress=False)
    err = exc.value
    assert err.request_id in emu.stats()["requests"]
    assert err.endpoint == ENDPOINT and err.status_code == 422
    assert "image_urls[0]" in str(err) and "fetches nothing" in str(err)
    assert not isinstance(err, KlingCancelledError)


def test_jobs_the_service_fails_raise_job_error_with_its_error_type(home) -> None:  # type: ignore[no-untyped-def]
    with emulator.start(service_time=0.1, fail_rate=1.0, seed=3) as emu:
        conn = connect_to(emu, home)
        for _ in range(3):
            with pytest.raises(KlingJobError) as exc:
                kling_nb.run_fal_task(ENDPOINT, args(), progress=False, connection=conn)
            assert exc.value.request_id and exc.value.detail
            assert exc.value.status_code in (422, 503, 504)


@pytest.mark.slow
class ShortestJitter(random.Random):
    """The retry jitter's random source, injected: always the shortest delay it allows."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_transient_faults_are_retried_until_the_result(home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(kling_nb._job.random, "Random", ShortestJitter)  # no real back-off naps
    with emulator.start(service_time=0.1, fault_rate=0.3, seed=11) as emu:
        conn = connect_to(emu, home)
        for interval in (None, 0.05):
            for _ in range(3):
                out = kling_nb.run_fal_task(  # fresh: each repeat is a new job
                    ENDPOINT, args(), interval, progress=False, connection=conn, fresh=True
                )
                assert out["images"]
        assert emu.stats()["totals"]["faults"] > 0


def test_interrupt_cancels_remote_job(slow_emu, home) -> None:  # type: ignore[no-untyped-def]
    conn = slow_conn(slow_emu, home)
    job = Job.submit(ENDPOINT, args(), connection=conn)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KlingCancelledError, match="confirmed the job is cancelled") as exc:
            job.wait(progress=False)
    finally:
        timer.cancel()
    assert exc.value.request_id == job.request_id
    facts = request_stats(slow_emu, job.request_id)
    assert facts["cancelled"] is True


def test_interrupt_while_polling_cancels_too(slow_emu, home) -> None:  # type: ignore[no-untyped-def]
    conn = slow_conn(slow_emu, home)
    job = Job.submit(ENDPOINT, args(), connection=conn)
    timer = threading.Timer(0.4, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KlingCancelledError):
        job.wait(poll_interval=0.1, progress=False)
    assert request_stats(slow_emu, job.request_id)["cancelled"] is True


def test_deadline_cancels_and_raises_timeout_with_request_id(slow_emu, home) -> None:  # type: ignore[no-untyped-def]
    conn = slow_conn(slow_emu, home)
    with pytest.raises(KlingTimeoutError) as exc:
        kling_nb.run_fal_task(ENDPOINT, args(), timeout=0.6, progress=False, connection=conn)
    assert isinstance(exc.value, TimeoutError) and "0.6 s" in str(exc.value)
    assert request_stats(slow_emu, exc.value.request_id)["cancelled"] is True


def test_progress_is_one_line_rewritten_in_place(emu, conn) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    kling_nb.run_fal_task(ENDPOINT, args(), progress=LineProgress(out))
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    final = text.rsplit("\r", 1)[-1]
    assert final.startswith("✓ done") and "request " in final and "1 image(s)" in final
    assert CANARY_KEY not in text


def test_progress_callback_sees_states_in_order(emu, conn) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    kling_nb.run_fal_task(ENDPOINT, args(), progress=lambda st, t: seen.append(st.state))
    assert seen[-1] == "COMPLETED"
    order = {"IN_QUEUE": 0, "IN_PROGRESS": 1, "COMPLETED": 2}
    assert [order[s] for s in seen] == sorted(order[s] for s in seen)


def test_errors_never_contain_the_key(emu, conn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KlingJobError) as exc:
        kling_nb.run_fal_task(
            ENDPOINT, args(image_urls=["https://x.example/a.jpg"]), progress=False
        )
    assert CANARY_KEY not in str(exc.value) and CANARY_KEY not in repr(exc.value.__dict__)


def test_without_a_status_stream_the_wait_falls_back_to_polling(home) -> None:  # type: ignore[no-untyped-def]
    with emulator.start(service_time=0.3, status_stream=False) as emu:
        conn = connect_to(emu, home)
        first = Job.submit(ENDPOINT, args(), connection=conn)
        assert first.wait(progress=False)["images"]
        second = Job.submit(ENDPOINT, args(prompt="pixel art"), connection=conn)
        assert second.wait(progress=False)["images"]
        facts = emu.stats()["requests"]
    # One try at the stream (404), then polls; the next job goes straight to polling.
    assert facts[first.request_id]["status_streams"] == 1
    assert facts[first.request_id]["status_polls"] >= 1
    assert facts[second.request_id]["status_streams"] == 0
    assert facts[second.request_id]["status_polls"] >= 1


@pytest.mark.parametrize("call", ["edit", "run_fal_task"])
def test_a_ctrl_c_just_after_the_submit_cancels_the_job_as_in_the_wait(
    slow_emu, home, monkeypatch, call: str
) -> None:  # type: ignore[no-untyped-def]
    # Ctrl-C lands after the POST answered and before the wait began (here: as the request
    # id is journaled). The job exists and would be billed: it is cancelled and recorded,
    # as a Ctrl-C in the wait would do, not left running behind a bare KeyboardInterrupt.
    from kling_nb._journal import Journal, journal_for

    conn = connect_to(slow_emu, home)
    real = Journal.submitted

    def interrupted(self: Journal, row_id: int, handle: object) -> bool:
        real(self, row_id, handle)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(Journal, "submitted", interrupted)
    with pytest.raises(KlingCancelledError) as caught:
        if call == "edit":
            kling_nb.edit("ink <<<image_1>>>", photo(), progress=False, connection=conn)
        else:
            kling_nb.run_fal_task(ENDPOINT, args(), progress=False, connection=conn)
    assert "You interrupted the wait" in str(caught.value)  # as a Ctrl-C in the wait says
    request_id = caught.value.request_id
    assert request_stats(slow_emu, request_id)["cancelled"] is True
    row = journal_for(home).find(request_id)
    assert row is not None and row.state == "cancelled" and row.cancel == "confirmed"


def test_a_ctrl_c_during_the_post_says_the_job_may_exist_and_keeps_the_row(
    slow_emu, home, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # The answer to the POST never came back to us: the job may exist and be billed, and
    # its id is unknown. Said in words (not a bare KeyboardInterrupt); the row is `unknown`.
    from kling_nb import KlingSubmitUnknownError
    from kling_nb._journal import journal_for
    from kling_nb._transport import QueueClient

    conn = connect_to(slow_emu, home)
    real = QueueClient.submit

    def interrupted(self: QueueClient, *args: object, **kwargs: object) -> object:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(QueueClient, "submit", interrupted)
    with pytest.raises(KlingSubmitUnknownError) as caught:
        kling_nb.edit("ink <<<image_1>>>", photo(), progress=False, connection=conn)
    assert "You interrupted the submission" in str(caught.value)
    assert "history(state='unknown')" in str(caught.value)
    (row,) = journal_for(home).entries()
    assert row.state == "unknown" and caught.value.journal_id == row.id


def test_a_ctrl_c_during_an_upload_sends_nothing_and_bills_nothing(home, emu) -> None:  # type: ignore[no-untyped-def]
    from kling_nb._journal import journal_for

    def upload(data: bytes, content_type: str) -> str:
        raise KeyboardInterrupt

    conn = kling_nb.connect(
        env={
            "FAL_QUEUE_RUN_HOST": emu.host,
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": emu.ca_bundle,
            "KLING_NB_HOME": str(home),
        },
        quiet=True,
        upload=upload,
    )
    submits = emu.stats()["totals"]["submits"]
    with pytest.raises(KeyboardInterrupt):
        kling_nb.edit("ink <<<image_1>>>", photo(), progress=False, connection=conn)
    (row,) = journal_for(home).entries()
    assert row.state == "rejected" and "KeyboardInterrupt" in (row.error or "")
    assert emu.stats()["totals"]["submits"] == submits


def test_a_ctrl_c_after_the_job_finished_keeps_the_result_and_says_how_to_get_it(
    emu, conn, home, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # The job completed and is paid for; Ctrl-C lands while its pictures are fetched and
    # cached. Nothing to cancel, nothing lost: said in words, and resume() gives the result.
    from kling_nb import _api
    from kling_nb._journal import journal_for

    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(_api, "finish_edit", interrupted)
    with pytest.raises(KlingCancelledError) as caught:
        kling_nb.edit("ink <<<image_1>>>", photo(), progress=False, connection=conn)
    request_id = caught.value.request_id
    assert caught.value.cancel == "too_late" and "already finished" in str(caught.value)
    assert f"kling_nb.resume({request_id!r})" in str(caught.value)
    row = journal_for(home).find(request_id)
    assert row is not None and row.state == "downloading"
    monkeypatch.undo()
    result = kling_nb.resume(request_id, progress=False, connection=conn)
    assert isinstance(result, kling_nb.EditResult) and len(result) == 1
    assert emu.stats()["requests"][request_id]["state"] == "COMPLETED"
