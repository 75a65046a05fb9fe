"""Run every benchmark in one go and write `benchmarks/REPORT.md` and `benchmarks/report.png`.

    python benchmarks/report.py            # full run (about 6 minutes on 2 cores)
    python benchmarks/report.py --quick    # smaller samples, for a smoke run

Every ratio is measured in the same run as what it compares against. The panel timings
come from the browser test (`tests/browser`), which writes `benchmarks/results/panel.json`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def import_time(repeats: int = 7) -> dict[str, float]:
    """Median seconds `import kling_nb` takes inside a fresh interpreter, and a bare start.

    Timed around the import statement itself: the difference of two whole-process timings is
    smaller than their noise once the package imports lazily.
    """
    code = "import time; t = time.perf_counter(); import kling_nb; print(time.perf_counter() - t)"
    runs, bare = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True
        )
        runs.append(float(out.stdout))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=ROOT)
        bare.append(time.perf_counter() - start)
    return {"import_kling_nb_s": statistics.median(runs), "bare_python_s": statistics.median(bare)}


def notebook_sizes() -> list[dict[str, Any]]:
    """Bytes per result picture in each committed notebook."""
    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        pictures = sum(
            1
            for cell in nb["cells"]
            for out in cell.get("outputs", [])
            for mime in out.get("data", {})
            if mime.startswith("image/")
        )
        size = path.stat().st_size
        rows.append(
            {
                "notebook": path.name,
                "bytes": size,
                "pictures": pictures,
                "bytes_per_picture": size / pictures if pictures else None,
            }
        )
    return rows


def panel_timings() -> dict[str, Any] | None:
    path = HERE / "results" / "panel.json"
    return json.loads(path.read_text()) if path.exists() else None


def run(quick: bool) -> dict[str, Any]:
    """Every benchmark; the modules are imported one by one so a missing one is reported."""
    results: dict[str, Any] = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "quick": quick,
    }
    for name in (
        "bench_tasks",
        "bench_batch",
        "bench_emulator",
        "bench_render",
        "bench_money",
        "bench_replay",
        "bench_async",
        "bench_deadline",
        "bench_loop",
        "bench_region",
        "bench_classroom",
        "bench_emulator_limits",
    ):
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ImportError as exc:
            results[name] = {"missing": str(exc)}
            continue
        start = time.perf_counter()
        results[name] = {"result": module.run(quick=quick), "seconds": time.perf_counter() - start}
        results[name]["table"] = module.table(results[name]["result"])
    results["import"] = import_time()
    results["notebooks"] = notebook_sizes()
    results["panel"] = panel_timings()
    return results


def headline(results: dict[str, Any]) -> list[str]:
    """The ratios README quotes."""
    lines = []
    tasks = results.get("bench_tasks", {}).get("result")
    if tasks:
        for length, part in tasks.items():
            lines.append(
                f"- {length} jobs: kling_nb adds **{part['latency_ratio_vs_guide']:.3f}×** the "
                f"guide helper's latency and makes **{part['requests_ratio_vs_subscribe']:.3f}×** "
                f"the status requests of `fal_client.subscribe`."
            )
    batch = results.get("bench_batch", {}).get("result")
    if batch and "speedup" in batch:
        lines.append(
            f"- 20 jobs of 2 s on 5 workers: `run_batch` is **{batch['speedup']:.1f}×** faster "
            f"than the guide's helper in a loop, **{batch['batch_over_ideal']:.2f}×** the "
            "ideal time."
        )
    replay = results.get("bench_replay", {}).get("result")
    if replay:
        second = replay["second"]["kling_nb"]
        lines.append(
            f"- Run All a second time: kling_nb's cells make **{second['submits']}** submits "
            f"({second['billed_images']} billed images) in "
            f"**{replay['kling_nb_time_ratio']:.2f}×** the first run's time."
        )
    aio = results.get("bench_async", {}).get("result")
    if aio:
        lines.append(
            "- 100 jobs × 2 s on 20 workers: `run_batch_async` "
            f"**{aio['run_batch_async_over_span']:.2f}×**"
            f" the emulator's own span ({aio['run_batch_async_over_ideal']:.2f}× ideal: the"
            f" emulator's rendering on {results['cpus']} CPUs sets the pace); 5 gathered"
            f" `edit_async` **{aio['gathered_over_one']:.2f}×** one edit; `import kling_nb`"
            f" **{aio['import_ratio']:.3f}×** `import fal_client` in CPU."
        )
    late = results.get("bench_deadline", {}).get("result")
    if late and late.get("rows"):
        worst = max(row["worst_s"] for row in late["rows"])
        lines.append(f"- A wait overruns its deadline by at most **{worst:.2f} s** (target ≤ 2 s).")
    imp = results.get("import")
    if imp:
        lines.append(f"- `import kling_nb`: **{imp['import_kling_nb_s'] * 1000:.1f} ms**.")
    return lines


def markdown(results: dict[str, Any]) -> str:
    out = [
        "# kling_nb benchmark report",
        "",
        f"Measured {results['measured_at']} on {results['cpus']} CPUs"
        + (" (quick run: small samples)." if results["quick"] else "."),
        "Regenerate: `python benchmarks/report.py`.",
        "",
        "## Headline",
        "",
        *headline(results),
        "",
    ]
    titles = {
        "bench_tasks": "Waiting for a job (guide helper vs fal_client.subscribe vs kling_nb)",
        "bench_batch": "Batch: run_batch vs the guide's helper in a loop",
        "bench_emulator": "Emulator: status polls with 200 jobs in flight",
        "bench_render": "Emulator renderer: seconds per render",
        "bench_money": "Replay lookup in a 10,000-row journal",
        "bench_replay": "Run All twice: the Chinese tutorial, second run against the first",
        "bench_async": "Async: run_batch_async and gathered edit_async; import cost",
        "bench_deadline": "Deadlines: how far a wait overruns its timeout (hung or killed server)",
        "bench_loop": "Journal writes on the event loop, 8 gathered edit_async",
        "bench_region": "Region edits: exactness, paste-back, drift meter, resolution gained",
        "bench_classroom": "Classroom gateway: added latency, 60 students at once, memory",
        "bench_emulator_limits": "Emulator under hostile bodies and data-URI results: peak memory",
    }
    for key, title in titles.items():
        part = results.get(key, {})
        out += [f"## {title}", ""]
        out += [part["table"], ""] if "table" in part else [f"Not run: {part.get('missing')}", ""]
    out += ["## Panel (from the browser test)", ""]
    panel = results.get("panel")
    if panel:
        out += [
            "| measure | seconds | target |",
            "|---|---:|---:|",
            f"| panel render after kernel ready | {panel['panel_render_s']:.3f} "
            f"| ≤ {panel['targets']['panel_render_s']} |",
            f"| Run click → images in gallery ({panel['service_time_s']:g} s job) "
            f"| {panel['run_to_gallery_s']:.3f} | ≤ {panel['targets']['run_to_gallery_s']} |",
            "",
            f"Measured {panel.get('measured_at', '?')}; {panel.get('how', '')}.",
            "",
        ]
    else:
        out += ["Not measured yet: run `pytest tests/browser`.", ""]
    out += [
        "## Notebooks: size per picture output",
        "",
        "Each picture output is a contact sheet of one or more result images (at most 80 KB",
        "of JPEG per image); the notebook size also counts text, code and widget state.",
        "",
        "| notebook | KB | picture outputs | KB per output |",
        "|---|---:|---:|---:|",
    ]
    for row in results.get("notebooks", []):
        per = f"{row['bytes_per_picture'] / 1024:.0f}" if row["bytes_per_picture"] else "–"
        out.append(f"| {row['notebook']} | {row['bytes'] / 1024:.0f} | {row['pictures']} | {per} |")
    imp = results["import"]
    out += [
        "",
        "## Import time",
        "",
        f"`import kling_nb`: {imp['import_kling_nb_s'] * 1000:.1f} ms, timed around the import in a"
        f" fresh interpreter (a bare interpreter starts in {imp['bare_python_s'] * 1000:.0f} ms;"
        " median of 7).",
        "",
    ]
    return "\n".join(out)


def plot(results: dict[str, Any], target: Path) -> bool:
    """Added latency and status requests per job, per method and job length."""
    tasks = results.get("bench_tasks", {}).get("result")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    if not tasks:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    lengths = list(tasks)
    methods = list(tasks[lengths[0]]["methods"])
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = [j + i * width for j in range(len(lengths))]
        lat = [tasks[n]["methods"][method]["median_added_latency_s"] * 1000 for n in lengths]
        req = [tasks[n]["methods"][method]["status_requests_per_job"] for n in lengths]
        left.bar(xs, lat, width, label=method)
        right.bar(xs, req, width, label=method)
    for ax, title in (
        (left, "median added latency (ms, log)"),
        (right, "status requests per job (log)"),
    ):
        ax.set_xticks(
            [j + 0.4 - width / 2 for j in range(len(lengths))], [f"{n} job" for n in lengths]
        )
        ax.set_title(title)
        ax.set_yscale("log")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument(
        "--from-json", action="store_true", help="rewrite REPORT.md from results/report.json"
    )
    args = parser.parse_args()
    saved = HERE / "results" / "report.json"
    if args.from_json:
        results = json.loads(saved.read_text())
    else:
        results = run(args.quick)
        saved.parent.mkdir(exist_ok=True)
        saved.write_text(json.dumps(results, indent=2, default=str))
    text = markdown(results)
    if plot(results, HERE / "report.png"):
        text += "\n![added latency and status requests](report.png)\n"
    (HERE / "REPORT.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
