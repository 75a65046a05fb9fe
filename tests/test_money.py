"""Money: prices with their sources, estimates that match what is billed, a budget that
refuses before anything is sent, fingerprints, replays, and the journal's migration."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import kling_nb
from kling_nb import KlingBudgetError, KlingConfigError, KlingO1Request, KlingValidationError
from kling_nb._admission import Pay, Reuse, admit, find_replay, record_replay
from kling_nb._config import FAL_HOST, QINIU_HOST, Connection
from kling_nb._i18n import set_language
from kling_nb._journal import Journal, journal_for
from kling_nb._money import (
    PRICES,
    Cost,
    check_budget,
    cost_of,
    day_totals,
    estimate,
    fingerprint,
    parse_price,
    plan_item,
    price_for,
    row_cost,
    split_by_budget,
    total,
)
from kling_nb._schema import SCHEMA_VERSION, migrate

PROMPT = "watercolor of <<<image_1>>>"


def picture(path: Path, shade: int = 90) -> Path:
    img = Image.linear_gradient("L").resize((400, 300)).convert("RGB")
    img.paste((30, shade, 200), (100, 100, 200, 200))
    img.save(path, "PNG")
    return path


def billed_images(emu: Any, request_id: str) -> int:
    """What the emulator counts as billed for a request (its `billed_images` stat)."""
    facts = emu.stats()["requests"][request_id]
    assert facts["state"] == "COMPLETED"
    return int(facts["billed_images"])


def guarded_edit(conn: Connection, request: KlingO1Request) -> kling_nb.EditResult:
    """A paid edit through the engine: admitted (budget), sent, its cost journaled."""
    return kling_nb.edit(
        request.prompt,
        list(request.images),
        num_images=request.num_images,
        progress=False,
        connection=conn,
        fresh=True,
    )


@pytest.fixture
def fal_conn(conn: Connection) -> Connection:
    """The test emulator priced as fal (the profile it imitates)."""
    return replace(conn, profile="fal")


# --- prices ------------------------------------------------------------------------------------


def test_fal_price_is_published_figure_with_source_and_date() -> None:
    price = PRICES["fal"]
    assert (price.amount, price.currency) == (Decimal("0.028"), "USD")
    assert "fal-ai/kling-image/o1" in repr(price) and price.as_of == "2026-11-30"
    assert repr(price).startswith("0.028 USD per output image (fal.ai")
    assert "qiniu" not in PRICES  # no published Qiniu figure: never a guess


def test_price_per_service_real_and_emulated() -> None:
    fal = Connection("fal", FAL_HOST, "k", "fal")
    qiniu = Connection("qiniu", QINIU_HOST, "k", "qiniu")
    assert price_for(fal) == PRICES["fal"] and not price_for(fal).emulated  # type: ignore[union-attr]
    assert price_for(qiniu) is None
    mine = parse_price("0.2 CNY", "KLING_NB_PRICE")
    assert price_for(replace(qiniu, price=mine)) == mine
    emulated_fal = price_for(Connection("local", "127.0.0.1:5000", "k", "fal"))
    assert emulated_fal is not None and emulated_fal.emulated
    assert repr(emulated_fal).endswith("; emulated, not billed")
    assert price_for(Connection("local", "127.0.0.1:5000", "k", "qiniu")) is None
    plain = price_for(Connection("local", "127.0.0.1:5000", "k", "plain"))
    assert plain is not None and plain.emulated and plain.amount == Decimal("0.028")


def test_unknown_cost_says_how_to_know_it(conn: Connection) -> None:
    plan = estimate(PROMPT, kling_nb.sample_image(), num_images=2, connection=conn)
    assert plan.total.amount is None and plan.images == 2
    text = repr(plan)
    assert "unknown price × 2 image(s)" in text and "KLING_NB_PRICE" in text


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("0.2 CNY", "0.2", "CNY"),
        ("$0.028", "0.028", "USD"),
        ("¥1", "1", "CNY"),
        ("0.5usd", "0.5", "USD"),
    ],
)
def test_price_text_forms(text: str, amount: str, currency: str) -> None:
    price = parse_price(text)
    assert (price.amount, price.currency) == (Decimal(amount), currency)


@pytest.mark.parametrize("text", ["0.2", "cheap", "-1 USD", "$1 CNY", "1 EURO"])
def test_bad_price_names_the_variable_and_the_fix(text: str) -> None:
    with pytest.raises(KlingConfigError) as info:
        parse_price(text, "KLING_NB_PRICE")
    assert "KLING_NB_PRICE" in str(info.value) and repr(text) in str(info.value)
    assert "0.2 CNY" in str(info.value)


def test_price_from_environment_and_connect(env: dict[str, str]) -> None:
    conn = kling_nb.connect(env={**env, "KLING_NB_PRICE": "0.2 CNY"}, quiet=True)
    assert conn.price is not None and conn.price.currency == "CNY"
    assert repr(price_for(conn)).endswith("emulated, not billed")
    conn = kling_nb.connect(env={**env, "KLING_NB_PRICE": "0.2 CNY"}, quiet=True, price="$0.03")
    assert conn.price is not None and conn.price.amount == Decimal("0.03")
    with pytest.raises(KlingConfigError, match="KLING_NB_PRICE"):
        kling_nb.connect(env={**env, "KLING_NB_PRICE": "lots"}, quiet=True)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_price_source_is_said_in_words_in_the_users_language(lang: str) -> None:
    from kling_nb import _price
    from kling_nb._i18n import MESSAGES
    from kling_nb._price import Price
    from kling_nb.classroom import _join, _server

    set_language(lang)
    try:
        for source in (
            _price.FAL_PRICE_SOURCE,
            _price.USER_PRICE_SOURCE,
            _server.USER_PRICE_SOURCE,
            _join.PRICE_SOURCE,
        ):
            price = Price(Decimal("0.2"), "CNY", source)
            words = price.source_words()
            assert words == MESSAGES[source][lang] and words in repr(price), (source, words)
            assert "price.source" not in repr(price)
    finally:
        set_language(None)


def test_costs_show_in_chinese_too() -> None:
    set_language("zh")
    assert repr(PRICES["fal"].cost(3)) == "3 张图片共 0.084 USD"
    assert "模拟计费" in repr(replace(PRICES["fal"], emulated=True))


def test_cost_of_guide_arguments_counts_their_images() -> None:
    fal = Connection("fal", FAL_HOST, "k", "fal")
    assert cost_of(fal, {"prompt": PROMPT, "image_urls": []}).amount == Decimal("0.028")
    assert cost_of(fal, {"prompt": PROMPT, "num_images": 9}).amount == Decimal("0.252")


def test_cost_sums_are_exact_and_unknown_stays_unknown() -> None:
    fal = PRICES["fal"]
    assert total(fal.cost(1) for _ in range(10)).amount == Decimal("0.280")
    assert total([fal.cost(1), Cost(2, None)]).amount is None
    assert total([fal.cost(1), parse_price("1 CNY").cost(1)]).amount is None


# --- estimates ---------------------------------------------------------------------------------


def test_estimate_of_an_edit_equals_what_the_emulator_bills(emu, fal_conn: Connection) -> None:  # type: ignore[no-untyped-def]
    before = emu.stats()["totals"]["submits"]
    plan = estimate(PROMPT, kling_nb.sample_image(), num_images=3, connection=fal_conn)
    assert emu.stats()["totals"]["submits"] == before  # an estimate sends nothing
    assert plan.total.amount == Decimal("0.084") and plan.total.emulated
    assert plan.requests[0].num_images == 3
    result = kling_nb.edit(
        PROMPT, kling_nb.sample_image(), num_images=3, progress=False, connection=fal_conn
    )
    assert billed_images(emu, result.request_id) == plan.images == 3


def test_estimate_of_a_grid_equals_what_the_emulator_bills(emu, fal_conn: Connection) -> None:  # type: ignore[no-untyped-def]
    grid = kling_nb.request_grid(
        [PROMPT, "pencil sketch of <<<image_1>>>"], kling_nb.sample_image(), num_images=[1, 2]
    )
    plan = estimate(grid, connection=fal_conn)
    assert plan.images == 6 and plan.total.amount == Decimal("0.168")
    outcome = kling_nb.run_batch(grid, progress=False, connection=fal_conn)
    billed = sum(billed_images(emu, r.request_id) for r in outcome.results)
    assert billed == plan.images
    lines = repr(plan).splitlines()
    assert lines[2].split() == ["#", "images", "cost", "request"] and len(lines) == 7


def test_estimate_checks_every_rule_and_keeps_batch_errors_per_item(fal_conn: Connection) -> None:
    with pytest.raises(KlingValidationError, match="num_images"):
        estimate(PROMPT, kling_nb.sample_image(), num_images=12, connection=fal_conn)
    plan = estimate(
        [
            {"prompt": PROMPT, "image_urls": [str(kling_nb.sample_image())], "num_images": 2},
            {"prompt": PROMPT, "image_urls": [str(kling_nb.sample_image())], "num_images": 99},
        ],
        connection=fal_conn,
    )
    assert [i.error is None for i in plan.items] == [True, False]
    assert plan.images == 2 and len(plan.requests) == 1
    assert "invalid, would not be sent" in repr(plan)


# --- budget ------------------------------------------------------------------------------------


def test_budget_refuses_at_the_boundary_with_nothing_sent(emu, fal_conn: Connection) -> None:  # type: ignore[no-untyped-def]
    kling_nb.set_budget("0.056 USD")
    request = KlingO1Request(PROMPT, [kling_nb.sample_image()], num_images=2)
    guarded_edit(fal_conn, request)  # exactly what is left: allowed
    state = kling_nb.budget()
    assert (state.spent, state.left, state.emulated) == (Decimal("0.056"), 0, Decimal("0.056"))
    submits = emu.stats()["totals"]["submits"]
    with pytest.raises(KlingBudgetError) as info:
        guarded_edit(fal_conn, request.with_(num_images=1))
    assert emu.stats()["totals"]["submits"] == submits
    text = str(info.value)
    assert "0.028 USD" in text and "only 0 USD is left" in text and "set_budget" in text
    assert info.value.left == 0


def test_budget_with_an_unknown_price_refuses_rather_than_guesses(conn: Connection) -> None:
    kling_nb.set_budget(1, "usd")
    plan = estimate(PROMPT, kling_nb.sample_image(), connection=conn)
    with pytest.raises(KlingBudgetError, match="cannot be checked"):
        check_budget(plan.total)
    kling_nb.set_budget(None)
    check_budget(plan.total)  # no budget, nothing to refuse
    assert "No budget" in repr(kling_nb.budget())


def test_batch_split_sends_only_whole_items_that_fit(emu, fal_conn: Connection) -> None:  # type: ignore[no-untyped-def]
    kling_nb.set_budget(Decimal("0.084"), "USD")
    grid = kling_nb.request_grid(PROMPT, kling_nb.sample_image(), num_images=[2, 2, 1])
    plan = estimate(grid, connection=fal_conn)
    fits, refused = split_by_budget([item.cost for item in plan.items])
    assert fits == [0, 2] and [index for index, _ in refused] == [1]
    assert isinstance(refused[0][1], KlingBudgetError)
    submits = emu.stats()["totals"]["submits"]
    kling_nb.run_batch([grid[i] for i in fits], progress=False, connection=fal_conn)
    assert emu.stats()["totals"]["submits"] == submits + 2


@pytest.mark.parametrize("amount", [-1, "lots", True, float("nan")])
def test_bad_budget_names_the_value_and_the_fix(home: Path, amount: Any) -> None:
    with pytest.raises(KlingConfigError, match=r"set_budget"):
        kling_nb.set_budget(amount, "USD")


def test_budget_needs_a_currency(home: Path) -> None:
    with pytest.raises(KlingConfigError, match="three-letter currency"):
        kling_nb.set_budget(5)


def test_budget_survives_a_new_process(home: Path) -> None:
    env = {"KLING_NB_HOME": str(home), "PATH": "/usr/bin:/bin"}

    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    subprocess.run(
        [sys.executable, "-c", "import kling_nb; kling_nb.set_budget(3, 'usd')"],
        env=env,
        check=True,
        timeout=60,
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import kling_nb; b = kling_nb.budget(); print(b.amount, b.currency, b.left)",
        ],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.split() == ["3", "USD", "3"]


# --- fingerprints ------------------------------------------------------------------------------


def _print(conn: Connection, *images: Path | str, **params: Any) -> str:
    item = plan_item(conn, KlingO1Request(PROMPT, list(images), **params), strict=True)
    assert item.fingerprint is not None
    return item.fingerprint


def test_fingerprint_follows_image_bytes_not_paths(tmp_path: Path) -> None:
    conn = Connection("local", "127.0.0.1:4000", "k", "fal")
    first = picture(tmp_path / "a.png")
    copy = shutil.copy(first, tmp_path / "elsewhere.png")
    assert _print(conn, first) == _print(conn, copy)
    before = _print(conn, first)
    picture(first, shade=91)  # one square one shade lighter, same path
    assert _print(conn, first) != before


def test_fingerprint_follows_parameters_prompt_and_service(tmp_path: Path) -> None:
    conn = Connection("local", "127.0.0.1:4000", "k", "fal")
    image = picture(tmp_path / "a.png")
    base = _print(conn, image)
    assert _print(conn, image, num_images=2) != base
    assert _print(conn, image, resolution="2K") != base
    item = plan_item(conn, KlingO1Request(PROMPT + "!", [image]))
    assert item.fingerprint != base
    # An emulator counts as the service it imitates, whatever its port this kernel.
    assert _print(replace(conn, host="127.0.0.1:4001"), image) == base
    assert _print(replace(conn, profile="qiniu"), image) != base
    assert _print(Connection("fal", FAL_HOST, "k", "fal"), image) != base


def test_remote_image_counts_by_its_url() -> None:
    conn = Connection("fal", FAL_HOST, "k", "fal")
    url = "https://example.com/photo.jpg"
    body = {"prompt": PROMPT, "image_urls": [url]}
    assert fingerprint(conn, "e", body) == fingerprint(conn, "e", dict(body))
    assert fingerprint(conn, "e", body) != fingerprint(
        conn, "e", {**body, "image_urls": [url + "?v=2"]}
    )


# --- replays -----------------------------------------------------------------------------------


def test_replay_from_cache_then_url_then_must_pay(
    emu, fal_conn: Connection, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    request = KlingO1Request(PROMPT, [picture(tmp_path / "in.png")], num_images=2)
    item = plan_item(fal_conn, request, strict=True)
    assert item.fingerprint is not None
    assert not find_replay(item.fingerprint) and "must be paid" in repr(
        find_replay(item.fingerprint)
    )
    result = guarded_edit(fal_conn, request)
    found = find_replay(item.fingerprint)
    assert found.source == "cache" and found.entry is not None
    assert found.entry.request_id == result.request_id and len(found.files) == 2
    assert f"Replayed from request {result.request_id}" in repr(found)
    found.files[0].write_bytes(b"<html>gone</html>")  # a broken cache is no cache
    found = find_replay(item.fingerprint)
    assert found.source == "url" and found.until is not None
    later = found.until + 1
    gone = find_replay(item.fingerprint, now=later)
    assert gone.source == "expired" and not gone and "must be paid again" in repr(gone)


def test_replay_is_journaled_at_no_cost(emu, fal_conn: Connection) -> None:  # type: ignore[no-untyped-def]
    kling_nb.set_budget(1, "USD")
    request = KlingO1Request(PROMPT, [kling_nb.sample_image()])
    result = guarded_edit(fal_conn, request)
    item = plan_item(fal_conn, request)
    assert item.fingerprint is not None
    row = record_replay(find_replay(item.fingerprint))
    journal = journal_for(fal_conn.home)
    entry = journal.get(row)
    assert entry is not None and entry.replay_of == result.request_id and entry.cost == "0"
    cost = row_cost(entry)
    assert cost is not None and cost.replay and cost.amount == 0
    assert kling_nb.budget().spent == Decimal("0.028")  # the replay is not spend
    # The replay row is not itself a source of replays: the original stays the answer.
    again = find_replay(item.fingerprint)
    assert again.entry is not None and again.entry.replay_of is None
    totals = day_totals(journal.entries())
    assert totals == {datetime.now().date(): {"USD": Decimal("0.028")}}


# --- the journal's migration -------------------------------------------------------------------

# The schema of journal version 1, as `kling_nb/_journal.py` wrote it at da8f98a.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    state        TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    backend      TEXT NOT NULL,
    host         TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    inputs       TEXT,
    request_id   TEXT,
    response_url TEXT,
    status_url   TEXT,
    cancel_url   TEXT,
    created_at   REAL NOT NULL,
    submitted_at REAL,
    started_at   REAL,
    finished_at  REAL,
    updated_at   REAL NOT NULL,
    result       TEXT,
    error        TEXT,
    error_type   TEXT,
    cached       TEXT,
    saved        TEXT,
    owner        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_request_id ON jobs (request_id);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
"""


def _v1_journal(home: Path) -> list[tuple[Any, ...]]:
    home.mkdir(parents=True)
    db = sqlite3.connect(home / "journal.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(V1_SCHEMA)
    db.execute("PRAGMA user_version=1")
    now = time.time()
    for n, state in enumerate(["completed", "failed", "queued"]):
        db.execute(
            "INSERT INTO jobs (state, endpoint, backend, host, arguments, request_id,"
            " created_at, updated_at, result, cached) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                state,
                "fal-ai/kling-image/o1",
                "fal",
                FAL_HOST,
                f'{{"prompt":"p{n}"}}',
                f"req-{n}",
                now - n,
                now,
                '{"images":[]}',
                "[]",
            ),
        )
    db.commit()
    rows = db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    db.close()
    return rows


def test_a_version_1_journal_is_migrated_with_nothing_dropped(tmp_path: Path) -> None:
    home = tmp_path / "old_home"
    old_rows = _v1_journal(home)
    journal = Journal(home)
    entries = journal.entries()
    assert [e.request_id for e in entries] == ["req-2", "req-1", "req-0"]
    db = sqlite3.connect(home / "journal.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    columns = [r[1] for r in db.execute("PRAGMA table_info(jobs)")]
    v1 = sqlite3.connect(":memory:")
    v1.executescript(V1_SCHEMA)
    assert columns[: len(old_rows[0])] == [r[1] for r in v1.execute("PRAGMA table_info(jobs)")]
    assert {"fingerprint", "cost", "currency", "replay_of"} <= set(columns)
    migrated = [r[: len(old_rows[0])] for r in db.execute("SELECT * FROM jobs ORDER BY id")]
    assert migrated == old_rows
    indexes = [r[1] for r in db.execute("PRAGMA index_list(jobs)")]
    assert "jobs_fingerprint" in indexes
    assert migrate(db) == SCHEMA_VERSION  # a second run is a no-op
    assert [r[: len(old_rows[0])] for r in db.execute("SELECT * FROM jobs ORDER BY id")] == old_rows
    # What version 1 code reads still works on the migrated file.
    assert (
        db.execute("SELECT id, state, request_id FROM jobs WHERE state = 'failed'").fetchone()[2]
        == "req-1"
    )
    db.close()
    assert row_cost(entries[0]) is None  # rows from before money: cost not recorded


def test_kernels_opening_an_old_journal_at_once_migrate_it_once(tmp_path: Path) -> None:
    home = tmp_path / "old_home"
    old_rows = _v1_journal(home)
    code = (
        "import sys; from kling_nb._journal import Journal; "
        "print(len(Journal(sys.argv[1]).entries()))"
    )

    kernels = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for _ in range(3)
    ]
    outputs = [k.communicate(timeout=120) for k in kernels]
    assert [k.returncode for k in kernels] == [0, 0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["3", "3", "3"]
    db = sqlite3.connect(home / "journal.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r[: len(old_rows[0])] for r in db.execute("SELECT * FROM jobs ORDER BY id")] == old_rows
    db.close()


def test_admit_offers_the_replay_first_and_checks_the_budget_otherwise(
    emu, fal_conn: Connection, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    request = KlingO1Request(PROMPT, [picture(tmp_path / "a.png", shade=120)])
    body, _ = request.prepare(fal_conn.profile)
    first = admit(fal_conn, request.endpoint, body, request)
    assert isinstance(first, Pay) and first.reservation.cost.amount == Decimal("0.028")
    result = guarded_edit(fal_conn, request)
    kling_nb.set_budget(0, "USD")  # nothing left: only a replay may go ahead
    again = admit(fal_conn, request.endpoint, body, request)
    assert isinstance(again, Reuse) and again.replay.source == "cache"
    entry = again.replay.entry
    assert entry is not None and entry.fingerprint == first.reservation.fingerprint
    assert entry.request_id == result.request_id
    with pytest.raises(KlingBudgetError):
        admit(fal_conn, request.endpoint, body, request, fresh=True)


@pytest.mark.parametrize(
    ("error_type", "spent", "unsure"),
    [
        ("runner_disconnected", "0", "0"),  # fal: server errors are never charged
        ("request_timeout", "0", "0"),
        ("content_policy_violation", "0.028", "0.028"),  # 422: may be charged
        (None, "0.028", "0.028"),  # nothing published: counted, the safe side
    ],
)
def test_a_failed_fal_job_counts_as_fal_bills_it(
    tmp_path: Path, error_type: str | None, spent: str, unsure: str
) -> None:
    from kling_nb._wire import Handle

    home = tmp_path / "home"
    conn = Connection("fal", FAL_HOST, "k-test-1234", "fal", home=home)
    journal = Journal(home)
    kling_nb.set_budget(1, "USD", home=home)
    row = journal.begin(conn, "fal-ai/kling-image/o1", {"prompt": "p"}, cost=("0.028", "USD"))
    base = f"https://{FAL_HOST}/fal-ai/kling-image/requests/r1"
    journal.submitted(row, Handle("r1", base, base + "/status", base + "/cancel"))
    journal.failed(row, "the job failed", error_type)
    state = kling_nb.budget(home=home)
    assert (state.spent, state.unsure) == (Decimal(spent), Decimal(unsure))
