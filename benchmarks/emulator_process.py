"""An emulator in its own process, so that measurements are not skewed by sharing the
GIL with the client being measured."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EmulatorProcess:
    """The two variables a client needs, and the emulator's statistics on demand."""

    env: dict[str, str]
    process: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        return "https://" + self.env["FAL_QUEUE_RUN_HOST"].split("/", 1)[0]

    def stats(self) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=self.env["SSL_CERT_FILE"])
        with urllib.request.urlopen(self.base_url + "/_emulator/stats", context=context) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]


@contextmanager
def emulator_process(log: Path | None = None, **options: Any) -> Iterator[EmulatorProcess]:
    """`python -m kling_nb.emulator --port 0 …options`, stopped with SIGTERM on exit;
    its stderr goes to `log` when given."""
    argv = [sys.executable, "-m", "kling_nb.emulator", "--port", "0"]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    sink = open(log, "w") if log is not None else None  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=sink, text=True, env=dict(os.environ)
    )
    try:
        assert proc.stdout is not None
        env = {}
        wanted = {"FAL_QUEUE_RUN_HOST", "SSL_CERT_FILE", "KLING_NB_PROFILE"}
        while set(env) != wanted:  # the shell-ready lines it prints first
            line = proc.stdout.readline()
            key, _, value = line.strip().partition("=")
            if not line or key not in wanted:
                raise RuntimeError(f"the emulator did not start: {env} {line!r}")
            env[key] = value
        yield EmulatorProcess(env, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if sink is not None:
            sink.close()
