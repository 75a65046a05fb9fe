"""How fast a replay is found: `find_replay` in a journal of 10,000 rows.

The journal holds 10,000 completed rows of distinct requests (as a busy classroom home
might after months), one of them with two cached pictures on disk. Measured: a hit (the
row is found and its cached files checked, decoding included) and a miss (no row has the
fingerprint), median of many lookups. Target (issue 13): at most 20 ms per lookup.

    python benchmarks/bench_money.py            # 10,000 rows, 200 lookups each
    python benchmarks/bench_money.py --quick    # 10,000 rows, 20 lookups each
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kling_nb._admission import find_replay  # noqa: E402
from kling_nb._journal import journal_for  # noqa: E402

ROWS = 10_000
TARGET_MS = 20.0


def fill(home: Path, rows: int) -> str:
    """A journal of `rows` completed jobs; the fingerprint of the one with cached files."""
    journal = journal_for(home)
    journal.set_budget(None)  # creates the file at the current schema
    cache = home / "cache" / "req-target"
    cache.mkdir(parents=True)
    files = []
    for n in range(2):
        path = cache / f"image_{n + 1}.png"
        Image.merge("RGB", [Image.effect_noise((1024, 1024), 40 + n)] * 3).save(path)
        files.append(str(path))
    now = time.time()
    target = hashlib.sha256(b"target").hexdigest()

    def row(n: int) -> tuple[object, ...]:
        fp = target if n == rows // 2 else hashlib.sha256(str(n).encode()).hexdigest()
        cached = json.dumps(files) if fp == target else "[]"
        result = json.dumps({"images": [{"url": f"https://x/{n}/{i}.png"} for i in range(2)]})
        return ("completed", "fal-ai/kling-image/o1", "fal", "queue.fal.run",
                '{"prompt":"p","num_images":2}', f"req-{n}", now - rows + n, now,
                result, cached, fp, "0.056", "USD")  # fmt: skip

    db = sqlite3.connect(journal.path)
    db.executemany(
        "INSERT INTO jobs (state, endpoint, backend, host, arguments, request_id, created_at,"
        " updated_at, result, cached, fingerprint, cost, currency)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [row(n) for n in range(rows)],
    )
    db.commit()
    db.close()
    return target


def _median_ms(fingerprint: str, home: Path, repeats: int, expect: str) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = find_replay(fingerprint, home=home)
        times.append((time.perf_counter() - start) * 1000)
        assert found.source == expect, found
    return statistics.median(times)


def run(quick: bool = False) -> dict[str, float]:
    """Median milliseconds per lookup: a hit with cached files, and a miss."""
    repeats = 20 if quick else 200
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        target = fill(home, ROWS)
        find_replay(target, home=home)  # warm-up: schema check, connection, page cache
        return {
            "rows": ROWS,
            "hit_ms": _median_ms(target, home, repeats, "cache"),
            "miss_ms": _median_ms("0" * 64, home, repeats, "none"),
        }


def table(results: dict[str, float]) -> str:
    """The results as a Markdown table, with the target."""
    lines = ["| lookup | rows | median ms | target | ok |", "|---|---:|---:|---:|:---:|"]
    for case in ("hit", "miss"):
        ms = results[f"{case}_ms"]
        ok = "yes" if ms <= TARGET_MS else "**no**"
        lines.append(f"| {case} | {results['rows']:,} | {ms:.2f} | ≤ {TARGET_MS:.0f} | {ok} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer lookups")
    print(table(run(quick=parser.parse_args().quick)))
