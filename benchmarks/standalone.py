"""What a benchmark does when it is run by itself: `--quick` or not, measure, print the
table, and keep the figures in `benchmarks/results/NAME.json` (`NAME_quick.json` for a
quick run, which report.py never reads)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def main(
    name: str,
    doc: str | None,
    run: Callable[[bool], dict[str, Any]],
    table: Callable[[dict[str, Any]], str],
    argv: list[str] | None = None,
    quick_help: str = "small samples, for smoke runs",
) -> int:
    """Parse `argv`, run, print the table, write the figures with when and where measured."""
    parser = argparse.ArgumentParser(description=(doc or name).splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    quick = parser.parse_args(argv).quick
    figures = run(quick)
    print(table(figures))
    out = RESULTS / (f"{name}_quick.json" if quick else f"{name}.json")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = {"measured_at": stamp, "cpus": os.cpu_count(), "quick": quick, **figures}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{os.cpu_count()} CPUs; written to {out.relative_to(RESULTS.parents[1])}")
    return 0
