"""Peak memory of the emulator process for the worst requests one client can send.

Each hostile body is posted to a fresh emulator in its own process and, when accepted, its
job is waited for (the emulator checks inputs when the job runs); the figure is the
process's peak resident set (VmHWM) minus its resident set when idle. Target: < 200 MB.

The last case is not hostile but heavy: `--result-urls data` holding many big results
(12 jobs × 9 images × 2K), whose memory must stay near one copy of each picture and, once
evicted, within `--data-results-max-mb`. `--data-only` runs that case alone.

    python benchmarks/bench_emulator_limits.py [--data-only] [--quick]

The data-results figures go to benchmarks/results/emulator_limits.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.emulator_process import emulator_process  # noqa: E402

MB = 2**20
BODIES = {
    "2,000,000 image_urls (6 MB)": b'{"prompt":"x","image_urls":['
    + b",".join([b'"a"'] * 2_000_000)
    + b"]}",
    "JSON nested 3,000,000 deep (6 MB)": b'{"a":' + b"[" * 3_000_000 + b"]" * 3_000_000 + b"}",
    "one 60 MB data: URI": b'{"prompt":"x","image_urls":["data:image/png;base64,'
    + b"A" * (60 * MB)
    + b'"]}',
    "70 MB body (over the cap)": b'{"prompt":"' + b"x" * (70 * MB) + b'"}',
}


def _memory(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _wait(http: httpx.Client, submitted: httpx.Response, deadline: float = 120.0) -> str:
    """Poll the job to its end; the result's status code (422: refused when it ran)."""
    answer = submitted.json()
    auth = {"Authorization": "Key k"}
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status = http.get(answer["status_url"], params={"logs": 0}, headers=auth).json()
        if status["status"] not in ("IN_QUEUE", "IN_PROGRESS"):
            return str(http.get(answer["response_url"], headers=auth).status_code)
        time.sleep(0.1)
    return "still running"


DATA_JOBS, DATA_IMAGES = 12, 9


def _input_uri() -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((640, 480)).convert("RGB").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def data_results(result_urls: str = "data", jobs: int = DATA_JOBS) -> dict[str, float]:
    """`jobs` jobs of DATA_IMAGES 2K pictures, every result fetched; memory at the peak and
    after, above idle, and what the emulator says it holds as data: URIs (MB). With
    `result_urls="http"` (files on disk) it is the renderer's own share, for comparison."""
    body = {
        "prompt": "watercolor of <<<image_1>>>",
        "image_urls": [_input_uri()],
        "num_images": DATA_IMAGES,
        "resolution": "2K",
    }
    auth = {"Authorization": "Key k"}
    with emulator_process(service_time=0.1, result_urls=result_urls, profile="plain") as emu:
        idle = _memory(emu.process.pid)["VmRSS"]
        with httpx.Client(verify=emu.env["SSL_CERT_FILE"], trust_env=False, timeout=600) as http:
            url = emu.base_url + "/queue/fal-ai/kling-image/o1"
            subs = [http.post(url, json=body, headers=auth).json() for _ in range(jobs)]
            fetched = 0
            for sub in subs:
                while http.get(sub["status_url"], headers=auth).json()["status"] != "COMPLETED":
                    time.sleep(0.2)
                fetched += len(http.get(sub["response_url"], headers=auth).content)
            held = http.get(emu.base_url + "/_emulator/stats").json()["queue"]["data_bytes"]
        memory = _memory(emu.process.pid)
    return {
        "results_fetched_mb": fetched / MB,
        "peak_above_idle_mb": (memory["VmHWM"] - idle) / MB,
        "after_above_idle_mb": (memory["VmRSS"] - idle) / MB,
        "held_mb": held / MB,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The data-results case, with files on disk alongside (quick: 4 jobs, not 12)."""
    jobs = 4 if quick else DATA_JOBS
    return {"jobs": jobs, **{mode: data_results(mode, jobs) for mode in ("http", "data")}}


def table(result: dict[str, Any]) -> str:
    """The data-results figures as a Markdown table (MB)."""
    rows = [
        f"| `--result-urls {mode}`, {result['jobs']} jobs × {DATA_IMAGES} 2K pictures | "
        + " | ".join(f"{result[mode][k]:.0f}" for k in FIGURES)
        + " |"
        for mode in ("http", "data")
    ]
    head = "| case | fetched | peak above idle | after, above idle | held as data: URIs |"
    return "\n".join([head, "|---|---|---|---|---|", *rows])


FIGURES = ("results_fetched_mb", "peak_above_idle_mb", "after_above_idle_mb", "held_mb")


def main() -> int:
    if "--data-only" not in sys.argv:
        hostile()
    result = run(quick="--quick" in sys.argv)
    print(table(result))
    out = ROOT / "benchmarks" / "results" / "emulator_limits.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def hostile() -> None:
    """The hostile bodies, each to a fresh emulator."""
    print("| request | submit, then result | peak above idle |\n|---|---|---|")
    for label, body in BODIES.items():
        with emulator_process(service_time=0.1) as emu:
            idle = _memory(emu.process.pid)["VmRSS"]
            with httpx.Client(verify=emu.env["SSL_CERT_FILE"], trust_env=False) as http:
                answer = http.post(
                    emu.base_url + "/queue/fal-ai/kling-image/o1",
                    content=body,
                    headers={"Authorization": "Key k", "Content-Type": "application/json"},
                    timeout=120,
                )
                ended = _wait(http, answer) if answer.status_code == 200 else answer.status_code
            peak = _memory(emu.process.pid)["VmHWM"]
            shown = f"{answer.status_code}, then {ended}" if answer.status_code == 200 else ended
            print(f"| {label} | {shown} | {(peak - idle) / MB:.0f} MB |")


if __name__ == "__main__":
    sys.exit(main())
