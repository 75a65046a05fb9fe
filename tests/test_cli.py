"""`kling-nb edit` in a real subprocess against the emulator: paths on success, a message and
a non-zero status on failure, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from .conftest import CANARY_KEY


def run(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    full_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_edit_prints_the_saved_paths(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.jpg"
    Image.linear_gradient("L").resize((640, 400)).convert("RGB").save(src)
    out = tmp_path / "out"
    proc = run(
        ["edit", str(src), "-p", "水彩 <<<image_1>>>", "--num-images", "2", "--out", str(out)],
        env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    paths = proc.stdout.split()
    assert len(paths) == 2 and all(p.startswith(str(out)) for p in paths)
    assert "FAL_QUEUE_RUN_HOST" in proc.stderr  # the one line saying where it went
    assert CANARY_KEY not in proc.stdout + proc.stderr


def test_bad_input_exits_2_with_the_message_and_no_traceback(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "tiny.png"
    Image.new("RGB", (120, 90)).save(src)
    proc = run(["edit", str(src), "-p", "x", "--num-images", "12"], env, tmp_path)
    assert proc.returncode == 2
    assert "num_images = 12" in proc.stderr and "120×90" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_in_chinese(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run(["--lang", "zh", "edit", str(tmp_path / "nope.jpg"), "-p", "x"], env, tmp_path)
    assert proc.returncode == 2 and "找不到文件" in proc.stderr and "Traceback" not in proc.stderr


def test_failed_job_exits_1_with_request_id(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run(["edit", "https://example.com/cat.jpg", "-p", "x"], env, tmp_path)
    assert proc.returncode == 1 and "failed" in proc.stderr and "Traceback" not in proc.stderr


def test_an_out_that_is_a_file_is_refused_before_paying(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.jpg"
    Image.linear_gradient("L").resize((640, 400)).convert("RGB").save(src)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    proc = run(["edit", str(src), "-p", "x", "--out", str(blocker / "out")], env, tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is a file, not a folder" in proc.stderr and "nothing was submitted" in proc.stderr
    journal = tmp_path / "kling_home" / "journal.sqlite3"
    assert not journal.exists()  # no row: nothing was sent


def test_an_out_with_an_image_suffix_is_the_file_written(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.jpg"
    Image.linear_gradient("L").resize((640, 400)).convert("RGB").save(src)
    target = tmp_path / "results" / "cat.png"
    proc = run(["edit", str(src), "-p", "x <<<image_1>>>", "--out", str(target)], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(target)] and target.is_file()


def test_history_since_yesterday_and_a_bad_date_in_one_line(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run(["history", "--since", "yesterday"], env, tmp_path)
    assert proc.returncode == 0 and "No jobs" in proc.stdout, proc.stderr
    proc = run(["history", "--since", "last week"], env, tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("kling-nb: since = 'last week' is not a date")


def test_a_bad_argument_is_one_line_too(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run(["edit", "a.png", "-p", "x", "--timeout", "0"], env, tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "must be a positive number of seconds" in proc.stderr
