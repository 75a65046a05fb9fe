"""How long a wait overruns its deadline when the server hangs or dies (issue 10).

A real fal_client and kling_nb against the quirk server of `tests/quirks.py` on loopback:
(a) `hung`: the submit is accepted, then every status, stream and cancel call hangs;
(b) `killed`: the server answers "in progress" and is killed one second into the wait.
For `timeout` 2, 3 and 8 s, measured: elapsed − timeout, median of 3 waits. Target: ≤ 2 s.

    python benchmarks/bench_deadline.py            # timeouts 2, 3 and 8 s (about 1.5 min)
    python benchmarks/bench_deadline.py --quick    # timeouts 2 and 3 s (about 40 s)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kling_nb  # noqa: E402
from kling_nb import KlingError  # noqa: E402
from kling_nb._job import Job  # noqa: E402
from kling_nb._wire import ENDPOINT  # noqa: E402
from tests.quirks import Quirks, quirk_server  # noqa: E402

TARGET_S = 2.0
REPEATS = 3
KILL_AFTER = 1.0  # s into the wait, for the killed server
ARGS = {"prompt": "make it snow", "image_urls": ["https://x.example/a.jpg"]}
CASES = {
    "hung": {"stream": "hang", "hang": True},
    "killed": {"polls_before_done": 10**9},
}


def overrun(case: str, timeout: float, folder: Path) -> tuple[float, str]:
    """Seconds one wait ran past `timeout`, and the first line of what it raised."""
    with quirk_server(folder / "tls", Quirks(**CASES[case])) as server:  # type: ignore[arg-type]
        env = {
            "FAL_QUEUE_RUN_HOST": server.host,
            "FAL_KEY": "bench-key",
            "SSL_CERT_FILE": server.ca_bundle,
            "KLING_NB_HOME": str(folder / "home"),
        }
        conn = kling_nb.connect(env=env, quiet=True)
        job = Job.send(conn, ENDPOINT, dict(ARGS))
        killer = threading.Timer(KILL_AFTER, server.kill) if case == "killed" else None
        started = time.monotonic()
        if killer is not None:
            killer.start()
        try:
            job.wait(timeout=timeout, progress=False)
            said = "returned"
        except KlingError as exc:
            said = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        elapsed = time.monotonic() - started
        if killer is not None:
            killer.join()
    return elapsed - timeout, said


def run(quick: bool = False) -> dict[str, Any]:
    """Median overrun in s for each (case, timeout), with what the wait said."""
    timeouts = (2.0, 3.0) if quick else (2.0, 3.0, 8.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            for timeout in timeouts:
                runs = [
                    overrun(case, timeout, Path(tmp) / f"{case}-{timeout}-{n}")
                    for n in range(REPEATS)
                ]
                rows.append(
                    {
                        "case": case,
                        "timeout_s": timeout,
                        "overrun_s": statistics.median(r[0] for r in runs),
                        "worst_s": max(r[0] for r in runs),
                        "said": runs[-1][1],
                    }
                )
    return {"target_s": TARGET_S, "repeats": REPEATS, "rows": rows}


def table(result: dict[str, Any]) -> str:
    """The results as a Markdown table, with the target."""
    lines = [
        "| server | timeout s | overrun s (median) | worst s | target | ok |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for row in result["rows"]:
        ok = "yes" if row["worst_s"] <= result["target_s"] else "**no**"
        lines.append(
            f"| {row['case']} | {row['timeout_s']:.0f} | {row['overrun_s']:.2f} |"
            f" {row['worst_s']:.2f} | ≤ {result['target_s']:.0f} | {ok} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="timeouts 2 and 3 s only")
    parser.add_argument("--json", action="store_true", help="print the raw result too")
    ns = parser.parse_args()
    outcome = run(ns.quick)
    print(table(outcome))
    if ns.json:
        print(json.dumps(outcome, indent=2))
    for row in outcome["rows"]:
        print(f"{row['case']} {row['timeout_s']:.0f}s: {row['said']}")
