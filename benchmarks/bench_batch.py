"""run_batch against the guide's own helper called in a loop, on one local emulator.

20 Kling O1 jobs of 2 s each on an emulator with 5 workers. The baseline is the guide's
`run_fal_task` (verbatim, benchmarks/guide.py; 5 s polls) called once per job; kling_nb's
`run_batch` keeps as many jobs in flight as the service has workers and waits on the status
stream. The ideal is ceil(jobs / workers) × service time.

    python benchmarks/bench_batch.py            # the full run (about two minutes)
    python benchmarks/bench_batch.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.emulator_process import emulator_process  # noqa: E402
from benchmarks.guide import load as load_guide_helper  # noqa: E402

run_fal_task = load_guide_helper(quiet=False)  # the guide's helper, verbatim


GUIDE_IMAGE = "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"
# (jobs, workers, service time in s, the guide helper's poll interval in s)
FULL = (20, 5, 2.0, 5.0)
QUICK = (6, 3, 0.5, 1.0)


def arguments(i: int) -> dict[str, Any]:
    """Job i: the guide's picture, a different prompt each, square 1K (one service time)."""
    return {
        "prompt": f"将 <<<image_1>>> 转换为水彩画风格，第 {i + 1} 版",
        "image_urls": [GUIDE_IMAGE],
        "aspect_ratio": "1:1",
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Time the guide's loop and run_batch on the same emulator; return the figures."""
    import kling_nb

    jobs, workers, service, poll_interval = QUICK if quick else FULL
    # The emulator runs in its own process: rendering must not share the client's GIL.
    with (
        tempfile.TemporaryDirectory() as home,
        emulator_process(service_time=service, workers=workers, seed=1) as emu,
    ):
        os.environ.update({**emu.env, "FAL_KEY": "bench-key", "KLING_NB_HOME": home})
        conn = kling_nb.connect(quiet=True)

        before = emu.stats()["totals"]
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):  # the helper prints every poll
            loop_results = [
                run_fal_task("fal-ai/kling-image/o1", arguments(i), poll_interval)
                for i in range(jobs)
            ]
        loop_s = time.monotonic() - started
        middle = emu.stats()["totals"]

        requests = [kling_nb.KlingO1Request.from_arguments(arguments(i)) for i in range(jobs)]
        started = time.monotonic()
        batch = kling_nb.run_batch(
            requests, concurrency=workers, progress=False, connection=conn, fresh=True
        )
        batch_s = time.monotonic() - started
        stats = emu.stats()
        after = stats["totals"]
    # The server's own span for the batch: first submit to last completion. What run_batch
    # adds on top is this machine's share (submits, downloads, caching, thread start).
    facts = [stats["requests"][r.request_id] for r in batch.results]
    span = max(f["completed_at"] for f in facts) - min(f["submitted_at"] for f in facts)
    assert all(r["images"] for r in loop_results), "the baseline lost a result"
    batch.raise_for_errors()
    ideal = math.ceil(jobs / workers) * service
    return {
        "jobs": jobs,
        "workers": workers,
        "service_time_s": service,
        "ideal_s": ideal,
        "loop_s": round(loop_s, 2),
        "batch_s": round(batch_s, 2),
        "speedup": round(loop_s / batch_s, 2),
        "batch_over_ideal": round(batch_s / ideal, 3),
        "server_span_s": round(span, 2),
        "client_overhead_s": round(batch_s - span, 2),
        "loop_status_polls": middle["status_polls"] - before["status_polls"],
        "batch_status_polls": after["status_polls"] - middle["status_polls"],
        "batch_status_streams": after["status_streams"] - middle["status_streams"],
        "loop_images_cached": 0,
        "batch_images_cached": sum(len(r) for r in batch.results),
    }


def table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    f = figures
    rows = [
        ("the guide's run_fal_task in a loop (5 s polls)", f["loop_s"], "1.00×",
         f["loop_status_polls"], f["loop_images_cached"]),
        (f"kling_nb.run_batch (concurrency {f['workers']}, status stream)", f["batch_s"],
         f"{f['speedup']:.2f}×", f["batch_status_polls"], f["batch_images_cached"]),
        (f"ideal: ceil({f['jobs']}/{f['workers']}) × {f['service_time_s']} s", f["ideal_s"],
         f"{f['loop_s'] / f['ideal_s']:.2f}×", "—", "—"),
    ]  # fmt: skip
    lines = [
        f"{f['jobs']} jobs of {f['service_time_s']} s, emulator with {f['workers']} workers",
        "",
        "| method | wall time (s) | speed-up | status polls | images cached |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {m} | {t:.2f} | {s} | {p} | {c} |" for m, t, s, p, c in rows]
    lines += [
        "",
        f"run_batch is {f['speedup']:.1f}× faster than the loop (target ≥ 5×) and "
        f"{f['batch_over_ideal']:.2f}× the ideal (target ≤ 1.25×). The emulator itself took "
        f"{f['server_span_s']:.2f} s from the first submit to the last completion; "
        f"run_batch added {f['client_overhead_s']:.2f} s (submits, downloads, caching).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few small jobs, for smoke runs")
    figures = run(quick=parser.parse_args(argv).quick)
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
