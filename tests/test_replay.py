"""Replay and budget through the engine, against the real emulator: an identical completed
request is not paid again (across processes too), `fresh=True` pays, changed bytes pay, a
lost cache falls back to the stored URL, and the budget refuses before anything is sent."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import kling_nb
from kling_nb import KlingBudgetError, KlingO1Request, KlingReplayError
from kling_nb._config import Connection
from kling_nb._journal import journal_for

from .conftest import CANARY_KEY

PROMPT = "oil painting of <<<image_1>>>"

CHILD = """
import hashlib, json, sys
import kling_nb
result = kling_nb.edit(sys.argv[1], sys.argv[2])
digests = [hashlib.sha256(im.path.read_bytes()).hexdigest() for im in result.images]
print(json.dumps({"request_id": result.request_id, "digests": digests}))
"""


def picture(path: Path, shade: int = 90) -> Path:
    img = Image.linear_gradient("L").resize((400, 300)).convert("RGB")
    img.paste((30, shade, 200), (100, 100, 200, 200))
    img.save(path, "PNG")
    return path


def submits(emu: Any) -> int:
    return int(emu.stats()["totals"]["submits"])


@pytest.fixture
def fal_conn(conn: Connection) -> Connection:
    """The test emulator priced as fal (the profile it imitates): 0.028 USD per image."""
    return replace(conn, profile="fal")


def test_replay_across_two_processes_sharing_a_home(emu, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = picture(tmp_path / "in.png")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(home),
        "KLING_NB_LANG": "en",
    }

    def run() -> tuple[dict[str, Any], str]:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, PROMPT, str(source)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    before, billed = submits(emu), emu.stats()["totals"]["billed_images"]
    first, _ = run()
    assert submits(emu) == before + 1
    assert emu.stats()["totals"]["billed_images"] == billed + 1
    second, said = run()
    assert submits(emu) == before + 1  # nothing sent the second time
    assert emu.stats()["totals"]["billed_images"] == billed + 1  # nothing billed
    assert second == first  # the same request's pictures, byte for byte
    assert f"Replayed from request {first['request_id']}" in said and "fresh=True" in said
    rows = journal_for(home).entries()
    assert [r.replay_of for r in rows] == [first["request_id"], None]


def test_fresh_pays_and_the_replay_is_not_spend(emu, fal_conn: Connection, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kling_nb.set_budget(1, "USD")
    source = picture(tmp_path / "in.png")
    before = submits(emu)
    first = kling_nb.edit(PROMPT, source, progress=False, connection=fal_conn)
    again = kling_nb.edit(PROMPT, source, progress=False, connection=fal_conn)
    assert submits(emu) == before + 1 and again.request_id == first.request_id
    assert [im.path for im in again.images] == [im.path for im in first.images]
    fresh = kling_nb.edit(PROMPT, source, progress=False, connection=fal_conn, fresh=True)
    assert submits(emu) == before + 2 and fresh.request_id != first.request_id
    assert kling_nb.budget().spent == Decimal("0.056")  # two paid, the replay free


def test_connect_replay_false_pays_every_time(emu, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conn = kling_nb.connect(env=env, quiet=True, replay=False)
    source = picture(tmp_path / "in.png")
    before = submits(emu)
    kling_nb.edit(PROMPT, source, progress=False, connection=conn)
    kling_nb.edit(PROMPT, source, progress=False, connection=conn)
    assert submits(emu) == before + 2


def test_changed_bytes_at_the_same_path_pay(emu, conn: Connection, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = picture(tmp_path / "in.png", shade=90)
    before = submits(emu)
    first = kling_nb.edit(PROMPT, source, progress=False, connection=conn)
    picture(source, shade=160)  # same path, another picture
    second = kling_nb.edit(PROMPT, source, progress=False, connection=conn)
    assert submits(emu) == before + 2 and second.request_id != first.request_id


def test_cost_and_replay_lines_are_shown(emu, fal_conn: Connection, capsys) -> None:  # type: ignore[no-untyped-def]
    kling_nb.edit(PROMPT, kling_nb.sample_image(), num_images=2, connection=fal_conn)
    paid = capsys.readouterr().err
    assert "0.056 USD (emulated, not billed)" in paid
    result = kling_nb.edit(PROMPT, kling_nb.sample_image(), num_images=2, connection=fal_conn)
    said = capsys.readouterr().err
    assert said.strip() == (
        f"Replayed from request {result.request_id} (cached files), not billed;"
        " fresh=True for new pictures."
    )


def test_a_lost_cache_is_fetched_again_from_the_stored_url(emu, conn: Connection, capsys) -> None:  # type: ignore[no-untyped-def]
    first = kling_nb.edit(PROMPT, kling_nb.sample_image(), connection=conn)
    digest = hashlib.sha256(first.images[0].path.read_bytes()).hexdigest()
    for image in first.images:
        image.path.unlink()
    capsys.readouterr()
    before = submits(emu)
    again = kling_nb.edit(PROMPT, kling_nb.sample_image(), connection=conn)
    assert submits(emu) == before and again.request_id == first.request_id
    assert hashlib.sha256(again.images[0].path.read_bytes()).hexdigest() == digest
    assert "fetched its stored result URL again" in capsys.readouterr().err


def test_a_lost_cache_with_an_expired_url_is_not_paid_unless_asked(emu, conn: Connection) -> None:  # type: ignore[no-untyped-def]
    first = kling_nb.edit(PROMPT, kling_nb.sample_image(), progress=False, connection=conn)
    for image in first.images:
        image.path.unlink()
    journal = journal_for(conn.home)
    entry = journal.find(first.request_id)
    assert entry is not None
    journal.note(entry.id, finished_at=time.time() - 2 * 3600)  # past the URL's lifetime
    before = submits(emu)
    with pytest.raises(KlingReplayError) as info:
        kling_nb.edit(PROMPT, kling_nb.sample_image(), progress=False, connection=conn)
    assert isinstance(info.value, KlingBudgetError) and submits(emu) == before
    text = str(info.value)
    assert first.request_id in text and "paid again" in text and "fresh=True" in text
    paid = kling_nb.edit(
        PROMPT, kling_nb.sample_image(), progress=False, connection=conn, fresh=True
    )
    assert submits(emu) == before + 1 and paid.request_id != first.request_id


def test_run_fal_task_replays_its_output(emu, conn: Connection) -> None:  # type: ignore[no-untyped-def]
    arguments = {"prompt": "cyberpunk neon", "image_urls": [_data_uri()], "aspect_ratio": "16:9"}
    before = submits(emu)
    first = kling_nb.run_fal_task(
        "fal-ai/kling-image/o1", arguments, progress=False, connection=conn
    )
    again = kling_nb.run_fal_task(
        "fal-ai/kling-image/o1", arguments, progress=False, connection=conn
    )
    assert submits(emu) == before + 1 and again == first


def _data_uri() -> str:
    import base64

    data = Path(kling_nb.sample_image()).read_bytes()
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def test_budget_refuses_an_edit_at_the_boundary_with_nothing_sent(
    emu, fal_conn: Connection
) -> None:  # type: ignore[no-untyped-def]
    kling_nb.set_budget("0.056 USD")
    image = kling_nb.sample_image()
    kling_nb.edit(PROMPT, image, num_images=2, progress=False, connection=fal_conn)  # all left
    before = submits(emu)
    with pytest.raises(KlingBudgetError) as info:
        kling_nb.edit(PROMPT, image, num_images=1, progress=False, connection=fal_conn)
    assert submits(emu) == before and "only 0 USD is left" in str(info.value)
    assert len(journal_for(fal_conn.home).entries()) == 1  # not even a journal row
    # A replay costs nothing, so it goes ahead with nothing left.
    kling_nb.edit(PROMPT, image, num_images=2, progress=False, connection=fal_conn)
    assert submits(emu) == before


def test_budget_in_a_batch_runs_what_fits_and_refuses_the_rest(emu, fal_conn: Connection) -> None:  # type: ignore[no-untyped-def]
    kling_nb.set_budget(Decimal("0.084"), "USD")
    prompts = [PROMPT, "sketch of <<<image_1>>>", "mosaic of <<<image_1>>>"]
    grid = [
        KlingO1Request(p, [kling_nb.sample_image()], num_images=n)
        for p, n in zip(prompts, [2, 2, 1], strict=True)
    ]
    before = submits(emu)
    batch = kling_nb.run_batch(grid, progress=False, connection=fal_conn)
    assert submits(emu) == before + 2
    assert isinstance(batch[1], KlingBudgetError)
    assert [i for i, _ in batch.errors] == [1]
    assert "1 refused by the budget" in batch.summary()
    assert kling_nb.budget().left == 0
    again = kling_nb.run_batch(grid[::2], progress=False, connection=fal_conn)
    assert submits(emu) == before + 2 and not again.errors  # both replayed
    assert "2 replayed, not billed" in again.summary()


def test_async_edit_and_batch_replay_too(emu, conn: Connection) -> None:  # type: ignore[no-untyped-def]
    image = kling_nb.sample_image()

    async def main() -> tuple[Any, Any, Any]:
        first = await kling_nb.edit_async(PROMPT, image, progress=False, connection=conn)
        before = submits(emu)
        again = await kling_nb.edit_async(PROMPT, image, progress=False, connection=conn)
        batch = await kling_nb.run_batch_async(
            [KlingO1Request(PROMPT, [image])], progress=False, connection=conn
        )
        assert submits(emu) == before
        return first, again, batch

    first, again, batch = asyncio.run(main())
    assert again.request_id == first.request_id == batch[0].request_id


# --- history(): what each row cost, and the spend per day ---------------------------------------


def test_history_shows_costs_replays_and_day_totals(emu, fal_conn: Connection, conn) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from kling_nb._i18n import set_language

    image = kling_nb.sample_image()
    kling_nb.edit(PROMPT, image, num_images=2, progress=False, connection=fal_conn)
    kling_nb.edit(PROMPT, image, num_images=2, progress=False, connection=fal_conn)  # replay
    kling_nb.edit(PROMPT, image, progress=False, connection=conn)  # qiniu: price unknown
    text = repr(kling_nb.history())
    lines = text.splitlines()
    assert "cost" in lines[1]
    unknown, replayed, paid = lines[2:5]
    assert "—" in unknown and "0 USD (replay)" in replayed and "0.056 USD" in paid
    # Emulated figures are shown apart, never counted as spend (issue 18).
    assert f"  {date.today().isoformat()}: 0 (besides 0.056 USD emulated, not billed)" in lines
    set_language("zh")
    zh = repr(kling_nb.history())
    assert "费用" in zh and "0 USD（重放）" in zh and "（另有模拟的 0.056 USD，未实际扣费）" in zh


def test_history_tells_of_rows_it_skipped(emu, conn: Connection) -> None:  # type: ignore[no-untyped-def]
    import sqlite3
    import warnings

    kling_nb.edit(PROMPT, kling_nb.sample_image(), progress=False, connection=conn)
    db = sqlite3.connect(conn.home / "journal.sqlite3")
    db.execute("UPDATE jobs SET arguments = 'not json'")
    db.commit()
    db.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shown = kling_nb.history()
    assert shown.skipped_rows == 1
    assert "1 journal row(s) could not be read and were skipped." in repr(shown)


KERNEL = """
import json, sys
import kling_nb
kling_nb.connect("local", quiet=True)  # a new emulator each time, as after a kernel restart
out = kling_nb.run_fal_task(kling_nb.ENDPOINT, {"prompt": "turn <<<image_1>>> into ink",
    "image_urls": [kling_nb.sample_image("cat.jpg")]}, progress=False)
conn = kling_nb._config.current_connection()
print(json.dumps({"url": out["images"][0]["url"][:30],
    "submits": conn.emulator.stats()["totals"]["submits"]}))
"""


def test_run_fal_task_is_replayed_after_a_kernel_restart_on_the_emulator(tmp_path: Path) -> None:
    """Its images are cached when it completes, so a second kernel (a new emulator, whose
    predecessor's URLs are dead) replays from the cache instead of failing or paying."""
    env = {**os.environ, "KLING_NB_HOME": str(tmp_path / "home"), "KLING_NB_BACKEND": "local"}
    for name in ("FAL_QUEUE_RUN_HOST", "FAL_KEY", "QINIU_API_KEY", "SSL_CERT_FILE"):
        env.pop(name, None)
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", KERNEL], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0]["submits"] == 1 and runs[0]["url"].startswith("http")
    assert runs[1]["submits"] == 0 and runs[1]["url"].startswith("data:image/")
