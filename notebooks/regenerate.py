"""Run every tutorial notebook top to bottom, offline on the emulator, and save its outputs.

    python notebooks/regenerate.py                          # all notebooks
    python notebooks/regenerate.py kling_o1_image.ipynb     # only some

The kernel never sees an API key: it runs with KLING_NB_BACKEND=emulator, a temporary
KLING_NB_HOME, and HTTP(S) proxies that refuse everything but loopback, so nothing can
reach Qiniu, fal or GitHub. Stream outputs are saved the way nbval compares them
(consecutive pieces joined, text overwritten with "\\r" reduced to what stays visible), so
`pytest --nbval` (strict) passes on the result. `conftest.py` gives nbval's kernels the same
environment.

Pictures show anywhere: an `<img>` a cell displays from the emulator's loopback address (the
guide's own `display(Image(url=...))` cells) would be a broken picture on GitHub or on a
learner's machine, so each is embedded as it is made, while the emulator still runs: its
`src` becomes a small JPEG `data:` URI and the address moves to `data-src`, which
`nbval_sanitize.cfg` maps back for the comparison (nbval compares no pictures anyway).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
REPO = NOTEBOOKS.parent
MAX_BYTES = 2_000_000
MAX_SECONDS = 60.0
CELL_TIMEOUT = 300
# A refused port on loopback: any request that is not for 127.0.0.1 fails at once.
DEAD_PROXY = "http://127.0.0.1:9"
KEYS = ("QINIU_API_KEY", "FAL_KEY", "FAL_QUEUE_RUN_HOST", "KLING_NB_LANG")
# nbval's own rule (nbval.plugin.coalesce_streams): drop a line's text up to its last "\r".
CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


def offline_env(home: Path) -> dict[str, str | None]:
    """Environment for a notebook kernel: emulator only, no keys, no network but loopback.

    A value of None means "remove this variable".
    """
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env: dict[str, str | None] = {
        "KLING_NB_BACKEND": "emulator",
        "KLING_NB_HOME": str(home),
        "PYTHONPATH": path,  # kling_nb from this checkout, installed or not
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = DEAD_PROXY
    env.update(dict.fromkeys(KEYS))
    return env


@contextmanager
def patched_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """Apply `values` to os.environ (None removes), and restore it afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def join_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name; keep only the visible text."""
    joined: list = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            joined.append(output)
    for output in joined:
        if output.output_type == "stream":
            output.text = CARRIAGE_RETURN.sub("", output.text)
    return joined


# An <img> pointing at a loopback address (the emulator's result files), with its width.
LOOPBACK_IMG = re.compile(r'<img src="(http://127\.0\.0\.1:\d+/[^"]+)"((?: width="(\d+)")?)')
EMBED_QUALITY = 85


def embed_pictures(cell: dict, **_: object) -> None:
    """nbclient's on_cell_executed hook: each loopback <img> in the cell's HTML outputs gets
    its picture as a data: URI (at its displayed width), the address kept in data-src."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        html = data.get("text/html")
        if isinstance(html, str) and LOOPBACK_IMG.search(html):
            data["text/html"] = LOOPBACK_IMG.sub(_embedded, html)


def _embedded(found: re.Match[str]) -> str:
    from PIL import Image

    url, width = found[1], int(found[3] or 1024)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(url, timeout=30) as answer:
        picture = Image.open(io.BytesIO(answer.read())).convert("RGB")
    picture.thumbnail((width, width * 4))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=EMBED_QUALITY, optimize=True)
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="{uri}" data-src="{url}"{found[2]}'


def regenerate(path: Path) -> tuple[float, int]:
    """Execute one notebook in place; return (seconds, bytes written)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    home = Path(tempfile.mkdtemp(prefix="kling_nb_notebooks_"))
    started = time.monotonic()
    try:
        with patched_environ(offline_env(home)):
            NotebookClient(
                nb,
                timeout=CELL_TIMEOUT,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
                record_timing=False,
                on_cell_executed=embed_pictures,
            ).execute()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    seconds = time.monotonic() - started
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = join_streams(cell.outputs)
    nbformat.write(nb, path)
    return seconds, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names (default: all)")
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / name for name in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    problems = []
    for path in paths:
        seconds, size = regenerate(path)
        print(f"{path.name:32} {seconds:5.1f} s  {size / 1e6:5.2f} MB")
        if seconds > MAX_SECONDS:
            problems.append(f"{path.name} took {seconds:.0f} s (limit {MAX_SECONDS:.0f} s)")
        if size > MAX_BYTES:
            problems.append(f"{path.name} is {size / 1e6:.2f} MB (limit {MAX_BYTES / 1e6:.0f} MB)")
    for problem in problems:
        print("too big or slow:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
