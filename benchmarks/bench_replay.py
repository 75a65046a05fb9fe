"""Run All twice: the Chinese tutorial, top to bottom, two times in one KLING_NB_HOME.

The notebook runs in fresh kernels (nbclient), offline like `notebooks/regenerate.py`,
against an emulator in its own process reached the way a user with a key reaches a
service (`FAL_QUEUE_RUN_HOST` + `FAL_KEY`), so the journal and replays apply. Each cell's
wall time, submits and billed images (the emulator's `billed_images` per request) are
measured, per kind:

- `guide`: the guide's own `fal_client` cells, which bypass kling_nb and pay every time;
- `kling_nb`: `kling_nb.edit` / `run_fal_task` cells, replayed the second time;
- `kling_nb_new`: `Job.submit` and the panel's Run, which make a new job by design.

Targets (issue 13): the second run's `kling_nb` cells make 0 submits and 0 billed images,
in at most 0.3× the first run's time. The replay lookup in a 10,000-row journal is
`bench_money.py`'s.

    python benchmarks/bench_replay.py            # two runs at the emulator's default pace
    python benchmarks/bench_replay.py --quick    # the same (the notebook fixes the work)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.emulator_process import EmulatorProcess, emulator_process  # noqa: E402
from notebooks.regenerate import offline_env, patched_environ  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "kling_o1_image.ipynb"
KINDS = ("guide", "kling_nb", "kling_nb_new")
TARGET_RATIO = 0.3
SETTLE = 20.0  # s for jobs still running after the last cell (Job.submit's) to finish
_GUIDE_HELPER = re.compile(r"(?<![\w.])run_fal_task\(")  # the guide's own function


def kind_of(source: str) -> str:
    """Which kind of cell this is, by what it calls."""
    if "fal_client." in source or _GUIDE_HELPER.search(source):
        return "guide"
    if "Job.submit" in source or "panel.run" in source:
        return "kling_nb_new"
    return "kling_nb"


def billed_images(facts: dict[str, Any]) -> int:
    """What the emulator billed for one request."""
    return int(facts.get("billed_images") or 0)


def run_notebook(emu: EmulatorProcess, home: Path, folder: Path) -> list[dict[str, Any]]:
    """Execute the notebook once, cell by cell: each code cell's kind, seconds and the
    request ids it submitted."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = offline_env(home)
    env.update({"KLING_NB_BACKEND": None, "FAL_KEY": "kling-nb-bench-key", **emu.env})
    seen = set(emu.stats().get("requests", {}))
    cells = []
    with patched_environ(env):
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        )
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                started = time.perf_counter()
                client.execute_cell(cell, index)
                seconds = time.perf_counter() - started
                new = set(emu.stats().get("requests", {})) - seen
                seen |= new
                cells.append({"index": index, "kind": kind_of(cell.source), "seconds": seconds,
                              "requests": sorted(new)})  # fmt: skip
    return cells


def totals(cells: list[dict[str, Any]], requests: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per kind: seconds, submits and billed images (each request billed to its cell)."""
    out = {kind: {"seconds": 0.0, "submits": 0, "billed_images": 0} for kind in KINDS}
    for cell in cells:
        part = out[cell["kind"]]
        part["seconds"] += cell["seconds"]
        part["submits"] += len(cell["requests"])
        part["billed_images"] += sum(billed_images(requests[r]) for r in cell["requests"])
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Two runs of the tutorial sharing one home; the second's figures against the first's."""
    del quick  # the notebook fixes the work: a quick run is the same run
    home = Path(tempfile.mkdtemp(prefix="kling_nb_bench_replay_"))
    folder = home / "notebook"
    folder.mkdir()
    try:
        with emulator_process(workers=4) as emu:  # the default service time, as the tutorial
            first = run_notebook(emu, home / "kling_nb", folder)
            second = run_notebook(emu, home / "kling_nb", folder)
            time.sleep(SETTLE)  # let the last jobs finish, so their images are counted
            requests = emu.stats()["requests"]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    # The cells that paid in the first run and are replayed in the second: the target's cells.
    paid = [c["index"] for c in first if c["kind"] == "kling_nb" and c["requests"]]
    before = sum(c["seconds"] for c in first if c["index"] in paid)
    after = sum(c["seconds"] for c in second if c["index"] in paid)
    result = {"first": totals(first, requests), "second": totals(second, requests)}
    ratio = after / max(before, 1e-9)
    all_ratio = result["second"]["kling_nb"]["seconds"] / max(
        result["first"]["kling_nb"]["seconds"], 1e-9
    )
    met = (
        result["second"]["kling_nb"]["submits"] == 0
        and result["second"]["kling_nb"]["billed_images"] == 0
        and ratio <= TARGET_RATIO
    )
    return {
        **result,
        "paid_cells": paid,
        "paid_cells_seconds": [before, after],
        "kling_nb_time_ratio": ratio,
        "all_kling_nb_cells_time_ratio": all_ratio,
        "target_met": met,
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        "| cells | run | seconds | submits | billed images |",
        "|---|---|---:|---:|---:|",
    ]
    for kind in KINDS:
        for run_name in ("first", "second"):
            part = results[run_name][kind]
            lines.append(
                f"| {kind} | {run_name} | {part['seconds']:.1f} | {part['submits']} "
                f"| {part['billed_images']} |"
            )
    before, after = results["paid_cells_seconds"]
    lines += [
        "",
        f"kling_nb cells that paid in the first run ({len(results['paid_cells'])}): "
        f"{before:.1f} s, then {after:.1f} s replayed: **{results['kling_nb_time_ratio']:.2f}×** "
        f"(target ≤ {TARGET_RATIO}×, 0 submits): target "
        f"{'met' if results['target_met'] else 'NOT met'}. All kling_nb cells, setup, compare "
        f"and save included: {results['all_kling_nb_cells_time_ratio']:.2f}×. "
        "The guide's `fal_client` cells bypass kling_nb and pay again; `Job.submit` and "
        "the panel's Run make a new job by design (the panel replays only with its reuse "
        "box ticked).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same two runs")
    args = parser.parse_args()
    results = run(quick=args.quick)
    print(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
