"""EditPanel in a real browser: how soon it appears, and how soon a Run shows its images.

Each repetition runs the browser test (`tests/browser`, headless Chromium driving a fresh
JupyterLab on loopback), which measures with the page's own clock:

- panel render: from the connect line of the first cell (the kernel is ready) to the
  panel's Run button in the page (the `EditPanel()` cell runs, its widgets render);
- Run → gallery: from the click on Run to the results heading naming that run (set after
  the pictures), for a 1 s emulator job (1K, one image): the kernel's first run (cold:
  the journal is created, connections opened) and the next one (warm).

The medians of N repetitions go to `benchmarks/results/panel.json` (read by report.py).

    python benchmarks/bench_panel.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "panel.json"
KEYS = ("panel_render_s", "run_to_gallery_s", "run_to_gallery_warm_s")


def measure_once(target: Path) -> dict[str, Any]:
    """One browser test run; its timings."""
    env = {**os.environ, "KLING_NB_PANEL_TIMINGS": str(target)}
    command = [sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:randomly"]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return dict(json.loads(target.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="browser runs (default 3)")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.repeat):
            runs.append(measure_once(Path(folder) / f"run{n}.json"))
    summary: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in KEYS}
    summary.update(
        service_time_s=runs[0]["service_time_s"],
        targets=runs[0]["targets"],
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        how=f"median of {len(runs)} browser runs; {runs[0]['how']}",
        runs=[{key: r[key] for key in KEYS} for r in runs],
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'measure':<24} {'median':>8} {'max':>8} {'target':>8}")
    for key in KEYS:
        values = [r[key] for r in runs]
        target = summary["targets"][key]
        mark = "ok" if summary[key] <= target else "OVER"
        print(f"{key:<24} {summary[key]:>8.3f} {max(values):>8.3f} {target:>8.2f}  {mark}")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
