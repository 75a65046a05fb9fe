"""`kling-nb lab`: the tutorials copied into a working folder (a user's changes are kept), the
name chosen, JupyterLab's command landing on the notebook; and one source of truth for
where the package comes from. (The wheel, a venv and a served tutorial: test_packaging.py.)"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kling_nb import _tutorials, cli
from kling_nb._errors import KlingConfigError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def notebook(text: str) -> bytes:
    return json.dumps({"cells": [{"source": text}]}).encode()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "packaged"
    folder.mkdir()
    for name in ("kling_o1_image.ipynb", "kling_o1_image_en.ipynb", "batch_grid.ipynb"):
        (folder / name).write_bytes(notebook(f"v1 {name}"))
    return folder


def test_first_run_copies_every_tutorial_and_second_copies_nothing(
    source: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    first = _tutorials.copy_tutorials(work, source)
    assert sorted(first.copied) == sorted(p.name for p in source.glob("*.ipynb"))
    assert len(first.lines(work)) == 1 and str(work) in first.lines(work)[0]
    again = _tutorials.copy_tutorials(work, source)
    assert again.copied == [] and again.offered == [] and again.lines(work) == []


def test_changed_file_is_kept_and_the_new_version_offered_beside_it(
    source: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    _tutorials.copy_tutorials(work, source)
    mine = notebook("my own notes")
    (work / "kling_o1_image.ipynb").write_bytes(mine)
    (source / "kling_o1_image.ipynb").write_bytes(notebook("v2"))
    (source / "batch_grid.ipynb").write_bytes(notebook("v2 grid"))
    report = _tutorials.copy_tutorials(work, source)
    assert (work / "kling_o1_image.ipynb").read_bytes() == mine  # never overwritten
    assert (work / "kling_o1_image.new.ipynb").read_bytes() == notebook("v2")
    assert report.offered == ["kling_o1_image.new.ipynb"]
    # A copy the user never touched simply follows the package.
    assert (work / "batch_grid.ipynb").read_bytes() == notebook("v2 grid")
    assert report.copied == ["batch_grid.ipynb"]
    lines = report.lines(work)
    assert len(lines) == 2 and "kling_o1_image.new.ipynb" in lines[1]
    assert _tutorials.copy_tutorials(work, source).offered == []  # said once, not every time


def test_a_file_that_was_there_before_counts_as_the_users(source: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "batch_grid.ipynb").write_bytes(notebook("someone else's"))
    report = _tutorials.copy_tutorials(work, source)
    assert (work / "batch_grid.ipynb").read_bytes() == notebook("someone else's")
    assert report.offered == ["batch_grid.new.ipynb"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "kling_o1_image.ipynb"),
        ("zh", "kling_o1_image.ipynb"),
        ("EN", "kling_o1_image_en.ipynb"),
        ("batch_grid", "batch_grid.ipynb"),
        ("batch_grid.ipynb", "batch_grid.ipynb"),
    ],
)
def test_names_choose_a_tutorial(source: Path, name: str | None, expected: str) -> None:
    assert _tutorials.tutorial_name(name, source) == expected


def test_unknown_name_is_refused_with_the_choices(source: Path) -> None:
    with pytest.raises(KlingConfigError) as caught:
        _tutorials.tutorial_name("kling_o2", source)
    assert "'kling_o2'" in str(caught.value) and "batch_grid" in str(caught.value)


def test_a_checkout_serves_its_own_notebooks() -> None:
    assert _tutorials.packaged_folder() == NOTEBOOKS  # editable install: no second copy
    assert "kling_o1_image.ipynb" in _tutorials.tutorial_names()


def test_command_lands_on_the_notebook_and_passes_arguments_through() -> None:
    command = _tutorials.lab_command("kling_o1_image.ipynb", ["--no-browser", "--port=9"], 1000)
    assert command[1:] == [
        "-m",
        "jupyterlab",
        "--LabApp.default_url=/lab/tree/kling_o1_image.ipynb",
        "--no-browser",
        "--port=9",
    ]
    assert _tutorials.lab_command("x.ipynb", [], 0)[-1] == "--allow-root"
    assert _tutorials.lab_command("x.ipynb", ["--allow-root"], 0).count("--allow-root") == 1


class Exec(BaseException):  # main() turns any Exception into an exit status
    """Raised instead of replacing the test process with JupyterLab."""


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    seen: dict[str, object] = {}

    def fake_exec(folder: Path, command: list[str]) -> int:
        seen.update(cwd=folder, command=command)
        raise Exec

    monkeypatch.setattr(_tutorials, "_exec", fake_exec)
    return seen


def test_cli_copies_then_opens_the_named_tutorial_with_jupyter_options(
    launched: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "tutorials"
    with pytest.raises(Exec):
        cli.main(["lab", "en", "--dir", str(work), "--no-browser", "--port", "8899"])
    command = launched["command"]
    assert isinstance(command, list) and command[4:7] == ["--no-browser", "--port", "8899"]
    assert "--LabApp.default_url=/lab/tree/kling_o1_image_en.ipynb" in command
    assert "--no-browser" in command and "en" not in command
    assert launched["cwd"] == work.resolve()
    assert sorted(p.name for p in work.glob("*.ipynb")) == sorted(
        p.name for p in NOTEBOOKS.glob("*.ipynb")
    )
    err = capsys.readouterr().err
    assert "copied to" in err and "kling_o1_image_en.ipynb" in err


def test_cli_defaults_to_the_chinese_tutorial_in_kling_nb_tutorials(
    launched: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exec):
        cli.main(["lab", "--no-browser"])
    assert "--LabApp.default_url=/lab/tree/kling_o1_image.ipynb" in launched["command"]  # type: ignore[operator]
    assert launched["cwd"] == tmp_path.resolve() / "kling_nb_tutorials"


def test_cli_opens_a_notebook_file_where_it_is(launched: dict[str, object], tmp_path: Path) -> None:
    mine = tmp_path / "mine.ipynb"
    mine.write_bytes(notebook("x"))
    with pytest.raises(Exec):
        cli.main(["lab", str(mine)])
    assert launched["cwd"] == tmp_path.resolve()
    assert "--LabApp.default_url=/lab/tree/mine.ipynb" in launched["command"]  # type: ignore[operator]
    assert not (tmp_path / "kling_nb_tutorials").exists()


def test_cli_refuses_an_unknown_tutorial_with_exit_2(
    launched: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["lab", "nonesuch"]) == 2  # bad input
    assert "nonesuch" in capsys.readouterr().err and "command" not in launched


def test_cli_refuses_a_folder_it_cannot_write_with_exit_2(
    launched: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert cli.main(["lab", "--dir", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "--dir" in err and str(blocker) in err and "Traceback" not in err


def test_other_commands_still_refuse_unknown_arguments() -> None:
    assert cli.main(["history", "--bogus"]) == 2


def source_url() -> str:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    return str(urls["Source"])


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_install_cell_tries_the_index_then_the_source_in_pyproject(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    (cell,) = [c for c in cells if "pip" in "".join(c["source"]) and c["cell_type"] == "code"]
    text = "".join(cell["source"])
    by_name = text.index('"kling-nb"]')
    by_url = text.index('f"kling-nb @ git+{SOURCE}"')
    assert by_name < by_url and f'SOURCE = "{source_url()}"' in text
    assert len(re.findall(r"print\(", text)) == 2  # one line says what it did
    assert cell["outputs"] == []  # it installs nothing where kling_nb already imports


def test_readmes_point_where_pyproject_says() -> None:
    url = source_url()
    owner_repo = url.removeprefix("https://github.com/")
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    colab = re.findall(r"colab\.research\.google\.com/github/([^/]+/[^/]+)/", readme)
    assert colab and set(colab) == {owner_repo}
    assert url in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_changed_copy_gets_no_new_file_while_the_package_is_the_same(
    source: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    _tutorials.copy_tutorials(work, source)
    (work / "kling_o1_image.ipynb").write_bytes(notebook("my notes"))
    report = _tutorials.copy_tutorials(work, source)  # the package did not change
    assert report.offered == [] and report.copied == [] and report.lines(work) == []
    assert not list(work.glob("*.new*.ipynb"))


def test_a_changed_new_file_is_never_overwritten(source: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _tutorials.copy_tutorials(work, source)
    (work / "kling_o1_image.ipynb").write_bytes(notebook("my notes"))
    (source / "kling_o1_image.ipynb").write_bytes(notebook("v2"))
    assert _tutorials.copy_tutorials(work, source).offered == ["kling_o1_image.new.ipynb"]
    mine = notebook("my notes on v2")
    (work / "kling_o1_image.new.ipynb").write_bytes(mine)  # the learner works in it
    (source / "kling_o1_image.ipynb").write_bytes(notebook("v3"))
    report = _tutorials.copy_tutorials(work, source)
    assert (work / "kling_o1_image.new.ipynb").read_bytes() == mine
    assert report.offered == ["kling_o1_image.new-2.ipynb"]
    assert (work / "kling_o1_image.new-2.ipynb").read_bytes() == notebook("v3")
    (source / "kling_o1_image.ipynb").write_bytes(notebook("v4"))  # new-2 untouched: replaced
    assert _tutorials.copy_tutorials(work, source).offered == ["kling_o1_image.new-2.ipynb"]
    assert (work / "kling_o1_image.new-2.ipynb").read_bytes() == notebook("v4")
    assert (work / "kling_o1_image.new.ipynb").read_bytes() == mine


def test_with_a_damaged_manifest_nothing_that_differs_is_overwritten(
    source: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    _tutorials.copy_tutorials(work, source)
    (work / "batch_grid.new.ipynb").write_bytes(notebook("someone's"))
    (work / _tutorials.MANIFEST).write_text("{not json")
    (source / "batch_grid.ipynb").write_bytes(notebook("v2 grid"))
    _tutorials.copy_tutorials(work, source)
    assert (work / "batch_grid.new.ipynb").read_bytes() == notebook("someone's")
    assert (work / "batch_grid.new-2.ipynb").read_bytes() == notebook("v2 grid")


def test_tutorial_copies_follow_the_umask(source: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _tutorials.copy_tutorials(tmp_path / "work", source)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "work").iterdir()}
    assert set(modes.values()) == {0o644}, modes


@pytest.mark.slow
def test_with_jupyter_token_the_printed_address_reaches_the_notebook(tmp_path: Path) -> None:
    import queue
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    import httpx

    token = "lab-token-for-this-test"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "KLING_NB"))}
    env.update(
        JUPYTER_TOKEN=token,
        JUPYTER_CONFIG_DIR=str(tmp_path / "jc"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jr"),
        JUPYTER_DATA_DIR=str(tmp_path / "jd"),
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        NO_PROXY="127.0.0.1,localhost",
        KLING_NB_LANG="en",
    )
    args = ["lab", "--dir", str(tmp_path / "work"), "--no-browser", "--ServerApp.ip=127.0.0.1"]
    args += [f"--port={port}", "--ServerApp.port_retries=0", "--LabApp.news_url=None"]
    args += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    process = subprocess.Popen(
        [sys.executable, "-m", "kling_nb.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stderr], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not any("log in with the token" in line for line in seen):
            assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        printed = [line for line in seen if "/lab/tree/kling_o1_image.ipynb" in line]
        assert printed and not any("token=..." in line for line in printed), "".join(seen)
        url = re.search(r"(http://\S+/lab/tree/kling_o1_image\.ipynb)", printed[-1]).group(1)  # type: ignore[union-attr]
        auth = {"Authorization": f"token {token}"}
        page = httpx.get(url, headers=auth, timeout=30)
        assert page.status_code == 200 and "JupyterLab" in page.text
        contents = url.replace("/lab/tree/", "/api/contents/")
        model = httpx.get(contents, headers=auth, params={"content": "0"}, timeout=30).json()
        assert model["type"] == "notebook" and model["name"] == "kling_o1_image.ipynb"
        assert token not in "".join(seen)  # the token itself is never printed
    finally:
        process.send_signal(signal.SIGTERM)  # passed on to JupyterLab
        assert process.wait(timeout=30) is not None


LOOPBACK_PICTURE = re.compile(r"<img[^>]* src=\"https?://(127\.|localhost|\[::1\])")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_outputs_show_their_pictures_anywhere(path: Path) -> None:
    """No output points a picture at the loopback port of the machine that made it."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for number, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            html = "".join(output.get("data", {}).get("text/html", ""))
            assert not LOOPBACK_PICTURE.search(html), f"{path.name} cell {number}"


def test_regenerate_embeds_a_loopback_picture_and_nbval_sees_the_address() -> None:
    import base64
    import configparser
    import http.server
    import io
    import sys
    import threading

    from PIL import Image

    sys.path.insert(0, str(NOTEBOOKS))
    import regenerate

    buffer = io.BytesIO()
    Image.new("RGB", (1024, 768), (200, 90, 30)).save(buffer, "PNG")

    class Files(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(buffer.getvalue())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/files/abc/image_1.png"
        live = f'<img src="{url}" width="512"/>'
        cell = {"outputs": [{"data": {"text/html": live, "text/plain": "<Image>"}}]}
        regenerate.embed_pictures(cell)
    finally:
        server.shutdown()
    html = cell["outputs"][0]["data"]["text/html"]
    assert not LOOPBACK_PICTURE.search(html) and f'data-src="{url}" width="512"' in html
    data = re.search(r'src="data:image/jpeg;base64,([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (512, 384)
    config = configparser.ConfigParser()
    config.read(NOTEBOOKS / "nbval_sanitize.cfg")
    sanitized = {}
    for text in (html, live):
        for section in config.sections():
            text = re.sub(config[section]["regex"], config[section]["replace"], text)
        sanitized[text] = True
    assert len(sanitized) == 1  # the committed and the live output compare equal
