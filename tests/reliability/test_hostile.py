"""A hostile queue server (tests/reliability/hostile.py) against the real fal_client and
kling_nb: it decides no path kling_nb writes, never gets its echo of the key shown, and its
malformed answers become KlingErrors in words."""

from __future__ import annotations

import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import KlingError, _config
from kling_nb._files import cache_folder, cached_image_ok, write_image
from kling_nb.cli import main

from ..conftest import CANARY_KEY
from .hostile import Hostile, hostile_server, png_bytes

PROMPT = "make <<<image_1>>> red"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    with hostile_server(tmp_path_factory.mktemp("tls")) as running:
        yield running


@pytest.fixture
def hostile(server: Hostile) -> Iterator[Hostile]:
    server.reset()
    yield server
    _config._current = None


@pytest.fixture
def raw(hostile: Hostile, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    """The hostile server in os.environ, as the guide's raw fal_client cells see it."""
    for name, value in hostile.env(CANARY_KEY, home).items():
        monkeypatch.setenv(name, value)
    kling_nb.connect(quiet=True)
    yield hostile
    _config._applied.clear()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes(400))
    return path


def chain_texts(exc: BaseException) -> list[str]:
    """Every text a user could see of `exc`: str, repr, args, the printed traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), *map(str, seen.args)]
        texts += [str(v) for v in vars(seen).values() if isinstance(v, str)]
        seen = seen.__cause__ or seen.__context__
    return texts


def journal_text(home: Path) -> str:
    with sqlite3.connect(home / "journal.sqlite3") as db:
        return repr(db.execute("SELECT * FROM jobs").fetchall())


@pytest.mark.parametrize("where", ["submit", "result"])
def test_a_key_echoed_in_an_error_body_appears_nowhere(
    hostile: Hostile, home: Path, source: Path, where: str
) -> None:
    conn = kling_nb.connect(env=hostile.env(CANARY_KEY, home), quiet=True)
    hostile.behaviour.echo_key_on = where
    with pytest.raises(KlingError) as caught:
        kling_nb.edit(PROMPT, [source], connection=conn, timeout=30)
    assert any(CANARY_KEY in k for k in hostile.behaviour.seen_keys)  # it was sent, and echoed
    texts = chain_texts(caught.value)
    assert "***" in " ".join(texts)  # the echo is there, masked
    assert not [t for t in texts if CANARY_KEY in t]
    assert CANARY_KEY not in journal_text(home)


def test_cli_stderr_never_shows_an_echoed_key(
    raw: Hostile, home: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw.behaviour.echo_key_on = "submit"
    status = main(["edit", str(source), "-p", PROMPT, "--out", str(home / "out")])
    out, err = capsys.readouterr()
    failures = [line for line in err.splitlines() if line.startswith("kling-nb: ")]
    assert status == 1 and len(failures) == 1 and "Traceback" not in err
    assert "***" in failures[0] and CANARY_KEY not in out + err


@pytest.mark.parametrize(
    "request_id", ["../../escaped", "/tmp/absolute", "a/../../b", "..", "x" * 300, "ok\x00id"]
)
def test_a_path_like_request_id_cannot_name_a_cache_folder(
    raw: Hostile, home: Path, request_id: str
) -> None:
    import fal_client

    raw.behaviour.request_id = request_id
    conn = _config.current_connection()
    handle = fal_client.submit(kling_nb.ENDPOINT, {"prompt": "x"})  # the real client
    assert handle.request_id == request_id  # the server's word, as the client passes it on
    with pytest.raises(KlingError, match="Refused to cache request id"):
        cache_folder(conn.home, handle.request_id)
    assert not (home / "cache").exists()


@pytest.mark.parametrize(
    "file_name",
    ["../../../evil.pth", "/etc/evil.png", "..", "sub/dir/x.png", "a\\..\\..\\b.png", "", None],
)
def test_a_path_like_file_name_is_written_inside_its_folder(
    raw: Hostile, home: Path, file_name: str | None
) -> None:
    import fal_client

    raw.behaviour.file_name = file_name
    handle = fal_client.submit(kling_nb.ENDPOINT, {"prompt": "x"})
    output = handle.get()
    image = output["images"][0]
    data = fal_client.sync_client._client.get(image["url"]).content
    folder = cache_folder(home, handle.request_id)
    path = write_image(folder, image.get("file_name"), 0, data, image["content_type"])
    assert path.parent == folder.resolve() and cached_image_ok(path, "image/png")
    assert [p for p in home.rglob("*") if p.is_file()] == [path]


def test_a_cdn_answering_html_with_200_caches_nothing(raw: Hostile, home: Path) -> None:
    import fal_client

    raw.behaviour.image = b"<html><body>Please log in</body></html>"
    output = fal_client.submit(kling_nb.ENDPOINT, {"prompt": "x"}).get()
    data = fal_client.sync_client._client.get(output["images"][0]["url"]).content
    folder = cache_folder(home, "req-1")
    with pytest.raises(KlingError, match="is not a valid image/png.*Please log in"):
        write_image(folder, "out.png", 0, data, "image/png")
    assert not folder.exists() or not any(folder.iterdir())
    # A file a previous version left there is not trusted either: it is fetched again.
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out.png").write_bytes(data)
    assert not cached_image_ok(folder / "out.png", "image/png")


@pytest.mark.parametrize(
    "body",
    [
        {"status": "IN_QUEUE"},  # no request id
        {"request_id": 12345, "status_url": 7, "response_url": None},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_submit_answer_is_a_kling_error(
    hostile: Hostile, home: Path, source: Path, body: object
) -> None:
    conn = kling_nb.connect(env=hostile.env(CANARY_KEY, home), quiet=True)
    hostile.behaviour.submit_body = body
    with pytest.raises(KlingError):
        kling_nb.edit(PROMPT, [source], connection=conn, timeout=30)


@pytest.mark.parametrize(
    "body",
    [
        {"images": "not a list"},
        {"images": [{"url": 5}]},
        {"images": [{"no": "url"}]},
        {"nothing": True},
    ],
)
def test_a_malformed_result_is_a_kling_error(
    hostile: Hostile, home: Path, source: Path, body: object
) -> None:
    conn = kling_nb.connect(env=hostile.env(CANARY_KEY, home), quiet=True)
    hostile.behaviour.result_body = body
    with pytest.raises(KlingError):
        kling_nb.edit(PROMPT, [source], connection=conn, timeout=30)


def test_edit_against_a_hostile_server_writes_only_under_its_cache(
    hostile: Hostile, home: Path, source: Path, tmp_path: Path
) -> None:
    conn = kling_nb.connect(env=hostile.env(CANARY_KEY, home), quiet=True)
    hostile.behaviour.file_name = "../../../planted.pth"
    result = kling_nb.edit(PROMPT, [source], connection=conn, timeout=30)
    assert all(home / "cache" in im.path.parents for im in result.images)
    assert not list(tmp_path.rglob("planted.pth"))


def test_urls_on_another_host_never_receive_the_key(
    hostile: Hostile, home: Path, source: Path
) -> None:
    # Followed, these URLs would send the key elsewhere (and the loopback guard would fail
    # the connect): the queue's own `…/requests/{id}/…` paths are used instead.
    conn = kling_nb.connect(env=hostile.env(CANARY_KEY, home), quiet=True)
    elsewhere = "https://collector.invalid/steal"
    hostile.behaviour.submit_body = {
        "request_id": "req-1",
        "status_url": f"{elsewhere}/s",
        "response_url": f"{elsewhere}/r",
        "cancel_url": f"{elsewhere}/c",
    }
    result = kling_nb.edit(PROMPT, [source], connection=conn, timeout=30)
    assert result.request_id == "req-1" and result.images


def _reachable(value: object, depth: int = 0, seen: set[int] | None = None) -> Iterator[str]:
    """Every text a user can reach from `value`: attributes, containers, chained errors."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth > 6:
        return
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        yield value if isinstance(value, str) else value.decode("latin-1")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _reachable(item, depth + 1, seen)
        return
    if isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _reachable(item, depth + 1, seen)
        return
    if isinstance(value, BaseException):
        yield str(value)
        yield repr(value)
        for link in (value.__cause__, value.__context__):
            yield from _reachable(link, depth + 1, seen)
    for name in dir(value):
        if name.startswith("__"):
            continue
        try:
            item = getattr(value, name)
        except Exception:  # a property that refuses (httpx's .request without one)
            continue
        if not callable(item):
            yield from _reachable(item, depth + 1, seen)


@pytest.mark.parametrize("where", ["submit", "status", "result", "result-5xx"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_attribute_of_an_error_nor_any_chained_one_holds_an_echoed_key(
    hostile: Hostile, home: Path, source: Path, where: str, mode: str
) -> None:
    import asyncio
    import traceback

    conn = kling_nb.connect(env=hostile.env(CANARY_KEY, home), quiet=True)
    hostile.behaviour.echo_key_on = where
    with pytest.raises(KlingError) as caught:
        if mode == "sync":
            kling_nb.edit(PROMPT, [source], connection=conn, timeout=30, progress=False)
        else:
            asyncio.run(
                kling_nb.edit_async(PROMPT, [source], connection=conn, timeout=30, progress=False)
            )
    assert any(CANARY_KEY in k for k in hostile.behaviour.seen_keys)  # sent, and echoed
    error = caught.value
    shown = "".join(traceback.format_exception(error))
    texts = list(_reachable(error))
    assert any("***" in t for t in texts) and CANARY_KEY not in shown  # echoed, masked
    assert not [t for t in texts if CANARY_KEY in t]
    if isinstance(error, kling_nb.KlingJobError):
        assert error.error_type is None or CANARY_KEY not in error.error_type
