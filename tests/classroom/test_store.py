"""The class file: hashed tokens, budgets, and one transaction per reservation."""

from __future__ import annotations

import multiprocessing
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from kling_nb._errors import KlingConfigError
from kling_nb.classroom import Store
from kling_nb.classroom._tokens import bearer, token_id

PRICE = Decimal("0.028")


def _reserve(
    store: Store, student_id: int, job: str, cost: Decimal = PRICE, currency: str = "USD"
) -> object:
    return store.reserve(
        student_id,
        job,
        fingerprint="f",
        request={"prompt": "p"},
        images=1,
        cost=cost,
        currency=currency,
        emulated=True,
        max_jobs=99,
    )


def test_tokens_are_stored_only_as_keyed_hashes(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    token = store.add_student("ana", Decimal(1), "USD")
    store.close()
    assert token.startswith("knc_") and token_id(token) is not None
    for path in tmp_path.iterdir():  # the database and its WAL
        assert token.encode() not in path.read_bytes()
        assert token.split("_", 2)[2].encode() not in path.read_bytes()


def test_the_right_token_finds_its_student_and_nothing_else_does(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    token = store.add_student("ana", Decimal(1), "USD")
    assert store.student_by_token(token).name == "ana"  # type: ignore[union-attr]
    wrong_secret = token[:-1] + ("A" if token[-1] != "A" else "B")
    for guess in (wrong_secret, token + "x", "knc_0000000_" + "a" * 32, "", "Key " + token):
        assert store.student_by_token(guess) is None


def test_the_teacher_token_is_its_own_and_a_new_one_replaces_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    student = store.add_student("ana", Decimal(1), "USD")
    first = store.new_teacher_token()
    assert store.teacher_ok(first) and not store.teacher_ok(student)
    second = store.new_teacher_token()
    assert store.teacher_ok(second) and not store.teacher_ok(first)


def test_bearer_reads_key_and_bearer_schemes() -> None:
    assert bearer("Key abc") == bearer("Bearer abc") == bearer("  bearer   abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("Key ") is None and bearer("") is None


def test_a_reservation_refuses_above_the_budget_and_counts_the_refusal(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    store.add_student("ana", PRICE * 2, "USD")
    sid = store.student("ana").id
    assert _reserve(store, sid, "a") is None and _reserve(store, sid, "b") is None
    refusal = _reserve(store, sid, "c")
    assert refusal is not None and refusal.reason == "budget"  # type: ignore[attr-defined]
    assert store.student("ana").spent == PRICE * 2 and store.report()[0]["refusals"] == 1


def test_a_released_reservation_gives_the_cost_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    store.add_student("ana", Decimal(1), "USD")
    sid = store.student("ana").id
    _reserve(store, sid, "a")
    store.release("a", 503, "upstream_unreachable", "down")
    assert store.student("ana").spent == 0 and store.job("a") is None


def _hammer(
    path: str, student_id: int, prefix: str, count: int, queue: multiprocessing.Queue[int]
) -> None:
    store = Store(Path(path))
    accepted = sum(_reserve(store, student_id, f"{prefix}{i}") is None for i in range(count))
    queue.put(accepted)


def test_two_processes_reserving_at_once_never_pass_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "class.sqlite3"
    store = Store(path)
    store.add_student("ana", PRICE * 25, "USD")
    sid = store.student("ana").id
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(str(path), sid, p, 40, queue))
        for p in ("x", "y", "z")
    ]
    for w in workers:
        w.start()
    accepted = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(30)
    assert sum(accepted) == 25
    assert store.student("ana").spent == PRICE * 25
    assert len(store.jobs()) == 25


def test_a_submit_left_unanswered_by_a_stopped_gateway_becomes_unknown(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    store.add_student("ana", Decimal(1), "USD")
    _reserve(store, store.student("ana").id, "a")
    assert store.orphans() == 1
    job = store.job("a")
    assert job is not None and job.state == "unknown" and "never resent" in (job.note or "")
    assert store.student("ana").spent == PRICE  # it may have been billed


@pytest.mark.parametrize("name", ["", "a b", "-x", "..", ".", "x" * 41, "a/b", "a\tb"])
def test_bad_names_are_refused_in_words(tmp_path: Path, name: str) -> None:
    with pytest.raises(KlingConfigError, match="cannot be a student's name"):
        Store(tmp_path / "class.sqlite3").add_student(name, None, "")


def test_names_in_any_script_are_welcome(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    store.add_student("王小明", None, "")
    assert store.student("王小明").budget is None


def test_a_top_up_in_another_currency_replaces_an_unspent_budget_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "class.sqlite3")
    store.add_student("ana", Decimal(1), "USD")
    assert store.top_up("ana", Decimal(5), "CNY").currency == "CNY"
    assert _reserve(store, store.student("ana").id, "a", Decimal("0.2"), "CNY") is None
    with pytest.raises(KlingConfigError, match="must be in CNY"):
        store.top_up("ana", Decimal(1), "USD")
    assert store.top_up("ana", Decimal(1), "CNY").budget == 6


def test_the_class_file_is_a_plain_sqlite_database(tmp_path: Path) -> None:
    Store(tmp_path / "class.sqlite3").add_student("ana", Decimal(1), "USD")
    with sqlite3.connect(tmp_path / "class.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM students").fetchone()[0] == 1
