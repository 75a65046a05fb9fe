"""EditPanel in a real browser: how soon it appears, and how soon a Run shows its images.

Each repetition runs the browser test (`tests/browser`, headless Chromium driving a fresh
JupyterLab on loopback), which measures with the page's own clock:

- panel render: from the connect line of the first cell (the kernel is ready) to the
  panel's Run button in the page (the `EditPanel()` cell runs, its widgets render);
- Run → gallery: from the click on Run to the results heading naming that run (set after
  the pictures), for a 1 s emulator job (1K, one image): the kernel's first run (cold:
  the journal is created, connections opened) and the next one (warm).

Beside them, without a browser: the live widget models of a panel before and after 100
operations (moves, prompt edits, show code, runs, restores, compare, use as input) on an
in-process emulator; the target is at most 10 % growth (issue 12).

The medians of N repetitions go to `benchmarks/results/panel.json` (read by report.py).

    python benchmarks/bench_panel.py [--repeat 3] [--widgets-only]
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


def _photo(color: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG")
    return out.getvalue()


def _operate(panel: Any, i: int) -> None:
    """Operation number `i` of the widget-count run: the mix of a real session."""
    step = i % 10
    if step < 4:
        panel.move_image(1 + i % 3, 1 + (i + 1) % 3)
    elif step == 4:
        panel.prompt = f"<<<image_1>>> as a watercolor, take {i}"
    elif step == 5:
        panel.toggle_code()
    elif step == 6:
        panel.num_images = 1 + i % 2
    elif step == 7:
        panel.run()
        panel.wait(60)
    elif step == 8:
        panel.restore(1)
    else:
        panel.toggle_compare()


def measure_widgets(operations: int = 100) -> dict[str, Any]:
    """Live widget models of a panel before and after `operations` operations."""
    import kling_nb
    from kling_nb import emulator
    from kling_nb.panel.compat import live_widgets

    with tempfile.TemporaryDirectory() as home, emulator.start(service_time=0.05) as emu:
        env = {
            "FAL_QUEUE_RUN_HOST": emu.host,
            "FAL_KEY": "bench-key-0000",
            "SSL_CERT_FILE": emu.ca_bundle,
            "KLING_NB_HOME": home,
        }
        panel = kling_nb.EditPanel(kling_nb.connect(env=env, quiet=True))
        for color in ((200, 0, 0), (0, 200, 0), (0, 0, 200)):
            panel.add_image(_photo(color))
        panel.prompt = "<<<image_1>>> as a watercolor"
        panel.run()
        panel.wait(60)  # every kind of widget has been shown once
        before = live_widgets()
        for i in range(operations):
            _operate(panel, i)
        after = live_widgets()
    return {
        "operations": operations,
        "before": before,
        "after": after,
        "growth": round(after / before - 1, 4),
        "target_growth": 0.10,
        "runs": len(panel.history),
    }


def _save(summary: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**kept, **summary}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="browser runs (default 3)")
    parser.add_argument("--widgets-only", action="store_true", help="skip the browser runs")
    args = parser.parse_args()
    widgets = measure_widgets()
    mark = "ok" if widgets["growth"] <= widgets["target_growth"] else "OVER"
    print(
        f"live widget models: {widgets['before']} before, {widgets['after']} after "
        f"{widgets['operations']} operations ({widgets['growth']:+.1%}, target ≤ +10%)  {mark}"
    )
    if args.widgets_only:
        _save({"widgets": widgets})
        print(f"written to {RESULTS.relative_to(REPO)}")
        return
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
        widgets=widgets,
    )
    _save(summary)
    print(f"{'measure':<24} {'median':>8} {'max':>8} {'target':>8}")
    for key in KEYS:
        values = [r[key] for r in runs]
        target = summary["targets"][key]
        mark = "ok" if summary[key] <= target else "OVER"
        print(f"{key:<24} {summary[key]:>8.3f} {max(values):>8.3f} {target:>8.2f}  {mark}")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
