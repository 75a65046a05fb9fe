"""EditPanel: how soon it appears, how soon a Run shows its images, and what it costs the
kernel's event loop.

1. In a real browser: each repetition runs the browser test (`tests/browser`, headless
   Chromium driving a fresh JupyterLab on loopback), which measures with the page's clock
   - panel render: from the connect line of the first cell (the kernel is ready) to the
     panel's Run button in the page (target ≤ 0.5 s);
   - Run → gallery: from the click on Run to the results heading naming that run (set after
     the pictures), for a 1 s emulator job (1K, one image): the kernel's first run (cold:
     the journal is created, connections opened) and the next one (warm) (target ≤ job + 0.3 s).
2. Without a browser: the live widget models of a panel before and after 100 operations
   (moves, prompt edits, show code, runs, restores, compare, use as input) on an in-process
   emulator (target ≤ 10 % growth, issue 12).
3. The kernel's loop (issue 21): a panel is built on an asyncio loop, as in a kernel, runs
   nine 2K pictures and shows their before/after comparison while a heartbeat on the loop
   notes its longest stall in each step (target ≤ 100 ms: the kernel answers while the panel
   works; building includes the panel's first imports).
   `--baseline REV` measures the same on another revision of kling_nb, beside it.

The medians go to `benchmarks/results/panel.json` (read by report.py).

    python benchmarks/bench_panel.py [--repeat 3] [--widgets-only] [--quick] [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
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
STALL_TARGET_S = 0.1
WIDGET_GROWTH_TARGET = 0.10


def measure_once(target: Path) -> dict[str, Any]:
    """One browser test run; its timings."""
    env = {**os.environ, "KLING_NB_PANEL_TIMINGS": str(target)}
    command = [sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:randomly"]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return dict(json.loads(target.read_text()))


def _photo(color: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def _connected(emu: Any, home: str) -> Any:
    import kling_nb

    env = {
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": "bench-key-0000",
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": home,
    }
    return kling_nb.connect(env=env, quiet=True)


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
        panel = kling_nb.EditPanel(_connected(emu, home))
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
        "target_growth": WIDGET_GROWTH_TARGET,
        "runs": len(panel.history),
    }


def measure_loop(num_images: int = 9) -> dict[str, Any]:
    """The longest stall of a kernel-like loop while a panel runs `num_images` 2K pictures
    and shows their before/after comparison."""
    import kling_nb
    from kling_nb import emulator

    async def session(conn: Any) -> dict[str, Any]:
        stalls: list[float] = []
        beating = True

        async def heartbeat() -> None:
            last = time.perf_counter()
            while beating:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                stalls.append(now - last - 0.005)
                last = now

        beat = asyncio.ensure_future(heartbeat())
        await asyncio.sleep(0)  # the heartbeat is running: building the panel counts
        panel = kling_nb.EditPanel(conn, prompt="<<<image_1>>> as a watercolor")
        panel.add_image(_photo((30, 120, 200), (1600, 1200)))
        panel.resolution, panel.num_images = "2K", num_images
        await asyncio.sleep(0.1)
        during_build = max(stalls, default=0.0)
        stalls.clear()
        started = time.perf_counter()
        await asyncio.wrap_future(panel.run())
        while len(panel.widgets.gallery.children) < num_images:
            await asyncio.sleep(0.005)
        run_s = time.perf_counter() - started
        await asyncio.sleep(0.02)  # the heartbeat notes a stall when it wakes after it
        during_run = max(stalls)
        stalls.clear()
        started = time.perf_counter()
        panel.toggle_compare()
        while panel.widgets.compare_image.layout.display is not None:
            await asyncio.sleep(0.005)
        compare_s = time.perf_counter() - started
        await asyncio.sleep(0.02)
        during_compare = max(stalls)
        beating = False
        await beat
        return {
            "build_stall_s": round(during_build, 4),
            "run_stall_s": round(during_run, 4),
            "compare_stall_s": round(during_compare, 4),
            "run_to_gallery_s": round(run_s, 3),
            "compare_ready_s": round(compare_s, 3),
        }

    with tempfile.TemporaryDirectory() as home, emulator.start(service_time=0.05) as emu:
        figures = asyncio.run(session(_connected(emu, home)))
    return {"images": num_images, "resolution": "2K", **figures, "target_s": STALL_TARGET_S}


def measure_loop_at(revision: str, num_images: int) -> dict[str, Any]:
    """`measure_loop` on another revision of kling_nb (its package, this benchmark)."""
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "archive", revision, "kling_nb"], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": folder}
        command = [sys.executable, __file__, "--loop-only", str(num_images)]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return {"revision": revision, **json.loads(out.stdout)}


def run(quick: bool = False, repeat: int = 3, baseline: str | None = None) -> dict[str, Any]:
    """Every figure: the widget count, the loop's stalls, then the browser timings."""
    images = 3 if quick else 9
    figures: dict[str, Any] = {
        "widgets": measure_widgets(30 if quick else 100),
        "loop": measure_loop(images),
    }
    if baseline:
        figures["loop_baseline"] = measure_loop_at(baseline, images)
    if repeat:
        runs = []
        with tempfile.TemporaryDirectory() as folder:
            for n in range(1 if quick else repeat):
                runs.append(measure_once(Path(folder) / f"run{n}.json"))
        figures.update({key: statistics.median(r[key] for r in runs) for key in KEYS})
        figures.update(
            service_time_s=runs[0]["service_time_s"],
            targets=runs[0]["targets"],
            how=f"median of {len(runs)} browser runs; {runs[0]['how']}",
            runs=[{key: r[key] for key in KEYS} for r in runs],
        )
    return figures


def _mark(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER"


def table(f: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    rows = ["| measure | value | target | |", "|---|---:|---:|---|"]
    if "panel_render_s" in f:
        t = f["targets"]
        for key, label in (
            ("panel_render_s", "panel render after kernel ready"),
            ("run_to_gallery_s", f"Run click → images in gallery ({f['service_time_s']:g} s job)"),
            ("run_to_gallery_warm_s", "the same, warm"),
        ):
            rows.append(f"| {label} | {f[key]:.3f} s | ≤ {t[key]} s | {_mark(f[key], t[key])} |")
    w = f["widgets"]
    rows.append(
        f"| live widget models after {w['operations']} operations | {w['before']} → "
        f"{w['after']} ({w['growth']:+.1%}) | ≤ +{w['target_growth']:.0%} |"
        f" {_mark(w['growth'], w['target_growth'])} |"
    )
    for key, who in (("loop", "this revision"), ("loop_baseline", "baseline")):
        if key not in f:
            continue
        loop = f[key]
        what = f"{loop['images']} × {loop['resolution']}"
        if key == "loop_baseline":
            who = f"baseline {loop['revision']}"
        parts = (("build", "panel built"), ("run", "Run → gallery"), ("compare", "before/after"))
        for part, label in parts:
            stall = loop[f"{part}_stall_s"]
            rows.append(
                f"| longest loop stall, {label} ({what}; {who}) | {stall * 1000:.0f} ms |"
                f" ≤ {STALL_TARGET_S * 1000:.0f} ms | {_mark(stall, STALL_TARGET_S)} |"
            )
    return "\n".join(rows)


def _save(summary: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**kept, **summary}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="browser runs (default 3)")
    parser.add_argument("--widgets-only", action="store_true", help="skip the browser runs")
    parser.add_argument("--quick", action="store_true", help="small samples, one browser run")
    parser.add_argument("--baseline", help="also measure the loop on this git revision")
    parser.add_argument("--loop-only", type=int, metavar="IMAGES", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_only:  # the baseline's subprocess: one figure, as JSON
        print(json.dumps(measure_loop(args.loop_only)))
        return
    repeat = 0 if args.widgets_only else args.repeat
    figures = run(args.quick, repeat, args.baseline)
    print(table(figures))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if not args.quick:
        _save({**figures, "measured_at": stamp})
        print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
