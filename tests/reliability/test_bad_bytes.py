"""Bad bytes and broken disks: inputs are checked before they are read (a FIFO, a device, a
3 GB file, a name that is not UTF-8), and a write that fails leaves no partial file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kling_nb
from kling_nb import KlingImageError
from kling_nb._files import cached_image_ok, write_image
from kling_nb._images import MAX_FILE_BYTES, prepare_image
from kling_nb._journal import Journal

from .hostile import png_bytes

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(30)  # a hang fails here instead of stalling CI
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    with pytest.raises(KlingImageError, match="is a named pipe \\(FIFO\\), not a regular file"):
        prepare_image(fifo, 0)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_unread(device: str) -> None:
    with pytest.raises(KlingImageError, match="is a character device"):
        prepare_image(device, 0)


@pytest.mark.timeout(30)
def test_a_sparse_3_gb_file_is_refused_from_its_size(tmp_path: Path) -> None:
    big = tmp_path / "holiday.mp4.png"
    with open(big, "wb") as fh:
        fh.truncate(3 * 2**30)  # sparse: no disk used, but read whole it would be 3 GB
    with pytest.raises(KlingImageError) as caught:
        prepare_image(big, 2)
    text = str(caught.value)
    assert "image_urls[2]" in text and "3072.0 MB" in text and "50.0 MB" in text
    assert "not a video or archive" in text
    assert big.stat().st_size > MAX_FILE_BYTES


@pytest.mark.parametrize(
    "name", [os.fsdecode(b"caf\xe9.png"), "lone\udcff.png"], ids=["latin1", "surrogate"]
)
def test_a_file_name_that_is_not_utf8_is_refused_before_the_journal(
    conn,  # type: ignore[no-untyped-def]
    home: Path,
    tmp_path: Path,
    name: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(png_bytes(400))
    with pytest.raises(KlingImageError, match="is not valid UTF-8.*Rename the file"):
        kling_nb.edit("make <<<image_1>>> red", [str(path)], connection=conn, timeout=30)
    assert Journal(home).entries() == []  # nothing submitted, nothing journaled


def test_data_uri_schemes_are_case_insensitive() -> None:
    import base64

    uri = "DATA:IMAGE/PNG;BASE64," + base64.b64encode(png_bytes(400)).decode()
    prepared = prepare_image(uri, 0)
    assert not prepared.is_remote and prepared.width == 400
    assert prepare_image("HTTPS://example.com/a.png", 0).is_remote


def test_a_write_that_hits_the_size_limit_leaves_nothing_and_a_later_one_succeeds(
    tmp_path: Path,
) -> None:
    """A failing writer (RLIMIT_FSIZE in a child process) stands in for a full disk."""
    folder = tmp_path / "cache" / "req-1"
    data = png_bytes(512)
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        from kling_nb._files import write_image
        try:
            write_image(Path({str(folder)!r}), "out.png", 0, sys.stdin.buffer.read(), "image/png")
        except OSError as exc:
            print("refused", exc.errno)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, env=env, timeout=60
    )
    assert done.stdout.startswith(b"refused"), done.stderr
    assert [p.name for p in folder.iterdir()] == []  # no partial file, no temp file
    assert not cached_image_ok(folder / "out.png", "image/png")
    path = write_image(folder, "out.png", 0, data, "image/png")  # the disk has room again
    assert cached_image_ok(path, "image/png") and path.read_bytes() == data


def test_a_truncated_cached_file_is_not_trusted(tmp_path: Path) -> None:
    data = png_bytes(256)
    path = write_image(tmp_path, "x.png", 0, data, "image/png")
    path.write_bytes(data[: len(data) // 2])
    assert not cached_image_ok(path, "image/png")


def test_containment_messages_exist_in_chinese(tmp_path: Path) -> None:
    from kling_nb import KlingError, set_language
    from kling_nb._files import cache_folder, child_path

    set_language("zh")
    with pytest.raises(KlingError, match="已拒绝缓存请求 ID '../x'"):
        cache_folder(tmp_path, "../x")
    with pytest.raises(KlingError, match="已拒绝 .* 之外的路径"):
        child_path(tmp_path, "..", "evil.pth")
    with pytest.raises(KlingError, match="输出图片 1 不是有效的 image/png"):
        write_image(tmp_path, "x.png", 0, b"<html>", "image/png")
