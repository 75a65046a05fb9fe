"""kling_nb installed the way packages are: built as a wheel, installed into a new virtual
environment outside the repository, used from an empty folder — `kling-nb edit` offline on a
bundled sample, and `kling-nb lab` serving the Chinese tutorial, whose first cells then run
in that environment's kernel on the emulator. Loopback only.

The build needs setuptools>=77: taken from this environment when it has it (the `test` extra
installs it), else from pip's configured index by `python -m build`'s isolated build.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TOKEN = "kling-nb-packaging-test-token"
pytestmark = pytest.mark.slow
PROBE = (
    "import kling_nb, importlib.metadata as m;"
    "print(kling_nb.__file__, kling_nb.sample_image(), kling_nb.__version__, m.version('kling-nb'))"
)


@dataclass
class Venv:
    root: Path
    wheel: Path
    install_seconds: float

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    @property
    def script(self) -> str:
        return str(self.root / "bin" / "kling-nb")


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of a learner's shell: no keys, no checkout on the path, own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KLING_NB", "JUPYTER"))}
    for name in ("PYTHONPATH", "QINIU_API_KEY", "FAL_KEY", "FAL_QUEUE_RUN_HOST", "SSL_CERT_FILE"):
        env.pop(name, None)
    env.update(HOME=str(home), KLING_NB_BACKEND="emulator", KLING_NB_HOME=str(home / ".kling_nb"))
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


def _new_setuptools() -> bool:
    try:
        return int(version("setuptools").split(".")[0]) >= 77
    except Exception:
        return False


def _build(out: Path) -> str:
    """sdist and wheel (the wheel from the sdist) into `out`; the build's whole output."""
    isolation = ["--no-isolation"] if _new_setuptools() else []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(
        [sys.executable, "-m", "build", *isolation, "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("dist")
    log = _build(out)
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' scratch folder
    return out, log


@pytest.fixture(scope="module")
def venv(built: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A new venv outside the repository with kling_nb from the wheel (its dependencies
    come from this environment's site-packages, so nothing is downloaded)."""
    (wheel,) = built[0].glob("*.whl")
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)],
        check=True,
        timeout=120,
    )
    started = time.monotonic()
    subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
        + ["--ignore-installed", str(wheel)],
        check=True,
        timeout=300,
        env=_clean_env(root),
    )
    return Venv(root, wheel, time.monotonic() - started)


def test_build_is_clean_and_version_has_one_source(built: tuple[Path, str]) -> None:
    out, log = built
    assert not [line for line in log.splitlines() if re.search(r"warn", line, re.I)], log
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    from kling_nb._version import __version__

    assert f"-{__version__}-" in wheel.name and sdist.name.endswith(f"-{__version__}.tar.gz")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" in meta["dynamic"] and "version" not in meta


def test_wheel_ships_the_tutorials_and_samples_as_they_are_in_the_repository(
    built: tuple[Path, str],
) -> None:
    (wheel,) = built[0].glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        packaged = {
            Path(n).name: archive.read(n) for n in names if n.startswith("kling_nb/tutorials/")
        }
    repository = {p.name: p.read_bytes() for p in NOTEBOOKS.glob("*.ipynb")}
    assert packaged == repository
    assert any(re.search(r"kling_nb/(emulator/)?samples/running-man\.jpg$", n) for n in names)
    assert "kling_nb/py.typed" in names
    assert "kling_nb/panel/region.js" in names  # the region widget's ES module


def test_the_licence_is_in_the_repository_the_sdist_and_the_wheel(built: tuple[Path, str]) -> None:
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "the kling_nb authors" in licence
    (wheel,) = built[0].glob("*.whl")
    (sdist,) = built[0].glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(name).decode() == licence
        metadata = archive.read(name.replace("licenses/LICENSE", "METADATA")).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/LICENSE")
        assert member is not None and member.read().decode() == licence


def test_the_sdist_ships_no_tests_rather_than_a_part_of_them(built: tuple[Path, str]) -> None:
    # The tests need the whole repository (notebooks, docs, benchmarks, a browser): a clone
    # runs them (bash tests/run.sh); an sdist with some of them and no conftest.py could not.
    (sdist,) = built[0].glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert not [n for n in names if "/tests/" in n or n.endswith("/tests")], names
    assert any(n.endswith("notebooks/kling_o1_image.ipynb") for n in names)  # the wheel needs them


def test_help_opens_with_what_a_newcomer_needs(venv: Venv, tmp_path: Path) -> None:
    probe = (
        "import pydoc, typing, pathlib, kling_nb;"
        "print(typing.get_type_hints(kling_nb.sample_image)['return'] is pathlib.Path);"
        "print(pydoc.render_doc(kling_nb, renderer=pydoc.plaintext))"
    )
    text = subprocess.run(
        [venv.python, "-c", probe],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    typed, first_screen = text.splitlines()[0], "\n".join(text.splitlines()[1:25])
    assert typed == "True"
    for words in (
        "kling_nb.connect()",
        "kling_nb.edit(",
        "result.save(",
        "sample_image",
        "kling-nb lab",
    ):
        assert words in first_screen, words
    assert "PACKAGE CONTENTS" not in first_screen and "_batch" not in first_screen


def test_installed_wheel_edits_a_sample_offline_from_an_empty_folder(
    venv: Venv, tmp_path: Path
) -> None:
    env = _clean_env(tmp_path)
    where = subprocess.run(
        [venv.python, "-c", PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(venv.root), where  # from the wheel, not the checkout
    assert where[2] == where[3]  # __version__ is the distribution's version
    proc = subprocess.run(  # the README's line, as written
        [venv.script, "edit", "sample:running-man", "--prompt", "将 <<<image_1>>> 转换为水彩画风格"]
        + ["--out", "results/"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    saved = [tmp_path / p for p in proc.stdout.split()]
    assert saved and all(p.is_file() and p.parent == tmp_path / "results" for p in saved)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lab(venv: Venv, tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str], float]]:
    """`kling-nb lab --no-browser` from an empty folder, offline; (url, folder, process,
    seconds from pip install to the tutorial being served)."""
    env = _clean_env(tmp_path)
    env.update(JUPYTER_TOKEN=TOKEN, JUPYTER_CONFIG_DIR=str(tmp_path / "jconfig"))
    env.update(
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jruntime"), JUPYTER_DATA_DIR=str(tmp_path / "jd")
    )
    work = tmp_path / "empty"
    work.mkdir()
    port = _free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [venv.script, "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}"]
        + [
            "--ServerApp.port_retries=0",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        served = _wait_served(url, process)
        yield url, work / "kling_nb_tutorials", process, venv.install_seconds + served - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_served(url: str, process: subprocess.Popen[str]) -> float:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kling-nb lab exited:\n{process.stdout.read()[-3000:]}")  # type: ignore[union-attr]
        try:
            answer = httpx.get(
                f"{url}/api/contents/kling_o1_image.ipynb",
                params={"content": "0"},
                headers={"Authorization": f"token {TOKEN}"},
                timeout=2,
            )
            if answer.status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the tutorial was not served within 90 s")


def test_lab_serves_the_chinese_tutorial_and_its_first_cells_run(
    venv: Venv, lab: tuple[str, Path, subprocess.Popen[str], float], tmp_path: Path
) -> None:
    url, folder, process, seconds = lab
    auth = {"Authorization": f"token {TOKEN}"}
    model = httpx.get(f"{url}/api/contents/kling_o1_image.ipynb", headers=auth, timeout=30).json()
    assert model["type"] == "notebook" and model["name"] == "kling_o1_image.ipynb"
    assert (folder / "kling_o1_image.ipynb").read_bytes() == (
        NOTEBOOKS / "kling_o1_image.ipynb"
    ).read_bytes()
    page = httpx.get(f"{url}/lab/tree/kling_o1_image.ipynb", params={"token": TOKEN}, timeout=30)
    assert page.status_code == 200
    landing = httpx.get(f"{url}/", params={"token": TOKEN}, timeout=30, follow_redirects=False)
    assert landing.headers["location"].split("?")[0].endswith("/lab/tree/kling_o1_image.ipynb")
    print(
        f"\npip install → tutorial served: {seconds:.1f} s (install {venv.install_seconds:.1f} s)"
    )
    _run_first_cells(venv, model_path=folder / "kling_o1_image.ipynb", tmp_path=tmp_path)


def _run_first_cells(venv: Venv, model_path: Path, tmp_path: Path) -> None:
    """Execute the tutorial's code cells up to its first kling_nb call after connect(), in
    a kernel of the venv (nbclient in the venv), offline on the emulator."""
    script = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
cells, seen = [], False
for cell in nb.cells:
    if cell.cell_type != "code":
        continue
    cells.append(cell)
    seen = seen or "kling_nb.connect()" in cell.source
    if seen and len(cells) >= 5:
        break
probe = nbformat.v4.new_code_cell("print('FROM', kling_nb.__file__)")
nb.cells = cells + [probe]
NotebookClient(nb, timeout=180, kernel_name="python3").execute()
for cell in nb.cells:
    for out in cell.outputs:
        assert out.output_type != "error", out
        print(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
"""
    proc = subprocess.run(
        [venv.python, "-c", script, str(model_path)],
        cwd=model_path.parent,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "本地模拟器" in proc.stdout  # connect() said: the offline emulator
    origin = re.search(r"FROM (\S+)", proc.stdout)
    assert origin and Path(origin.group(1)).is_relative_to(venv.root)


def test_wheel_size_and_file_count_are_reported(built: tuple[Path, str]) -> None:
    (wheel,) = built[0].glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        count = len(archive.namelist())
    size = wheel.stat().st_size
    print(f"\nwheel {wheel.name}: {size / 1e6:.2f} MB, {count} files")
    assert size < 5_000_000  # the tutorials carry their outputs; images are thumbnails
    assert count > 40  # 40 before the tutorials travelled with it
