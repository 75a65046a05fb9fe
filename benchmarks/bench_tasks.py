"""Waiting for a job: the guide's helper vs fal_client.subscribe vs kling_nb.run_fal_task.

For jobs of about 3 s and 20 s (±30 %, seeded, as real jobs vary) on an emulator in its own
process, in one run and side by side (the three methods run concurrently, a worker each):
- added latency: result in hand minus the emulator's `completed_at` for that request;
- status requests per job: polls plus status streams opened, from the emulator's stats.
Targets (issue 3): median added latency ≤ 1/20 of the guide helper's, status requests
≤ 1/10 of subscribe's.

    python benchmarks/bench_tasks.py            # 8 jobs of 3 s and 4 of 20 s per method
    python benchmarks/bench_tasks.py --quick    # 2 and 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fal_client  # noqa: E402

import kling_nb  # noqa: E402
from benchmarks.emulator_process import emulator_process  # noqa: E402
from benchmarks.guide import load as load_guide_helper  # noqa: E402

ENDPOINT = "fal-ai/kling-image/o1"
GUIDE_URL = "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"


def methods() -> dict[str, Callable[[dict[str, Any]], str]]:
    """Each runs one job to its result and returns the request id."""
    guide = load_guide_helper(quiet=True)

    def via_guide(arguments: dict[str, Any]) -> str:
        return _id_of(guide(ENDPOINT, arguments))

    def via_subscribe(arguments: dict[str, Any]) -> str:
        ids: list[str] = []
        fal_client.subscribe(ENDPOINT, arguments, on_enqueue=ids.append)
        return ids[0]

    def via_kling_nb(arguments: dict[str, Any]) -> str:
        return _id_of(kling_nb.run_fal_task(ENDPOINT, arguments, progress=False, fresh=True))

    return {
        "guide helper (5 s polls)": via_guide,
        "fal_client.subscribe": via_subscribe,
        "kling_nb.run_fal_task": via_kling_nb,
    }


def _id_of(output: dict[str, Any]) -> str:
    # The emulator names result files under /files/<request id>/.
    return output["images"][0]["url"].split("/files/")[1].split("/")[0]


def measure(service_time: float, jobs: int) -> dict[str, dict[str, float]]:
    """Run `jobs` sequential jobs per method, the methods concurrently; one emulator."""
    with emulator_process(service_time=service_time, workers=3, service_jitter=0.3) as emu:
        os.environ.update(emu.env, FAL_KEY="bench-key")
        kling_nb.connect(env=os.environ, quiet=True)  # points kling_nb and fal_client at emu
        arguments = {"prompt": "将这张图片转换为油画风格", "image_urls": [GUIDE_URL]}
        done: dict[str, list[tuple[str, float]]] = {}

        def worker(name: str, run: Callable[[dict[str, Any]], str]) -> None:
            done[name] = []
            for _ in range(jobs):
                request_id = run(arguments)
                done[name].append((request_id, time.time()))

        threads = [threading.Thread(target=worker, args=item) for item in methods().items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        facts = emu.stats()["requests"]
    table = {}
    for name, runs in done.items():
        latency = [t - float(facts[rid]["completed_at"]) for rid, t in runs]
        requests = [
            facts[rid]["status_polls"] + facts[rid].get("status_streams", 0) for rid, _ in runs
        ]
        table[name] = {
            "median_added_latency_s": statistics.median(latency),
            "max_added_latency_s": max(latency),
            "status_requests_per_job": statistics.mean(requests),
        }
    return table


def run(quick: bool = False) -> dict[str, Any]:
    """Both job lengths; returns the figures and the two ratios per length."""
    os.environ.setdefault("KLING_NB_HOME", tempfile.mkdtemp(prefix="kling_bench_"))
    for name in ("QINIU_API_KEY", "FAL_KEY", "FAL_QUEUE_RUN_HOST"):
        os.environ.pop(name, None)
    report: dict[str, Any] = {}
    for seconds, jobs in ((3.0, 2 if quick else 8), (20.0, 1 if quick else 4)):
        table = measure(seconds, jobs)
        ours = table["kling_nb.run_fal_task"]
        guide = table["guide helper (5 s polls)"]
        sub = table["fal_client.subscribe"]
        report[f"{seconds:g}s"] = {
            "jobs_per_method": jobs,
            "methods": table,
            "latency_ratio_vs_guide": ours["median_added_latency_s"]
            / guide["median_added_latency_s"],
            "requests_ratio_vs_subscribe": ours["status_requests_per_job"]
            / sub["status_requests_per_job"],
        }
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        "| job | method | median added latency | max | status requests / job |",
        "|---|---|---|---|---|",
    ]
    for length, part in report.items():
        for name, row in part["methods"].items():
            lines.append(
                f"| {length} | {name} | {row['median_added_latency_s'] * 1000:.0f} ms"
                f" | {row['max_added_latency_s'] * 1000:.0f} ms"
                f" | {row['status_requests_per_job']:.1f} |"
            )
    lines.append("")
    for length, part in report.items():
        lines.append(
            f"- {length} jobs: kling_nb latency = {part['latency_ratio_vs_guide']:.3f} × guide's "
            f"(target ≤ 0.05); status requests = {part['requests_ratio_vs_subscribe']:.3f} × "
            f"subscribe's (target ≤ 0.10)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    print(table(run(quick=parser.parse_args().quick)))
