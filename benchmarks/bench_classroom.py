"""The classroom gateway's cost: added time per status request, and a class at once.

1. Status requests, one after another on keep-alive HTTPS, to a job held IN_QUEUE: direct to
   an emulator process, and through a gateway process (`kling-nb classroom serve`) in front
   of that same emulator, interleaved in rounds so both see the same machine. Added time =
   gateway percentile − direct percentile (targets: p50 ≤ 5 ms, p99 ≤ 20 ms).
2. 60 students, each running one `kling_nb.edit_async` at once (their own token, their own
   connection), through a gateway to an emulator, against the same 60 edits sent directly to
   an identical emulator, in alternating rounds; the best wall of each is compared (target:
   ≤ 1.15×), and the gateway's own CPU per job is read from /proc (it does not depend on
   what else the machine runs). The gateway's memory is the peak RSS of its
   process (VmHWM; target ≤ 150 MB); with `--upstream emulator` in-process (a rehearsal, the
   emulator's rendering inside the gateway) it is measured too, for information.

    python benchmarks/bench_classroom.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import standalone  # noqa: E402
from benchmarks.emulator_process import EmulatorProcess, emulator_process  # noqa: E402

APP = "fal-ai/kling-image/o1"
# (status polls per placement, their rounds, students, emulator workers, service time s,
#  rounds of the class at once)
FULL = (3000, 30, 60, 20, 1.0, 3)
QUICK = (300, 6, 12, 6, 0.5, 1)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QINIU_API_KEY", "FAL_KEY")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _add_students(folder: Path, count: int) -> list[str]:
    names = [f"student{i:02d}" for i in range(count)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kling_nb.cli",
            "classroom",
            "add",
            *names,
            "--budget",
            "10",
            "USD",
            "--dir",
            str(folder),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("\t")[1] for line in done.stdout.splitlines()]


@contextmanager
def gateway(folder: Path, *args: str) -> Iterator[tuple[dict[str, str], int]]:
    """`kling-nb classroom serve --port 0 …` in its own process: (student lines, pid)."""
    argv = [
        sys.executable,
        "-m",
        "kling_nb.cli",
        "classroom",
        "serve",
        "--port",
        "0",
        "--dir",
        str(folder),
        *args,
    ]
    sink = subprocess.DEVNULL
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=sink, text=True)
    try:
        assert proc.stdout is not None
        lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        yield lines, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _input() -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.linear_gradient("L").resize((640, 480)).convert("RGB").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# --- 1. added time per status request ------------------------------------------------------------


def status_latency(polls: int, rounds: int) -> dict[str, Any]:
    """Status polls direct and through the gateway, interleaved; percentiles in ms."""
    held = emulator_process(service_time=3600, workers=1)
    with tempfile.TemporaryDirectory() as tmp, held as emu:
        folder = Path(tmp) / "class"
        (token,) = _add_students(folder, 1)
        with gateway(folder, *_in_front_of(emu)) as (lines, _):
            direct_url = _held_job(emu.base_url, emu.env["SSL_CERT_FILE"], "bench")
            via_url = _held_job(
                "https://" + lines["FAL_QUEUE_RUN_HOST"].removesuffix("/queue"),
                lines["SSL_CERT_FILE"],
                token,
            )
            direct = _client(emu.env["SSL_CERT_FILE"], "bench")
            via = _client(lines["SSL_CERT_FILE"], token)
            times: dict[str, list[float]] = {"direct": [], "gateway": []}
            for client, url in ((direct, direct_url), (via, via_url)):
                for _ in range(50):  # warm: TLS, pools, caches
                    client.get(url)
            for _ in range(rounds):
                pairs = (("direct", direct, direct_url), ("gateway", via, via_url))
                for name, client, url in pairs:
                    for _ in range(polls // rounds):
                        start = time.perf_counter()
                        answer = client.get(url, params={"logs": "false"})
                        times[name].append(time.perf_counter() - start)
                        assert answer.status_code == 202, answer.text
    out: dict[str, Any] = {"status_polls": polls}
    for name, samples in times.items():
        ordered = sorted(samples)
        out[f"{name}_p50_ms"] = round(ordered[len(ordered) // 2] * 1000, 2)
        out[f"{name}_p99_ms"] = round(ordered[int(len(ordered) * 0.99)] * 1000, 2)
        out[f"{name}_mean_ms"] = round(statistics.fmean(samples) * 1000, 2)
    out["added_p50_ms"] = round(out["gateway_p50_ms"] - out["direct_p50_ms"], 2)
    out["added_p99_ms"] = round(out["gateway_p99_ms"] - out["direct_p99_ms"], 2)
    return out


def _client(bundle: str, key: str) -> httpx.Client:
    trust = ssl.create_default_context(cafile=bundle)
    return httpx.Client(verify=trust, headers={"Authorization": f"Key {key}"}, trust_env=False)


def _held_job(base: str, bundle: str, key: str) -> str:
    """A job that stays IN_QUEUE behind one that never ends: its status URL."""
    body = {"prompt": "turn <<<image_1>>> into ink", "image_urls": [_input()]}
    with _client(bundle, key) as client:
        client.post(f"{base}/queue/{APP}", json=body).raise_for_status()  # occupies the worker
        answer = client.post(f"{base}/queue/{APP}", json=body)
        answer.raise_for_status()
        return str(answer.json()["status_url"])


# --- 2. a class at once --------------------------------------------------------------------------


async def _class_at_once(connections: list[Any]) -> float:
    """Wall seconds for one edit per connection, all at once."""
    import kling_nb

    async def one(i: int, conn: Any) -> None:
        result = await kling_nb.edit_async(
            f"turn <<<image_1>>> into a watercolor, version {i}",
            kling_nb.sample_image("cat.jpg"),
            connection=conn,
            progress=False,
            fresh=True,
        )
        assert result.images

    start = time.perf_counter()
    await asyncio.gather(*(one(i, c) for i, c in enumerate(connections)))
    return time.perf_counter() - start


def class_at_once(students: int, workers: int, service: float, rounds: int) -> dict[str, Any]:
    """The same edits direct and through a gateway, each time to a fresh, identical emulator,
    in alternating rounds (this machine is shared: the best of each is compared)."""
    options = {"service_time": service, "workers": workers, "seed": 1}
    direct: list[float] = []
    via: list[float] = []
    rss: list[float] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            home = Path(tmp) / f"home{r}"
            order = ("direct", "gateway") if r % 2 == 0 else ("gateway", "direct")
            for placement in order:
                with emulator_process(**options) as emu:
                    if placement == "direct":
                        conns = [_direct(emu, f"s{i}", home / "direct") for i in range(students)]
                        direct.append(asyncio.run(_class_at_once(conns)))
                        continue
                    folder = Path(tmp) / f"class{r}"
                    tokens = _add_students(folder, students)
                    with gateway(folder, *_in_front_of(emu)) as (lines, pid):
                        conns = [_joined(lines, t, home / "via") for t in tokens]
                        before = _cpu_seconds(pid)
                        via.append(asyncio.run(_class_at_once(conns)))
                        cpu.append(_cpu_seconds(pid) - before)
                        rss.append(peak_rss_mb(pid))
        inproc, rss_inproc = _in_process_emulator(Path(tmp), students, workers, service)
    return {
        "students": students,
        "emulator_workers": workers,
        "service_time_s": service,
        "rounds": rounds,
        "direct_walls_s": [round(x, 2) for x in direct],
        "gateway_walls_s": [round(x, 2) for x in via],
        "direct_wall_s": round(min(direct), 2),
        "gateway_wall_s": round(min(via), 2),
        "wall_ratio": round(min(via) / min(direct), 3),
        "gateway_cpu_ms_per_job": round(min(cpu) / students * 1000, 1),
        "gateway_peak_rss_mb": round(max(rss), 1),
        "inprocess_emulator_wall_s": round(inproc, 2),
        "inprocess_emulator_peak_rss_mb": round(rss_inproc, 1),
    }


def _in_process_emulator(
    tmp: Path, students: int, workers: int, service: float
) -> tuple[float, float]:
    """The class once more, with `--upstream emulator` inside the gateway (a rehearsal)."""
    folder = tmp / "class_inproc"
    tokens = _add_students(folder, students)
    args = ("--upstream", "emulator", "--workers", str(workers), "--service-time", str(service))
    with gateway(folder, *args) as (lines, pid):
        conns = [_joined(lines, t, tmp / "home_inproc") for t in tokens]
        wall = asyncio.run(_class_at_once(conns))
        return wall, peak_rss_mb(pid)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _in_front_of(emu: EmulatorProcess) -> tuple[str, ...]:
    """`serve` options for a gateway in front of an emulator already running."""
    return (
        "--upstream",
        "emulator",
        "--upstream-host",
        emu.env["FAL_QUEUE_RUN_HOST"],
        "--upstream-ca",
        emu.env["SSL_CERT_FILE"],
    )


def _joined(lines: dict[str, str], token: str, home: Path) -> Any:
    """A student's connection to the gateway, as `kling_nb.connect(classroom=…)` makes it."""
    import kling_nb

    return kling_nb.connect(
        classroom=lines["FAL_QUEUE_RUN_HOST"],
        token=token,
        ca_bundle=lines["SSL_CERT_FILE"],
        env={"KLING_NB_HOME": str(home)},
        quiet=True,
    )


def _direct(emu: EmulatorProcess, key: str, home: Path) -> Any:
    import kling_nb

    env = {**emu.env, "FAL_KEY": key, "KLING_NB_HOME": str(home), "KLING_NB_PROFILE": "plain"}
    return kling_nb.connect(env=env, quiet=True)


# --- the report ----------------------------------------------------------------------------------


def run(quick: bool = False) -> dict[str, Any]:
    """Every figure, in one run."""
    polls, rounds, students, workers, service, classes = QUICK if quick else FULL
    return {
        **status_latency(polls, rounds),
        **class_at_once(students, workers, service, classes),
    }


def table(f: dict[str, Any]) -> str:
    """The figures as a Markdown table, each beside its target."""
    rows = [
        (
            "status request, direct (p50 / p99)",
            f"{f['direct_p50_ms']:.2f} / {f['direct_p99_ms']:.2f} ms",
            "—",
        ),
        (
            "status request, through the gateway (p50 / p99)",
            f"{f['gateway_p50_ms']:.2f} / {f['gateway_p99_ms']:.2f} ms",
            "—",
        ),
        ("added by the gateway, p50", f"{f['added_p50_ms']:.2f} ms", "≤ 5 ms"),
        ("added by the gateway, p99", f"{f['added_p99_ms']:.2f} ms", "≤ 20 ms"),
        (
            f"{f['students']} students, one edit each at once: direct",
            f"{f['direct_wall_s']:.2f} s",
            "—",
        ),
        (
            "the same through the gateway",
            f"{f['gateway_wall_s']:.2f} s ({f['wall_ratio']:.2f}×)",
            "≤ 1.15×",
        ),
        ("gateway CPU per job (load-independent)", f"{f['gateway_cpu_ms_per_job']:.0f} ms", "—"),
        ("gateway memory, peak RSS", f"{f['gateway_peak_rss_mb']:.0f} MB", "≤ 150 MB"),
        (
            "`--upstream emulator` in-process: wall, peak RSS of gateway + emulator",
            f"{f['inprocess_emulator_wall_s']:.2f} s, {f['inprocess_emulator_peak_rss_mb']:.0f} MB",
            "—",
        ),
    ]
    lines = ["| measure | value | target |", "|---|---:|---:|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def main(argv: list[str] | None = None) -> int:
    return standalone.main("classroom", __doc__, run, table, argv, "small samples, for smoke runs")


if __name__ == "__main__":
    sys.exit(main())
