"""Peak memory of the emulator process for the worst requests one client can send.

Each hostile body is posted to a fresh emulator in its own process and, when accepted, its
job is waited for (the emulator checks inputs when the job runs); the figure is the
process's peak resident set (VmHWM) minus its resident set when idle. Target: < 200 MB.

    python benchmarks/bench_emulator_limits.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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


def main() -> int:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
