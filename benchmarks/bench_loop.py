"""Journal writes on the event loop during concurrent `edit_async` calls (issue 21 §3).

Eight `edit_async` edits gathered on one loop against the emulator (in this process); every
journal write (`Journal._update`, the one writer) is timed and attributed to the thread that
made it. Before the engine became sans-IO (journal steps as actions the async driver performs
off the loop), 28 of 52 writes ran on the loop, the worst for 13.6 ms (the issue's figures).
Target: 0 on the loop.

    python benchmarks/bench_loop.py            # 8 edits, 3 rounds
    python benchmarks/bench_loop.py --quick    # 8 edits, 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kling_nb  # noqa: E402
from kling_nb import emulator  # noqa: E402
from kling_nb._journal import Journal  # noqa: E402

EDITS = 8


def one_round(conn: kling_nb.Connection, round_: int) -> dict[str, Any]:
    """Gather EDITS edits; every journal write with its thread and duration."""
    writes: list[tuple[bool, float]] = []
    real = Journal._update
    loop_thread: list[threading.Thread] = []

    def timed(self: Journal, *args: Any, **kwargs: Any) -> bool:
        started = time.perf_counter()
        try:
            return real(self, *args, **kwargs)
        finally:
            on_loop = bool(loop_thread) and threading.current_thread() is loop_thread[0]
            writes.append((on_loop, (time.perf_counter() - started) * 1000))

    async def main() -> None:
        loop_thread.append(threading.current_thread())
        picture = kling_nb.sample_image("cat.jpg")
        await asyncio.gather(
            *(
                kling_nb.edit_async(
                    f"watercolor {round_}-{i} of <<<image_1>>>",
                    picture,
                    progress=False,
                    connection=conn,
                    fresh=True,
                )
                for i in range(EDITS)
            )
        )

    Journal._update = timed  # type: ignore[method-assign]
    try:
        asyncio.run(main())
    finally:
        Journal._update = real  # type: ignore[method-assign]
    on_loop = [ms for flag, ms in writes if flag]
    return {
        "writes": len(writes),
        "on_loop": len(on_loop),
        "worst_on_loop_ms": round(max(on_loop), 2) if on_loop else 0.0,
        "worst_ms": round(max(ms for _, ms in writes), 2),
    }


def run(quick: bool = False) -> dict[str, Any]:
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp, emulator.start(service_time=0.3, workers=4) as emu:
        env = {
            "FAL_QUEUE_RUN_HOST": emu.host,
            "FAL_KEY": "bench-key",
            "SSL_CERT_FILE": emu.ca_bundle,
            "KLING_NB_HOME": str(Path(tmp) / "home"),
            "KLING_NB_PROFILE": "plain",
        }
        conn = kling_nb.connect(env=env, quiet=True)
        results = [one_round(conn, r) for r in range(rounds)]
    return {
        "edits": EDITS,
        "rounds": results,
        "writes": sum(r["writes"] for r in results),
        "on_loop": sum(r["on_loop"] for r in results),
        "before": {"writes": 52, "on_loop": 28, "worst_on_loop_ms": 13.6},
    }


def table(result: dict[str, Any]) -> str:
    rows = ["| | journal writes | on the event loop | worst on the loop |", "|---|---:|---:|---:|"]
    before = result["before"]
    rows.append(
        f"| before (issue 21) | {before['writes']} | {before['on_loop']} | "
        f"{before['worst_on_loop_ms']} ms |"
    )
    for n, r in enumerate(result["rounds"], 1):
        rows.append(
            f"| now, round {n} | {r['writes']} | {r['on_loop']} | {r['worst_on_loop_ms']} ms |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    outcome = run(quick=parser.parse_args().quick)
    out = Path(__file__).parent / "results" / "loop.json"
    out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(table(outcome))
