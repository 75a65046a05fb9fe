"""The async API on one local emulator, and what `import kling_nb` costs.

1. 100 Kling O1 jobs of 2 s on an emulator with 20 workers: `run_batch_async` from one
   thread (no thread per job) against the ideal ceil(jobs / workers) × service time, with
   the sync `run_batch` beside it (target ≤ 1.1× ideal).
2. 5 `edit_async` gathered against one job's time (target ≤ 1.3×).
3. CPU time of `import kling_nb` against `import fal_client`, each in a fresh interpreter
   (target ≤ 1.3×).

    python benchmarks/bench_async.py            # the full run (about a minute)
    python benchmarks/bench_async.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import standalone  # noqa: E402
from benchmarks.emulator_process import emulator_process  # noqa: E402

GUIDE_IMAGE = "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"
# (jobs, workers, service time in s, gathered edits)
FULL = (100, 20, 2.0, 5)
QUICK = (12, 4, 0.5, 3)
IMPORT_RUNS = 7


def arguments(i: int) -> dict[str, Any]:
    """Job i: the guide's picture, a different prompt each, square 1K."""
    return {
        "prompt": f"将 <<<image_1>>> 转换为水彩画风格，第 {i + 1} 版",
        "image_urls": [GUIDE_IMAGE],
        "aspect_ratio": "1:1",
    }


def server_span(emu: Any, batch: Any) -> float:
    """The emulator's own span for `batch`: its first submit to its last completion.

    What a client adds on top of it is this machine's share (encoding, submits, polls,
    downloads, caching); the span itself is paced by the emulator's CPU-bound rendering.
    """
    facts = emu.stats()["requests"]
    mine = [facts[r.request_id] for r in batch.results]
    return float(max(f["completed_at"] for f in mine) - min(f["submitted_at"] for f in mine))


def batches(jobs: int, workers: int, service: float, gathered: int) -> dict[str, Any]:
    """Time run_batch_async, run_batch, one edit and `gathered` edit_async on one emulator."""
    import kling_nb

    with (
        tempfile.TemporaryDirectory() as home,
        emulator_process(service_time=service, workers=workers, seed=1) as emu,
    ):
        os.environ.update({**emu.env, "FAL_KEY": "bench-key", "KLING_NB_HOME": home})
        conn = kling_nb.connect(quiet=True)
        requests = [kling_nb.KlingO1Request.from_arguments(arguments(i)) for i in range(jobs)]

        kling_nb.edit(arguments(0)["prompt"], GUIDE_IMAGE, progress=False, connection=conn)  # warm
        started = time.monotonic()
        result = asyncio.run(
            kling_nb.run_batch_async(
                requests, concurrency=workers, progress=False, connection=conn, fresh=True
            )
        )
        async_s = time.monotonic() - started
        result.raise_for_errors()
        async_span = server_span(emu, result)

        started = time.monotonic()
        sync_result = kling_nb.run_batch(
            requests, concurrency=workers, progress=False, connection=conn, fresh=True
        )
        sync_s = time.monotonic() - started
        sync_result.raise_for_errors()
        sync_span = server_span(emu, sync_result)

        async def edits(count: int) -> float:
            started = time.monotonic()
            await asyncio.gather(
                *(
                    kling_nb.edit_async(
                        arguments(i)["prompt"],
                        GUIDE_IMAGE,
                        progress=False,
                        connection=conn,
                        fresh=True,
                    )
                    for i in range(count)
                )
            )
            return time.monotonic() - started

        async def one_then_gathered() -> tuple[float, float]:
            await edits(1)  # this loop's HTTP connections, opened once
            return await edits(1), await edits(gathered)

        one_s, gathered_s = asyncio.run(one_then_gathered())
    ideal = math.ceil(jobs / workers) * service
    return {
        "jobs": jobs,
        "workers": workers,
        "service_time_s": service,
        "ideal_s": ideal,
        "run_batch_async_s": round(async_s, 2),
        "run_batch_async_over_ideal": round(async_s / ideal, 3),
        "run_batch_async_server_span_s": round(async_span, 2),
        "run_batch_async_over_span": round(async_s / async_span, 3),
        "run_batch_async_client_overhead_s": round(async_s - async_span, 2),
        "run_batch_s": round(sync_s, 2),
        "run_batch_over_ideal": round(sync_s / ideal, 3),
        "run_batch_server_span_s": round(sync_span, 2),
        "run_batch_over_span": round(sync_s / sync_span, 3),
        "run_batch_client_overhead_s": round(sync_s - sync_span, 2),
        "one_edit_s": round(one_s, 2),
        "gathered_edits": gathered,
        "gathered_edit_async_s": round(gathered_s, 2),
        "gathered_over_one": round(gathered_s / one_s, 3),
    }


def import_cpu(module: str) -> float:
    """Median CPU seconds of `import module` in a fresh interpreter."""
    code = f"import time; t = time.process_time(); import {module}; print(time.process_time() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True).stdout)
        for _ in range(IMPORT_RUNS)
    ]  # fmt: skip
    return statistics.median(runs)


def imports() -> dict[str, Any]:
    kling, fal = import_cpu("kling_nb"), import_cpu("fal_client")
    return {
        "import_kling_nb_cpu_s": round(kling, 4),
        "import_fal_client_cpu_s": round(fal, 4),
        "import_ratio": round(kling / fal, 3),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Every figure: the batches and gathered edits on one emulator, then the imports."""
    return {**batches(*(QUICK if quick else FULL)), **imports()}


def table(f: dict[str, Any]) -> str:
    """The figures as a Markdown table: batches × ideal and × the emulator's own span."""
    return "\n".join(
        [
            f"{f['jobs']} jobs of {f['service_time_s']} s, emulator with {f['workers']} workers"
            f" (ideal: ceil(jobs/workers) × service = {f['ideal_s']:.2f} s)",
            "",
            "| measure | value | × ideal | × emulator's span | client added | target |",
            "|---|---:|---:|---:|---:|---:|",
            _batch_row("run_batch_async, one thread", "run_batch_async", f, "≤ 1.10× ideal"),
            _batch_row("run_batch (threads)", "run_batch", f, "—"),
            f"| {f['gathered_edits']} edit_async gathered | {f['gathered_edit_async_s']:.2f} s |"
            f" {f['gathered_over_one']:.2f}× one edit ({f['one_edit_s']:.2f} s) | — | — |"
            " ≤ 1.30× one |",
            f"| import kling_nb (CPU) | {f['import_kling_nb_cpu_s'] * 1000:.1f} ms |"
            f" {f['import_ratio']:.3f}× import fal_client"
            f" ({f['import_fal_client_cpu_s'] * 1000:.0f} ms) | — | — | ≤ 1.30× |",
        ]
    )


def _batch_row(label: str, key: str, f: dict[str, Any], target: str) -> str:
    return (
        f"| {label} | {f[f'{key}_s']:.2f} s | {f[f'{key}_over_ideal']:.2f}× |"
        f" {f[f'{key}_over_span']:.2f}× ({f[f'{key}_server_span_s']:.2f} s) |"
        f" {f[f'{key}_client_overhead_s']:.2f} s | {target} |"
    )


def main(argv: list[str] | None = None) -> int:
    return standalone.main("async", __doc__, run, table, argv, "a few small jobs, for smoke runs")


if __name__ == "__main__":
    sys.exit(main())
