"""Crash: 20 trials of SIGKILL while waiting; `resume()` in another process recovers every
result. Twenty worker processes each submit a job to an emulator in its own process, are
killed once the journal shows their job submitted, and one new process resumes them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.emulator_process import emulator_process
from kling_nb._journal import journal_for

TRIALS = 20
WORKER = """
import kling_nb, sys
kling_nb.run_fal_task(kling_nb.ENDPOINT, {"prompt": "ink wash #" + sys.argv[1],
    "image_urls": ["https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"]},
    progress=False)
"""
RESUMER = """
import json, kling_nb
from kling_nb import EditResult
batch = kling_nb.resume(progress=False)
print(json.dumps([[o.request_id, len(o.images)] if isinstance(o, EditResult) else repr(o)
                  for o in batch]))
"""


@pytest.mark.timeout(240)
def test_twenty_killed_waits_are_all_recovered_by_resume(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with emulator_process(service_time=6.0, workers=TRIALS) as emu:
        env = {**os.environ, **emu.env, "FAL_KEY": "k", "KLING_NB_HOME": str(home)}
        env.pop("QINIU_API_KEY", None)
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKER, str(i)], env=env) for i in range(TRIALS)
        ]
        journal = journal_for(home)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            waiting = [
                e for e in journal.entries() if e.request_id and e.state in ("queued", "running")
            ]
            if len(waiting) == TRIALS:
                break
            time.sleep(0.1)
        assert len(waiting) == TRIALS, [e.state for e in journal.entries()]
        for proc in workers:
            proc.send_signal(signal.SIGKILL)
        assert [proc.wait(10) for proc in workers] == [-signal.SIGKILL] * TRIALS
        assert all(e.state not in ("completed",) for e in journal.entries())
        done = subprocess.run(
            [sys.executable, "-c", RESUMER], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        recovered = json.loads(done.stdout.strip().splitlines()[-1])
        stats = emu.stats()
    assert len(recovered) == TRIALS and all(isinstance(r, list) for r in recovered), recovered
    assert {rid for rid, _ in recovered} == {e.request_id for e in waiting}
    assert all(n == 1 for _, n in recovered)
    assert stats["totals"]["submits"] == TRIALS and stats["totals"]["cancels"] == 0
    assert {e.state for e in journal.entries()} == {"completed"}
