"""`kling-nb` in a real subprocess against the emulator: paths on success, a message and
a non-zero status on failure, never a traceback; every argument checked before an emulator
starts or a journal row is written; hints as flags and verbs; Ctrl-C exits 130."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import kling_nb
from kling_nb import _config, _preflight, cli, emulator

from .conftest import CANARY_KEY

# The checkout under test, first on the path of every subprocess (whatever is installed).
THIS_CHECKOUT = os.pathsep.join(
    [str(Path(cli.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
)
PYTHON_HINTS = re.compile(
    r"kling_nb\.\w+\(|fresh=True|set_budget|connect\(|resume\(|history\(|key="
)


def run(
    args: list[str], env: dict[str, str], tmp_path, cwd=None
) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    full_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env}
    full_env.setdefault("PYTHONPATH", THIS_CHECKOUT)
    return subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def offline(tmp_path: Path) -> dict[str, str]:
    """A learner's environment: no key, no host (the emulator starts in-process), its own
    home and temp folder (where an emulator would leave its TLS folder)."""
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    return {
        "KLING_NB_HOME": str(tmp_path / "home"),
        "KLING_NB_LANG": "en",
        "TMPDIR": str(temp),
    }


def nothing_started_or_written(tmp_path: Path) -> bool:
    """No emulator ran (it makes kling_nb_emulator_* in TMPDIR) and no journal exists."""
    return (
        not list((tmp_path / "tmp").glob("kling_nb_emulator*")) and not (tmp_path / "home").exists()
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


# --- issue 18: the first hour on the command line ------------------------------------------------


def test_the_readme_example_runs_as_written_in_an_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    args = ["edit", "sample:running-man", "--prompt", "将 <<<image_1>>> 转换为水彩画风格"]
    proc = run([*args, "--out", "results/"], offline(tmp_path), tmp_path, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    (saved,) = proc.stdout.split()
    assert saved.startswith("results/") and (folder / saved).is_file()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = 'kling-nb edit sample:running-man --prompt "将 <<<image_1>>> 转换为水彩画风格"'
    assert f"{example} --out results/" in readme


def test_samples_are_listed_with_provenance_and_usable_by_either_name(tmp_path: Path) -> None:
    listed = run(["samples"], offline(tmp_path), tmp_path)
    assert listed.returncode == 0 and "sample:running-man" in listed.stdout
    assert (
        "public domain" in listed.stdout
        and "CC0" in listed.stdout
        and "PROVENANCE.md" in listed.stdout
    )
    for name in ("sample:cat", "sample:cat.jpg"):
        proc = run(["estimate", name, "-p", "x <<<image_1>>>"], offline(tmp_path), tmp_path)
        assert proc.returncode == 0, proc.stderr
    bad = run(["edit", "sample:dog", "-p", "x"], offline(tmp_path), tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "running-man" in bad.stderr


def test_samples_are_described_in_chinese_and_the_columns_line_up(tmp_path: Path) -> None:
    from kling_nb._text import cells

    listed = run(["samples", "--lang", "zh"], offline(tmp_path), tmp_path)
    rows = listed.stdout.splitlines()[:-1]  # the last line is the hint
    assert listed.returncode == 0 and "湖边日落时奔跑的人" in listed.stdout
    # The licence column starts at the same terminal column on every row.
    starts = {
        cells(row[: row.index(licence)])
        for row, licence in zip(rows, ["NASA", "Stefan", "Rachel", "SpaceX", "drawn"], strict=True)
    }
    assert len(starts) == 1, rows


def test_help_says_every_limit_samples_images_and_what_no_key_means(tmp_path: Path) -> None:
    top = run(["--help"], {}, tmp_path).stdout
    assert "sample:running-man" in top and "No key set" in top and "130" in top
    edit = " ".join(run(["edit", "--help"], {}, tmp_path).stdout.split())
    for words in (
        "sample:NAME",
        "<<<image_1>>>",
        "1-2500",
        "1-10",
        "1-9",
        "offline emulator",
        "--fresh",
    ):
        assert words in edit, words
    parser = cli._parser()
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in subcommands.items():
        for action in sub._actions:
            assert action.help, (
                f"kling-nb {name} {action.option_strings or action.dest} has no help"
            )


def test_lang_works_after_the_command_too(tmp_path: Path) -> None:
    before = run(["--lang", "zh", "edit", "nope.jpg", "-p", "x"], offline(tmp_path), tmp_path)
    after = run(["edit", "nope.jpg", "-p", "x", "--lang", "zh"], offline(tmp_path), tmp_path)
    assert before.returncode == after.returncode == 2
    assert "找不到文件" in after.stderr and after.stderr == before.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["edit", "missing.jpg", "-p", "x"],
        ["edit", "sample:cat", "-p", "x <<<image_2>>>"],
        ["edit", "sample:cat", "-p", "x", "--num-images", "12"],
        ["edit", "sample:cat", "-p", "x", "--out", "/proc/self/results"],
        ["edit", "sample:cat", "-p", "x", "--out", "/dev/null"],
        ["edit", "sample:nope", "-p", "x"],
        ["edit", "sample:cat", "-p", "x", "--backend", "qiniu"],
        ["edit", "sample:cat", "-p", ""],
    ],
    ids=["missing", "reference", "num-images", "proc", "device", "sample", "no-key", "prompt"],
)
def test_bad_input_is_one_line_before_an_emulator_starts_or_a_row_is_written(
    tmp_path: Path, args: list[str]
) -> None:
    proc = run(args, offline(tmp_path), tmp_path)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("kling-nb: "), proc.stderr
    assert "Traceback" not in proc.stderr and not PYTHON_HINTS.search(proc.stderr), proc.stderr
    assert nothing_started_or_written(tmp_path)


def test_an_out_file_that_exists_is_refused_before_paying(tmp_path: Path) -> None:
    taken = tmp_path / "cat.png"
    Image.new("RGB", (8, 8)).save(taken)
    proc = run(["edit", "sample:cat", "-p", "x", "--out", str(taken)], offline(tmp_path), tmp_path)
    assert proc.returncode == 2 and "exists already" in proc.stderr
    assert nothing_started_or_written(tmp_path)


def test_estimate_sends_nothing_starts_nothing_and_writes_nothing(tmp_path: Path) -> None:
    args = ["estimate", "sample:cat", "-p", "x <<<image_1>>>", "--num-images", "3"]
    proc = run(args, offline(tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0.084 USD for 3 image(s) (emulated, not billed)" in proc.stdout
    assert "docs/services.md" in proc.stdout and "PROTOCOL.md" not in proc.stdout
    assert nothing_started_or_written(tmp_path)


@pytest.mark.parametrize(
    ("region", "words"),
    [
        (["--region", "10,20,30"], "is not a region"),
        (["--region", "a,b,c,d"], "is not a region"),
        (["--region", "0,0,700,100"], "reaches past the photo"),
        (["--region", "300,100,200,300"], "empty or inverted"),
        (["--region", "1,1,5,5", "--region-mask", "m.png"], "not allowed with"),
        (["--region-mask", "missing.png"], "cannot be read"),
    ],
    ids=["three", "letters", "outside", "inverted", "both", "no-mask"],
)
def test_a_bad_region_is_one_line_and_exit_2_before_anything_starts(
    tmp_path: Path, region: list[str], words: str
) -> None:
    args = ["edit", "sample:coffee", "-p", "x <<<image_1>>>", *region]
    proc = run(args, offline(tmp_path), tmp_path, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert nothing_started_or_written(tmp_path)


def test_estimate_with_a_region_says_what_is_sent_and_writes_nothing(tmp_path: Path) -> None:
    args = ["estimate", "sample:coffee", "-p", "x <<<image_1>>>", "--region", "200,120,420,330"]
    proc = run(args, offline(tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0.028 USD for 1 image(s)" in proc.stdout
    assert "region edit: crop 330×330 at (145, 60) sent at 1K 1:1" in proc.stdout
    assert nothing_started_or_written(tmp_path)


def test_edit_with_a_region_saves_full_size_composites(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    args = ["edit", "sample:coffee", "-p", "水彩 <<<image_1>>>", "--region", "200,120,420,330"]
    proc = run([*args, "--out", str(out), "--num-images", "2"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    jpegs = [Path(p) for p in proc.stdout.split()]
    assert [p.suffix for p in jpegs] == [".jpg", ".jpg"]  # the original's format
    proc = run([*args, "--out", str(out), "--num-images", "2", "--lossless"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Replayed" in proc.stderr  # the same edit: not paid again
    for path in map(Path, proc.stdout.split()):
        with Image.open(path) as image:
            assert path.suffix == ".png" and image.size == (600, 400)
        meta = json.loads(path.with_suffix(".png.json").read_text())
        assert meta["region"]["exact_outside_region"] is True


def test_fresh_pays_again_and_every_hint_is_a_cli_hint(emu, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(tmp_path / "home"),
        "KLING_NB_LANG": "en",
    }
    args = ["edit", "sample:coffee", "-p", "sepia <<<image_1>>>", "--out", str(tmp_path / "o")]
    first, again, fresh = (run(a, env, tmp_path) for a in (args, args, [*args, "--fresh"]))
    assert first.returncode == again.returncode == fresh.returncode == 0
    assert "Replayed from request" in again.stderr and "--fresh for new pictures" in again.stderr
    assert "Replayed" not in fresh.stderr
    ids = [re.search(r"request ([0-9a-f-]{36})", p.stderr).group(1) for p in (first, fresh)]  # type: ignore[union-attr]
    assert ids[0] != ids[1]  # --fresh made a new job
    estimate = run(["estimate", *args[1:4]], env, tmp_path)
    assert "kling-nb edit replays its pictures" in estimate.stdout
    budget = run(["budget", "0.01", "USD"], env, tmp_path)
    assert budget.returncode == 0 and "left 0.01 USD" in budget.stdout
    refused = run([*args, "--fresh"], env, tmp_path)
    assert refused.returncode == 1 and "kling-nb budget --off" in refused.stderr
    history = run(["history"], env, tmp_path)
    for proc in (first, again, fresh, estimate, budget, refused, history):
        assert not PYTHON_HINTS.search(proc.stdout + proc.stderr), proc.stdout + proc.stderr


def test_budget_is_shown_set_and_lifted(tmp_path: Path) -> None:
    env = offline(tmp_path)
    assert "No budget: kling-nb budget 5 USD" in run(["budget"], env, tmp_path).stdout
    assert "Budget 5 USD since" in run(["budget", "5", "USD"], env, tmp_path).stdout
    assert "Budget 20 CNY since" in run(["budget", "20CNY"], env, tmp_path).stdout
    assert "No budget" in run(["budget", "--off"], env, tmp_path).stdout
    bad = run(["budget", "5"], env, tmp_path)
    assert (
        bad.returncode == 2
        and bad.stderr.count("\n") == 1
        and "kling-nb budget 5 USD" in bad.stderr
    )


@pytest.mark.slow
def test_ctrl_c_mid_wait_cancels_the_job_and_exits_130(tmp_path: Path) -> None:
    with emulator.start(service_time=30) as slow:
        env = {
            "FAL_QUEUE_RUN_HOST": slow.host,
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": slow.ca_bundle,
            "KLING_NB_HOME": str(tmp_path / "home"),
            "KLING_NB_LANG": "en",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": THIS_CHECKOUT,
        }
        args = ["edit", "sample:cat", "-p", "x <<<image_1>>>", "--out", str(tmp_path / "o")]
        process = subprocess.Popen(
            [sys.executable, "-m", "kling_nb.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while slow.stats()["totals"]["submits"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # waiting now
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert slow.stats()["totals"]["cancels"] == 1
    assert out == "" and err.splitlines()[-1].startswith("kling-nb: ") and "Traceback" not in err


@pytest.mark.slow
def test_history_tells_a_live_waiter_from_an_abandoned_job_and_says_kling_nb_resume(
    tmp_path: Path,
) -> None:
    with emulator.start(service_time=30) as slow:
        env = {
            "FAL_QUEUE_RUN_HOST": slow.host,
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": slow.ca_bundle,
            "KLING_NB_HOME": str(tmp_path / "home"),
            "KLING_NB_LANG": "en",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": THIS_CHECKOUT,
        }
        waiter = subprocess.Popen(
            [sys.executable, "-m", "kling_nb.cli", "edit", "sample:cat", "-p", "x <<<image_1>>>"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while "pid" not in (shown := run(["history"], env, tmp_path).stdout):
                assert time.monotonic() < deadline, shown
                time.sleep(0.2)
            assert f"waited for by a live process (pid {waiter.pid})" in shown
            assert "stopped" not in shown and "died" not in shown
        finally:
            waiter.kill()  # as a crashed kernel: no cancel, no last journal write
            waiter.wait()
        left = run(["history"], env, tmp_path).stdout
    assert "1 unfinished job(s) no live process is waiting for" in left
    assert "kling-nb resume waits for them" in left and not PYTHON_HINTS.search(left)


def test_every_cli_flavour_has_its_base_its_facts_and_no_python_call() -> None:
    import string

    from kling_nb._i18n import MESSAGES, message, use_cli_words

    def facts(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    flavours = [key for key in MESSAGES if key.endswith("@cli")]
    assert len(flavours) > 25
    for key in flavours:
        base = key.removesuffix("@cli")
        assert base in MESSAGES, key
        for lang in ("en", "zh"):
            text = MESSAGES[key][lang]  # type: ignore[index]
            assert facts(text) <= facts(MESSAGES[base][lang]), key  # type: ignore[index]
            assert not PYTHON_HINTS.search(text), (key, text)
    # Notebooks never see them; the CLI always does.
    assert "fresh=True" in message("money.replay_cache", "en", request_id="r")
    previous = use_cli_words(True)
    try:
        assert "--fresh" in message("money.replay_cache", "en", request_id="r")
    finally:
        use_cli_words(previous)


@pytest.mark.parametrize(
    ("backend", "env"),
    [
        ("auto", {"QINIU_API_KEY": "sk-q"}),
        ("auto", {"FAL_KEY": "sk-f"}),
        ("auto", {"FAL_QUEUE_RUN_HOST": "gateway.example/queue", "FAL_KEY": "sk-g"}),
        (
            "auto",
            {
                "FAL_QUEUE_RUN_HOST": "gateway.example/queue",
                "FAL_KEY": "k",
                "KLING_NB_PROFILE": "fal",
            },
        ),
        ("fal", {"FAL_QUEUE_RUN_HOST": "gateway.example/queue", "FAL_KEY": "sk-f"}),
        ("auto", {"KLING_NB_BACKEND": "qiniu", "QINIU_API_KEY": "sk-q", "FAL_KEY": "sk-f"}),
        ("emulator", {"QINIU_API_KEY": "sk-q", "KLING_NB_PROFILE": "fal"}),
        ("local", {}),
    ],
)
def test_the_planned_connection_is_the_one_connect_makes(
    backend: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "QINIU_API_KEY",
        "FAL_KEY",
        "FAL_QUEUE_RUN_HOST",
        "KLING_NB_BACKEND",
        "KLING_NB_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    planned = _preflight.planned_connection(backend)
    try:
        made = kling_nb.connect(backend, env=dict(env), quiet=True, service_time=0.1)
    finally:  # a kernel keeps its emulator; a CLI run starts its own, as planned
        if _config._emulator is not None:
            _config._emulator.stop()
            _config._emulator = None
    assert (planned.backend, planned.profile, planned.key) == (made.backend, made.profile, made.key)
    assert planned.host == made.host or (planned.emulated and made.emulated)


def test_ctrl_c_while_saving_says_the_pictures_are_kept_and_how_to_save_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kling_nb import EditResult

    env = offline(tmp_path)
    for name in ("FAL_KEY", "QINIU_API_KEY", "FAL_QUEUE_RUN_HOST", "KLING_NB_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def interrupted(self: EditResult, *args: object, **kwargs: object) -> list[Path]:
        raise KeyboardInterrupt

    monkeypatch.setattr(EditResult, "save", interrupted)
    out = tmp_path / "out"
    status = cli.main(
        ["--lang", "en", "edit", "sample:cat", "-p", "ink <<<image_1>>>", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 130 and "interrupted while saving" in err, err
    request_id = re.search(r"kling-nb resume (\S+) --out", err)
    assert request_id, err
    monkeypatch.undo()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["resume", request_id.group(1), "--out", str(out)]) == 0
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".png"]
