"""A submit whose answer is lost is never resent: raw fal_client duplicates jobs, kling_nb not."""

from __future__ import annotations

from pathlib import Path

import fal_client
import pytest
from PIL import Image

import kling_nb
from kling_nb import ENDPOINT, KlingSubmitUnknownError, emulator
from kling_nb._images import to_image_url
from kling_nb._journal import Journal
from kling_nb._tasks import Job

from .conftest import CANARY_KEY

SUBMITS = 12
DROP_RATE = 0.5


def arguments() -> dict[str, object]:
    img = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    return {"prompt": "watercolor of <<<image_1>>>", "image_urls": [to_image_url(img)]}


def test_lost_submit_answers_duplicate_jobs_with_raw_fal_client_but_not_with_kling_nb(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = arguments()
    with emulator.start(service_time=0.05, workers=4, submit_drop_rate=DROP_RATE, seed=5) as emu:
        env = {
            "FAL_QUEUE_RUN_HOST": emu.host,
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": emu.ca_bundle,
            "KLING_NB_HOME": str(home),
        }
        conn = kling_nb.connect(env=env, quiet=True)
        monkeypatch.setenv("SSL_CERT_FILE", emu.ca_bundle)  # the raw client's httpx reads it

        # Baseline: the guide's own call. fal_client resends the POST after a dropped answer.
        raw = fal_client.SyncClient(key=CANARY_KEY)
        handles = [raw.submit(ENDPOINT, arguments=body) for _ in range(SUBMITS)]
        raw_jobs = emu.stats()["totals"]["submits"]
        assert len(handles) == SUBMITS
        assert raw_jobs > SUBMITS  # duplicates: billed jobs nobody holds a handle to

        outcomes: list[object] = []
        for _ in range(SUBMITS):
            try:
                outcomes.append(Job.submit(ENDPOINT, body, connection=conn))
            except KlingSubmitUnknownError as exc:
                outcomes.append(exc)
        ours = emu.stats()["totals"]["submits"] - raw_jobs
    assert ours == SUBMITS  # one job per call, never a second
    unknown = [o for o in outcomes if isinstance(o, KlingSubmitUnknownError)]
    assert unknown  # the drops happened, and were reported rather than resent
    entries = Journal(home).entries()
    assert len(entries) == SUBMITS
    assert sorted(e.id for e in entries if e.state == "unknown") == sorted(
        u.journal_id
        for u in unknown  # type: ignore[misc]
    )
    assert all(e.request_id for e in entries if e.state == "queued")
