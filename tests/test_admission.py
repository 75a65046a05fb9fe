"""Admission under pressure (`_admission`, `_money.Reservation`): the budget check and the
reservation are one journal transaction across threads and processes, and two identical
requests at once are paid once — through the real emulator and real kernels (processes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

import kling_nb
from kling_nb import KlingBudgetError, emulator
from kling_nb._journal import journal_for

from .conftest import CANARY_KEY

REPO = Path(__file__).resolve().parents[1]
ONE_IMAGE = "0.028"  # USD: the plain profile quotes fal's published price (emulated)

KERNEL = """
import sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
import kling_nb
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
try:
    result = kling_nb.edit(sys.argv[2], kling_nb.sample_image(), progress=False)
    print("ok", result.request_id)
except kling_nb.KlingBudgetError:
    print("budget")
"""


@pytest.fixture(scope="module")
def race_emu():  # type: ignore[no-untyped-def]
    with emulator.start(service_time=0.3, workers=4, seed=3) as handle:
        yield handle


def kernel_env(emu: emulator.Emulator, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(home),
        "KLING_NB_PROFILE": "plain",
        "KLING_NB_LANG": "en",
    }


def race(emu: emulator.Emulator, home: Path, prompts: list[str]) -> list[str]:
    """Start one kernel per prompt, let them all edit at the same moment, return what each
    printed."""
    home.mkdir(parents=True, exist_ok=True)
    go = home / "go"
    kernels = [
        subprocess.Popen(
            [sys.executable, "-c", KERNEL, str(go), prompt],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=kernel_env(emu, home),
        )
        for prompt in prompts
    ]
    time.sleep(2.5)  # every kernel imported kling_nb and waits for the go
    go.touch()
    outputs = [k.communicate(timeout=120) for k in kernels]
    assert all(k.returncode == 0 for k in kernels), [err for _, err in outputs]
    return [out.strip().splitlines()[-1] for out, _ in outputs]


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(2))
def test_two_kernels_racing_for_the_last_image_of_a_budget_pay_once(
    race_emu: emulator.Emulator, tmp_path: Path, round_: int
) -> None:
    home = tmp_path / "home"
    kling_nb.set_budget(ONE_IMAGE, "USD", home=home)
    before = race_emu.stats()["totals"]["submits"]
    said = race(
        race_emu, home, [f"watercolor {round_} of <<<image_1>>>", f"ink {round_} of <<<image_1>>>"]
    )
    assert sorted(s.split()[0] for s in said) == ["budget", "ok"], said
    assert race_emu.stats()["totals"]["submits"] - before == 1
    spent = kling_nb.budget(home=home)
    assert spent.spent <= spent.amount  # never above the budget


@pytest.mark.slow
def test_two_kernels_making_the_same_edit_at_once_submit_it_once(
    race_emu: emulator.Emulator, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    before = race_emu.stats()["totals"]["submits"]
    said = race(race_emu, home, ["oil painting of <<<image_1>>>"] * 2)
    assert [s.split()[0] for s in said] == ["ok", "ok"], said
    assert said[0].split()[1] == said[1].split()[1]  # the same pictures: one was replayed
    assert race_emu.stats()["totals"]["submits"] - before == 1
    rows = journal_for(home).entries()
    assert sorted(bool(e.replay_of) for e in rows) == [False, True]


def test_threads_racing_for_a_budget_never_pass_it(race_emu: emulator.Emulator, home: Path) -> None:
    conn = kling_nb.connect(env=dict(kernel_env(race_emu, home)), quiet=True)
    kling_nb.set_budget("0.056", "USD")  # two images
    before = race_emu.stats()["totals"]["submits"]
    outcomes: list[object] = []
    start = threading.Barrier(6)

    def one(n: int) -> None:
        start.wait()
        try:
            outcomes.append(
                kling_nb.edit(
                    f"style {n} of <<<image_1>>>", picture(n), progress=False, connection=conn
                )
            )
        except KlingBudgetError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    paid = [o for o in outcomes if not isinstance(o, KlingBudgetError)]
    assert len(outcomes) == 6 and len(paid) == 2
    assert race_emu.stats()["totals"]["submits"] - before == 2
    assert kling_nb.budget().spent == kling_nb.budget().amount


def test_two_identical_async_edits_at_once_submit_once(
    race_emu: emulator.Emulator, home: Path
) -> None:
    conn = kling_nb.connect(env=dict(kernel_env(race_emu, home)), quiet=True)
    before = race_emu.stats()["totals"]["submits"]

    async def both() -> list[kling_nb.EditResult]:
        edit = kling_nb.edit_async(
            "sketch of <<<image_1>>>", picture(9), progress=False, connection=conn
        )
        again = kling_nb.edit_async(
            "sketch of <<<image_1>>>", picture(9), progress=False, connection=conn
        )
        return list(await asyncio.gather(edit, again))

    first, second = asyncio.run(both())
    assert first.request_id == second.request_id
    assert race_emu.stats()["totals"]["submits"] - before == 1
    assert [im.path.read_bytes() for im in first] == [im.path.read_bytes() for im in second]


def picture(n: int) -> Image.Image:
    img = Image.linear_gradient("L").resize((480, 360)).convert("RGB")
    img.paste((20 * n % 255, 90, 160), (60, 60, 160, 160))
    return img
