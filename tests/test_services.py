"""kling_nb itself, end to end, against the emulator answering as each service profile."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import (
    KlingCancelledError,
    KlingJobError,
    KlingTimeoutError,
    KlingValidationError,
)
from kling_nb._journal import journal_for
from kling_nb._samples import sample_path

from .conftest import connect_to


def test_an_edit_completes_and_is_billed_once_per_image_on_every_profile(
    profiled_emu: kling_nb.emulator.Emulator,  # type: ignore[name-defined]
    home: Path,
) -> None:
    connect_to(profiled_emu, home)
    before = profiled_emu.stats()["totals"]["billed_images"]
    result = kling_nb.edit(
        "turn <<<image_1>>> into a watercolor", sample_path("cat.jpg"), num_images=2, timeout=60
    )
    assert len(result.images) == 2
    assert profiled_emu.stats()["totals"]["billed_images"] - before == 2


# --- the same promises on every service profile, through real servers on loopback ----------

PROFILES = ("plain", "qiniu", "fal")
PROMPT = "turn <<<image_1>>> into a watercolor"


@contextlib.contextmanager
def serving(profile: str, **options: object) -> Iterator[kling_nb.emulator.Emulator]:  # type: ignore[name-defined]
    from kling_nb import emulator

    settings: dict[str, object] = {"service_time": 0.3, "workers": 1, "seed": 7}
    settings.update(options)
    with emulator.start(profile=profile, **settings) as handle:
        yield handle


def arguments() -> dict[str, object]:
    return {"prompt": PROMPT, "image_urls": [kling_nb.sample_image("cat.jpg")]}


def requests_of(emu: kling_nb.emulator.Emulator) -> dict[str, dict[str, object]]:  # type: ignore[name-defined]
    return emu.stats()["requests"]  # type: ignore[no-any-return]


# What a cancel does on each service (docs/services.md, "Cancel"): only a cancel the service
# confirms may say "not billed"; otherwise the job runs on, is billed, and resume() collects it.
CANCEL_TRUTH = {
    # profile: (outcome while queued, outcome while running)
    "plain": ("confirmed", "confirmed"),
    "qiniu": ("unsupported", "unsupported"),  # Qiniu: cancel "暂未支持"
    "fal": ("confirmed", "requested"),  # fal: queued removed; running only signalled
}


def _queued_behind(emu: kling_nb.emulator.Emulator) -> kling_nb.Job:  # type: ignore[name-defined]
    """A job waiting in the queue: the one worker is busy with another."""
    kling_nb.Job.submit("fal-ai/kling-image/o1", arguments=arguments())
    return kling_nb.Job.submit("fal-ai/kling-image/o1", arguments=arguments())


def _running(emu: kling_nb.emulator.Emulator) -> kling_nb.Job:  # type: ignore[name-defined]
    job = kling_nb.Job.submit("fal-ai/kling-image/o1", arguments=arguments())
    for _ in range(200):
        if requests_of(emu)[job.request_id]["state"] == "IN_PROGRESS":
            return job
        time.sleep(0.02)
    raise AssertionError("the job never started")


@pytest.mark.parametrize("where", ["queued", "running"])
@pytest.mark.parametrize("profile", PROFILES)
def test_cancel_says_only_what_the_service_did(profile: str, where: str, home: Path) -> None:
    expected = CANCEL_TRUTH[profile][where == "running"]
    with serving(profile, service_time=2.0) as emu:
        connect_to(emu, home)
        job = _queued_behind(emu) if where == "queued" else _running(emu)
        cancel = job.cancel()  # on qiniu cancel_url is "": kling_nb uses …/requests/{id}/cancel
        assert cancel.outcome == expected, str(cancel)
        entry = journal_for(home).find(job.request_id)
        assert entry is not None and entry.cancel == expected
        facts = requests_of(emu)[job.request_id]
        if expected == "confirmed":
            assert "not be billed" in str(cancel) and facts["cancelled"] is True
            assert entry.state == "cancelled"
            with pytest.raises(KlingCancelledError):
                job.wait(timeout=10, progress=False)
            assert requests_of(emu)[job.request_id]["billed_images"] == 0
            return
        # Not confirmed: the row stays resumable, the job runs on and is paid for; nothing
        # is lost — the pictures are collected when it finishes.
        assert "not be billed" not in str(cancel) and "resume" in str(cancel)
        assert entry.state in ("queued", "running") and facts["cancelled"] is False
        collected = kling_nb.resume(job.request_id, timeout=30, progress=False)
        assert len(collected.images) == 1
        assert requests_of(emu)[job.request_id]["billed_images"] == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_a_deadline_ends_the_wait_on_time_and_tells_what_the_cancel_did(
    profile: str, home: Path
) -> None:
    expected = CANCEL_TRUTH[profile][1]  # the job is running when the deadline comes
    with serving(profile, service_time=30) as emu:
        connect_to(emu, home)
        started = time.monotonic()
        with pytest.raises(KlingTimeoutError) as caught:
            kling_nb.edit(PROMPT, sample_path("cat.jpg"), timeout=1.5, progress=False, fresh=True)
        assert time.monotonic() - started <= 1.5 + 2.0  # the promise: deadline + 2 s
        assert "interrupt" not in str(caught.value).lower()
        assert caught.value.cancel == expected
        (stats,) = requests_of(emu).values()
        assert stats["cancelled"] is (expected == "confirmed")
        (row,) = kling_nb.history(home=home)
        assert row.cancel == expected
        assert row.state == ("cancelled" if expected == "confirmed" else "running")


@pytest.mark.parametrize("quirk", [{"status_stream": False}, {"stream_refused": True}])
@pytest.mark.parametrize("profile", PROFILES)
def test_a_gateway_without_the_stream_means_polling_on_every_profile(
    profile: str, quirk: dict[str, object], home: Path
) -> None:
    with serving(profile, **quirk) as emu:
        connect_to(emu, home)
        result = kling_nb.edit(PROMPT, sample_path("cat.jpg"), timeout=60, progress=False)
        assert len(result.images) == 1
        (stats,) = requests_of(emu).values()
        assert stats["status_polls"] >= 1  # it polled instead of failing the job


@pytest.mark.parametrize("failed_status", [False, True])
@pytest.mark.parametrize("profile", PROFILES)
def test_a_failed_job_ends_the_wait_at_once_with_the_services_words(
    profile: str, failed_status: bool, home: Path
) -> None:
    with serving(profile, fail_rate=1.0, failed_status=failed_status) as emu:
        connect_to(emu, home)
        started = time.monotonic()
        with pytest.raises(KlingJobError) as caught:
            kling_nb.edit(PROMPT, sample_path("cat.jpg"), timeout=60, progress=False)
        assert not isinstance(caught.value, KlingTimeoutError)
        assert time.monotonic() - started < 30  # not a spin until the deadline
        assert caught.value.request_id in requests_of(emu)


@pytest.mark.parametrize("profile", PROFILES)
def test_resume_after_the_result_expired_says_so_on_every_profile(profile: str, home: Path) -> None:
    with serving(profile, result_ttl=0.3) as emu:
        conn = connect_to(emu, home)
        job = kling_nb.Job.submit("fal-ai/kling-image/o1", arguments=arguments())
        deadline = time.monotonic() + 30
        while requests_of(emu)[job.request_id]["state"] != "COMPLETED":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.6)  # past the emulated service's result TTL
        with pytest.raises(KlingJobError, match="cannot be recovered from the service") as caught:
            kling_nb.resume(job.request_id, progress=False, connection=conn)
        assert caught.value.request_id == job.request_id


@pytest.mark.parametrize("profile", PROFILES)
def test_text_to_image_runs_where_documented_and_is_refused_before_paying_elsewhere(
    profile: str, home: Path
) -> None:
    with serving(profile) as emu:
        connect_to(emu, home)
        if profile == "qiniu":
            assert len(kling_nb.edit("a watercolor lighthouse", [], progress=False).images) == 1
        else:
            with pytest.raises(KlingValidationError):
                kling_nb.edit("a watercolor lighthouse", [], progress=False)
            assert emu.stats()["totals"]["submits"] == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_elements_run_on_fal_and_are_refused_before_paying_elsewhere(
    profile: str, home: Path
) -> None:
    element = {
        "frontal_image_url": sample_path("cat.jpg"),
        "reference_image_urls": [sample_path("cat.jpg")],
    }
    with serving(profile) as emu:
        connect_to(emu, home)
        prompt = "put @Element1 into @Image1 as a watercolor"
        if profile == "fal":
            result = kling_nb.edit(
                prompt, sample_path("cat.jpg"), elements=[element], progress=False
            )
            assert len(result.images) == 1
        else:
            with pytest.raises(KlingValidationError):
                kling_nb.edit(prompt, sample_path("cat.jpg"), elements=[element], progress=False)
            assert emu.stats()["totals"]["submits"] == 0
