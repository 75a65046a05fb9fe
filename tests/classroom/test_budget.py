"""Budgets and job slots: checked and reserved in one step, so no race passes a budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from kling_nb import emulator
from kling_nb.classroom import Classroom

from .conftest import APP, add, body, http, open_room, wait_for

PRICE = Decimal("0.028")  # the plain profile's emulated price per image
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Classroom]:
    """Slow jobs and many slots: the budget, not the slot limit, is what binds here."""
    with (
        emulator.start(service_time=1.5, workers=2, seed=1) as emu,
        open_room(tmp_path_factory.mktemp("class"), emu, max_jobs_per_student=50) as room,
    ):
        yield room


def _submit(room: Classroom, token: str, images: int = 1) -> tuple[int, dict[str, object]]:
    with http(room, token) as web:
        answer = web.post(f"/queue/{APP}", json=body(num_images=images))
    return answer.status_code, answer.json()


def test_a_request_that_fits_exactly_passes_and_one_more_image_is_refused(
    roomy: Classroom,
) -> None:
    token = add(roomy, str(PRICE * 3), name="exact")
    assert _submit(roomy, token, 3)[0] == 200
    code, answer = _submit(roomy, token, 1)
    assert code == 402 and answer["error_type"] == "budget_exceeded"
    assert "0.028 USD" in str(answer["detail"]) and "0 USD left of 0.084 USD" in str(
        answer["detail"]
    )
    assert roomy.store.student("exact").spent == PRICE * 3


def test_the_refusal_names_the_cost_and_what_is_left(roomy: Classroom) -> None:
    token = add(roomy, "0.05", name="names_cost")
    code, answer = _submit(roomy, token, 2)
    assert code == 402
    assert (answer["cost"], answer["left"], answer["currency"]) == ("0.056", "0.05", "USD")
    assert "fewer images" in str(answer["detail"]) and "top-up" in str(answer["detail"])


def test_two_students_racing_each_stay_within_their_own_budget(roomy: Classroom) -> None:
    tokens = {name: add(roomy, "0.1", name=name) for name in ("race_a", "race_b")}
    jobs = [tokens["race_a"], tokens["race_b"]] * 8
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda t: _submit(roomy, t)[0], jobs))
    assert sorted(set(codes)) == [200, 402]
    for name in tokens:
        student = roomy.store.student(name)
        assert student.spent == PRICE * 3 <= student.budget  # type: ignore[operator]
    assert codes.count(200) == 6


@pytest.mark.slow
def test_one_student_from_two_kernels_at_once_never_passes_the_budget(roomy: Classroom) -> None:
    token = add(roomy, "0.2", name="two_kernels")  # 7 images fit (0.196), the 8th does not
    script = textwrap.dedent(
        """
        import json, sys
        from concurrent.futures import ThreadPoolExecutor
        import fal_client
        from tests.classroom.conftest import body
        def one(_):
            try:
                fal_client.submit("fal-ai/kling-image/o1", body())
                return 200
            except fal_client.FalClientHTTPError as exc:
                return exc.status_code
        with ThreadPoolExecutor(6) as pool:
            print(json.dumps(list(pool.map(one, range(6)))))
        """
    )
    env = {
        **os.environ,
        **roomy.env(token),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    kernels = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    codes = [code for k in kernels for code in json.loads(k.communicate(timeout=120)[0])]
    assert codes.count(200) == 7 and codes.count(402) == 5
    assert roomy.store.student("two_kernels").spent == PRICE * 7


def test_a_budget_refusal_sends_nothing_upstream(roomy: Classroom) -> None:
    token = add(roomy, "0.01", name="broke")
    before = len(roomy.store.jobs())
    assert _submit(roomy, token)[0] == 402
    assert len(roomy.store.jobs()) == before
    assert roomy.store.report()[-1]["refusals"] == 1


def test_a_top_up_lets_the_student_continue(roomy: Classroom) -> None:
    token = add(roomy, "0.01", name="topped")
    assert _submit(roomy, token)[0] == 402
    roomy.store.top_up("topped", Decimal("0.05"), "USD")  # as `kling-nb classroom top-up` does
    assert _submit(roomy, token)[0] == 200


def test_jobs_at_once_are_limited_per_student_in_words(tmp_path: Path) -> None:
    with (
        emulator.start(service_time=5.0, workers=2) as emu,
        open_room(tmp_path / "class", emu, max_jobs_per_student=2) as room,
    ):
        token = add(room, "5")
        with http(room, token) as web:
            first = [web.post(f"/queue/{APP}", json=body()) for _ in range(2)]
            third = web.post(f"/queue/{APP}", json=body())
            assert [a.status_code for a in first] == [200, 200]
            assert (
                third.status_code == 429 and "the limit is 2 per student" in third.json()["detail"]
            )
            assert third.headers["Retry-After"]
            for answer in first:  # a cancel frees the slot once the job ends
                web.put(answer.json()["status_url"].removesuffix("/status") + "/cancel")
            wait_for(lambda: all(not j.active for j in room.store.jobs()))
            assert web.post(f"/queue/{APP}", json=body()).status_code == 200


def test_without_a_price_a_budgeted_student_is_refused_in_words(
    tmp_path: Path,
) -> None:
    with (
        emulator.start(service_time=0.2, profile="qiniu") as emu,
        open_room(tmp_path / "class", emu) as room,
    ):
        code, answer = _submit(room, add(room, "1"))
    assert code == 402 and "--price" in str(answer["detail"])
