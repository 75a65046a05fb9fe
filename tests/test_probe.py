"""The paid probe (`doctor(probe=True)`, `kling-nb doctor --probe`) against the emulator's
profiles: the cost and consent first, then what the service answered, saved as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import kling_nb
from kling_nb import KlingConfigError, emulator
from kling_nb._probe import run_probe

from .conftest import CANARY_KEY, connect_to

REPO = Path(__file__).resolve().parents[1]
# What each profile does, as docs/services.md documents the service it imitates.
EXPECTED = {"plain": "confirmed", "qiniu": "unsupported", "fal": "confirmed"}


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
def test_the_probe_records_what_each_service_answered(profile: str, home: Path) -> None:
    with emulator.start(profile=profile, service_time=0.3, workers=1) as emu:
        conn = connect_to(emu, home)
        said: list[str] = []
        found = run_probe(conn, yes=True, say=said.append, timeout=60)
        stats = emu.stats()["totals"]
    assert "billed" in said[0] and "3" in said[0]  # the cost is shown first
    assert found.data_uris_accepted is True and found.submit_error is None
    assert found.statuses_seen[-1] == "COMPLETED" and len(found.images) == 1
    assert found.stream_offered is True
    # The cancel at once: the second job is queued behind the first (one worker) … or not.
    assert found.cancel_outcome in (EXPECTED[profile], "requested", "too_late")
    assert found.refusal["status"] in (400, 422) and found.refusal["at"] in ("submit", "result")
    saved = json.loads(Path(found.path).read_text(encoding="utf-8"))
    assert saved["host"] == emu.host and saved["cancel_outcome"] == found.cancel_outcome
    assert CANARY_KEY not in Path(found.path).read_text(encoding="utf-8")
    assert stats["submits"] == 3 and stats["billed_images"] <= 3


def test_no_consent_sends_nothing(emu, home: Path) -> None:  # type: ignore[no-untyped-def]
    conn = connect_to(emu, home)
    before = emu.stats()["totals"]["submits"]
    with pytest.raises(KlingConfigError, match="nothing was sent"):
        run_probe(conn, ask=lambda question: "n", say=lambda text: None)
    assert emu.stats()["totals"]["submits"] == before


def test_doctor_probe_from_the_cli_asks_first_and_says_what_it_saw(home: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": str(home.parent),
        "KLING_NB_HOME": str(home),
        "KLING_NB_LANG": "en",
    }
    refused = subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "doctor", "--probe"],
        input="n\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert refused.returncode == 2 and "nothing was sent" in refused.stderr
    done = subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "doctor", "--probe", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "Probe of" in done.stdout and "data: URIs accepted: yes" in done.stdout
    assert list((home / "probes").glob("probe-*.json"))
    assert kling_nb  # the package under test
