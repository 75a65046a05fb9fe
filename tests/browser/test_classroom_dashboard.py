"""The classroom dashboard in headless Chromium: the teacher's token, students, live jobs,
thumbnails, refreshing by itself — and no key anywhere on the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kling_nb import emulator
from kling_nb.classroom import Classroom

from ..classroom.conftest import APP, add, body, http, open_room
from ..conftest import CANARY_KEY
from .conftest import CHROMIUM, CHROMIUM_ARGS, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Classroom]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (the CI script installs it with apt: chromium)")
    with (
        emulator.start(service_time=0.5, workers=2, seed=11) as emu,
        open_room(tmp_path_factory.mktemp("class"), emu) as gateway,
    ):
        yield gateway


@pytest.fixture
def page(room: Classroom) -> Iterator[tuple[Any, PageProblems]]:
    """A fresh Chromium page (the gateway's own CA is not in Chromium's store: ignored)."""
    from playwright.sync_api import sync_playwright

    problems = PageProblems()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(ignore_https_errors=True, locale="en-US")
        tab = context.new_page()
        tab.on("pageerror", lambda exc: problems.errors.append(str(exc)))
        tab.on(
            "console",
            lambda msg: problems.console.append(msg.text) if msg.type == "error" else None,
        )
        try:
            yield tab, problems
        finally:
            context.close()
            browser.close()


def test_the_dashboard_shows_students_and_a_live_job_with_its_thumbnail(
    room: Classroom, page: tuple[Any, PageProblems]
) -> None:
    tab, problems = page
    token = add(room, "1", name="mia")
    add(room, "0.5", name="noah")
    assert room.teacher_token is not None
    tab.goto(room.dashboard_url)
    tab.wait_for_selector('#students tr[data-student="mia"]', timeout=WAIT_MS)
    assert tab.evaluate("location.hash") == ""  # the token left the address bar
    row = tab.inner_text('#students tr[data-student="noah"]')
    assert "0.5 USD" in row and "emulator" in tab.inner_text("#classline")
    with http(room, token) as web:  # a student submits while the page is open
        rid = web.post(f"/queue/{APP}", json=body(prompt="ink <<<image_1>>>")).json()["request_id"]
    job = f'#jobs tr[data-job="{rid}"]'
    tab.wait_for_selector(job, timeout=WAIT_MS)  # no reload: the page fetched it
    tab.wait_for_function(
        """(sel) => { const img = document.querySelector(sel + ' img');
                      return img && img.complete && img.naturalWidth > 0; }""",
        arg=job,
        timeout=WAIT_MS,
    )
    assert "completed" in tab.inner_text(job) and "ink <<<image_1>>>" in tab.inner_text(job)
    tab.wait_for_function(
        "() => document.querySelector('#students tr[data-student=\"mia\"]').innerText"
        ".includes('0.028 USD')",
        timeout=WAIT_MS,
    )
    html = tab.content()
    assert CANARY_KEY not in html and token not in html and room.teacher_token not in html
    assert problems.errors == [] and problems.console == []


def test_a_wrong_teacher_token_shows_the_gate_in_words(
    room: Classroom, page: tuple[Any, PageProblems], tmp_path: Path
) -> None:
    tab, _ = page
    tab.goto(room.url + "/_classroom/#t=knt_00000000_" + "z" * 32)
    tab.wait_for_selector("#gate:not([hidden])", timeout=WAIT_MS)
    assert "not this class's teacher token" in tab.inner_text("#problem")
    assert tab.is_hidden("#board")
    tab.fill("#token", room.teacher_token or "")
    tab.click("#open")
    tab.wait_for_selector("#board:not([hidden])", timeout=WAIT_MS)
