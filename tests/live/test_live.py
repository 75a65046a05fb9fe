"""Against the real service (see conftest.py for when these run): the paid probe first, then
one 1K job, a cancel at once, and doctor."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import kling_nb

pytestmark = pytest.mark.live

GUIDE_IMAGE = "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"


def test_the_probe_first_records_what_the_service_answers(backend: str) -> None:
    """Run first: what the service really does (docs/services.md's unverified rows), saved
    under KLING_NB_HOME/probes/ and printed (`pytest -s` shows it)."""
    report = kling_nb.doctor(backend, probe=True, yes=True)
    assert report.ok, str(report)
    assert report.probe is not None and Path(report.probe.path).is_file()
    print(report)


def test_one_1k_job_returns_a_picture(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = kling_nb.edit(
        "将 <<<image_1>>> 转换为水彩画风格，保持原始构图",
        GUIDE_IMAGE,
        resolution="1K",
        timeout=600,
        progress=False,
        connection=live,
    )
    (path,) = result.save(tmp_path)
    with Image.open(path) as picture:
        assert min(picture.size) >= 512
    assert live.key not in repr(result)


def test_a_cancel_at_once_says_what_the_service_did(live) -> None:  # type: ignore[no-untyped-def]
    job = kling_nb.Job.submit(
        kling_nb.ENDPOINT,
        {"prompt": "将 <<<image_1>>> 转换为油画风格", "image_urls": [GUIDE_IMAGE]},
        connection=live,
    )
    cancel = job.cancel()  # at once: the job is still queued (or just started)
    if cancel.outcome == "confirmed":
        with pytest.raises(kling_nb.KlingJobError) as ended:
            job.wait(timeout=300, progress=False)
        assert not isinstance(ended.value, kling_nb.KlingTimeoutError)
    else:  # not confirmed (Qiniu documents no cancel): it runs on, and is collected
        assert "resume" in str(cancel)
        assert job.wait(timeout=600, progress=False)["images"]


def test_doctor_finds_the_service_usable(backend: str) -> None:
    report = kling_nb.doctor(backend)
    assert report.ok, str(report)
    assert report.finding("cancel") is not None and report.finding("stream") is not None
