"""Fault soak: 200 jobs with 20 % transient faults and 10 % failing jobs. Every job ends in
images or a KlingJobError with request id and detail; none hangs; the journal accounts for
every one; the emulator saw no duplicate submission."""

from __future__ import annotations

import pytest
from PIL import Image

import kling_nb
from kling_nb import EditResult, KlingJobError, KlingO1Request, emulator
from kling_nb._journal import journal_for

from ..conftest import connect_to

JOBS = 200


@pytest.mark.timeout(240)
def test_two_hundred_jobs_under_faults_all_end_accounted_for(home) -> None:  # type: ignore[no-untyped-def]
    image = Image.linear_gradient("L").resize((400, 300)).convert("RGB")
    url = kling_nb._images.to_image_url(image)
    requests = [KlingO1Request(f"sketch #{i}", [url]) for i in range(JOBS)]
    with emulator.start(
        service_time=0.02, workers=8, fault_rate=0.2, fail_rate=0.1, seed=42
    ) as emu:
        conn = connect_to(emu, home)
        outcomes = kling_nb.run_batch(
            requests, concurrency=8, timeout=120, progress=False, connection=conn
        )
        stats = emu.stats()
    assert len(outcomes) == JOBS
    ok = [o for o in outcomes if isinstance(o, EditResult)]
    failed = [o for o in outcomes if isinstance(o, KlingJobError)]
    assert len(ok) + len(failed) == JOBS, [type(o) for o in outcomes]
    for err in failed:
        assert err.request_id and err.detail, err
    assert all(len(r.images) == 1 and r.images[0].path.is_file() for r in ok)
    # The injected failures show up, in about the proportion asked for.
    assert 0.04 * JOBS <= len(failed) <= 0.2 * JOBS
    assert stats["totals"]["faults"] > 0
    # No duplicate submissions, and the journal accounts for every job.
    assert stats["totals"]["submits"] == JOBS
    entries = journal_for(home).entries(host=emu.host)
    assert len(entries) == JOBS
    assert {e.request_id for e in entries} == set(stats["requests"])
    by_id = {e.request_id: e.state for e in entries}
    assert {by_id[r.request_id] for r in ok} == {"completed"}
    assert {by_id[e.request_id] for e in failed} <= {"failed", "cancelled"}
