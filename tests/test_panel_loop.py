"""EditPanel on an event loop, as in a kernel: widget changes happen on the loop's thread
only, `wait()` from a cell pumps the loop it blocks, and widgets do not leak."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets
import pytest
from PIL import Image

from kling_nb import EditPanel
from kling_nb._config import Connection
from kling_nb._results import Comparison, EditResult
from kling_nb.panel.compat import live_widgets

pytestmark = pytest.mark.timeout(90)

WAIT = 15.0
PROMPT = "turn <<<image_1>>> into a watercolor"


def photo(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG")
    return out.getvalue()


class Changes(list[tuple[int, str, str]]):
    """Widget trait changes and openings, (thread id, widget type, trait), of the widgets
    opened while the test runs: panels left by earlier tests (still finishing a worker's
    step in script mode) are not this test's."""

    def __init__(self) -> None:
        super().__init__()
        self.mine: set[int] = set()
        self.owners: list[int] = []


@pytest.fixture
def widget_changes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Changes]:
    """Every trait change and opening of a widget made during the test."""
    changes = Changes()
    notify, open_ = ipywidgets.Widget.notify_change, ipywidgets.Widget.open

    def notify_change(self: Any, change: Any) -> None:
        if id(self) in changes.mine:
            changes.append((threading.get_ident(), type(self).__name__, change["name"]))
        notify(self, change)

    def opened(self: Any) -> None:
        changes.mine.add(id(self))
        changes.append((threading.get_ident(), type(self).__name__, "<open>"))
        open_(self)

    monkeypatch.setattr(ipywidgets.Widget, "notify_change", notify_change)
    monkeypatch.setattr(ipywidgets.Widget, "open", opened)
    yield changes


def _off(changes: list[tuple[int, str, str]], thread: int) -> list[tuple[int, str, str]]:
    return [change for change in changes if change[0] != thread]


def test_in_a_kernel_loop_widgets_change_only_on_its_thread(
    conn: Connection,
    widget_changes: list[tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made_on: list[int] = []
    sheet = Comparison.sheet

    def noted_sheet(self: Comparison) -> bytes:
        made_on.append(threading.get_ident())
        return sheet(self)

    monkeypatch.setattr(Comparison, "sheet", noted_sheet)

    async def session() -> tuple[int, EditPanel]:
        # Each block is a cell; between them the loop runs, as the kernel's does.
        panel = EditPanel(conn, prompt=PROMPT, images=[photo((0, 140, 0))])
        panel.num_images = 2
        future = panel.run()
        await asyncio.wrap_future(future)  # the cell ended; the job's news arrives meanwhile
        await asyncio.sleep(0)
        assert len(panel.widgets.gallery.children) == 2  # rendered by the loop, not the worker
        assert "#1 · done" in panel.widgets.status.value
        assert panel.toggle_compare()  # the before/after picture: made off the loop
        await _until(lambda: panel.widgets.compare_image.layout.display is None)
        assert panel.widgets.compare_image.value[:2] == b"\xff\xd8"
        panel.use_as_input(1)
        panel.run()
        panel.cancel()
        assert panel.wait(WAIT) is None  # a cell that waits: the wait pumps the loop
        assert "cancelled" in panel.widgets.status.value
        return threading.get_ident(), panel

    loop_thread, panel = asyncio.run(session())
    assert len(widget_changes) > 100  # the check saw the panel at work
    assert _off(widget_changes, loop_thread) == []
    assert [run.state for run in panel.history] == ["completed", "cancelled"]
    assert len(made_on) == 1 and made_on[0] != loop_thread


async def _until(done: Callable[[], bool], timeout: float = WAIT) -> None:
    """Let the loop run (as between cells) until `done()`."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.01)


def _free(lock: Any) -> bool:
    """True if another thread can take `lock` within a second."""
    if not lock.acquire(timeout=1.0):
        return False
    lock.release()
    return True


def test_a_slow_comparison_neither_blocks_the_loop_nor_holds_the_model(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # compare() decodes every picture and may fetch inputs given as URLs (30 s timeout):
    # here it hangs until released, and the panel must go on meanwhile.
    release = threading.Event()
    compare = EditResult.compare

    def hanging(self: EditResult) -> Comparison:
        release.wait(WAIT)
        return compare(self)

    monkeypatch.setattr(EditResult, "compare", hanging)

    async def session() -> None:
        panel = EditPanel(conn, prompt=PROMPT, images=[photo((120, 0, 120))])
        await asyncio.wrap_future(panel.run())
        started = time.monotonic()
        assert panel.toggle_compare()
        panel.prompt = "now <<<image_1>>> in ink"  # the model and the views answer at once
        await asyncio.sleep(0.05)  # and the loop keeps running
        assert time.monotonic() - started < 1.0
        assert "Preparing the before/after picture" in panel.widgets.compare_note.value
        assert panel.widgets.compare_image.layout.display == "none"
        assert panel.widgets.prompt.value == "now <<<image_1>>> in ink"
        assert await asyncio.to_thread(_free, panel._model.lock), "the lock is held meanwhile"
        release.set()
        await _until(lambda: panel.widgets.compare_image.layout.display is None)
        assert panel.widgets.compare_note.layout.display == "none"

    try:
        asyncio.run(asyncio.wait_for(session(), WAIT + 5))
    finally:
        release.set()


def test_a_cell_that_runs_then_waits_gets_its_result_and_current_widgets(
    conn: Connection,
) -> None:
    async def cell() -> None:
        panel = EditPanel(conn, prompt=PROMPT, images=[photo((0, 0, 160))])
        panel.run()
        result = panel.wait(WAIT)  # the loop this cell blocks is the one the panel needs
        assert result is not None
        assert len(panel.widgets.gallery.children) == 1  # no await since run(): pumped
        assert result.request_id[:8] in panel.widgets.status.value
        assert not panel.widgets.run.disabled and panel.widgets.cancel.disabled

    asyncio.run(asyncio.wait_for(cell(), WAIT + 5))


def test_without_a_loop_widgets_change_only_on_the_panel_loop_thread(
    conn: Connection, widget_changes: list[tuple[int, str, str]]
) -> None:
    panel = EditPanel(conn, prompt=PROMPT, images=[photo((150, 0, 0))])
    assert not panel._dispatch.on_loop()  # a script: the panel's own loop thread serves it
    panel.widgets.run.click()
    assert panel.wait(WAIT) is not None
    panel.widgets.code_toggle.click()
    panel.restore(1)
    assert "kling_nb.edit(" in panel.widgets.code.value
    panel.widgets.compare.click()  # made on a worker, handed to the panel's loop thread
    shown = panel.widgets.compare_image.layout
    assert panel._dispatch.pump_until(lambda: shown.display is None, WAIT)
    assert len(widget_changes) > 100
    assert _off(widget_changes, panel._dispatch.thread_id) == []


def test_live_widget_models_do_not_grow_over_100_operations(conn: Connection) -> None:
    panel = EditPanel(conn, prompt=PROMPT)
    for color in ((200, 0, 0), (0, 200, 0), (0, 0, 200)):
        panel.add_image(photo(color))
    panel.run()
    assert panel.wait(WAIT) is not None
    before = live_widgets()
    for i in range(100):
        step = i % 10
        if step < 4:
            panel.move_image(1 + i % 3, 1 + (i + 1) % 3)
        elif step == 4:
            panel.prompt = f"{PROMPT} #{i}"
        elif step == 5:
            panel.toggle_code()
        elif step == 6:
            panel.remove_image(3)
            panel.use_as_input(0)
        elif step == 7 and i < 50:
            panel.run()
            panel.wait(WAIT)
        elif step == 8:
            panel.restore(1)
        else:
            panel.toggle_compare()
    after = live_widgets()
    assert len(panel.history) == 6
    assert after <= before * 1.10, (before, after)


def test_a_click_from_another_thread_is_served_while_a_cell_waits(conn: Connection) -> None:
    # ipykernel 7 may read the page's messages on a subshell thread: a Cancel click then
    # arrives there while the loop's thread sits in a cell's wait(), which must serve it.
    async def cell() -> None:
        panel = EditPanel(conn, prompt=PROMPT, images=[photo((90, 90, 0))])
        panel.num_images = 4  # long enough to be cancelled mid-way
        panel.run()
        clicker = threading.Thread(target=panel.widgets.cancel.click, name="subshell")
        clicker.start()
        assert panel.wait(WAIT) is None  # cancelled, not a deadlock
        clicker.join(WAIT)
        assert not clicker.is_alive() and panel.history[-1].state == "cancelled"
        assert "cancelled" in panel.widgets.status.value

    asyncio.run(asyncio.wait_for(cell(), WAIT + 5))


def test_drawing_a_region_changes_widgets_only_on_the_loop_thread(
    conn: Connection, widget_changes: list[tuple[int, str, str]]
) -> None:
    # Image 1 is decoded for the drawing surface on a worker, the region's plan is made on a
    # worker, the drift is measured on a worker; a box drawn in the page arrives on the
    # thread that reads the page's messages. Only the page's own trait changes happen there.
    page_thread: list[int] = []

    def from_the_page(surface: Any, box: list[int]) -> None:
        page_thread.append(threading.get_ident())
        surface.set_state({"box": box})

    async def session() -> tuple[int, EditPanel]:
        panel = EditPanel(conn, prompt=PROMPT, images=[photo((0, 140, 0))])
        panel.widgets.region_toggle.value = True  # "Mark a region on image 1"
        await _until(lambda: panel.region_surface is not None)
        surface = panel.region_surface
        page = threading.Thread(target=from_the_page, args=(surface, [100, 80, 400, 300]))
        page.start()
        await _until(lambda: not page.is_alive())  # its call waited for the loop: now done
        assert panel.region == (100, 80, 400, 300) and panel.resolution == "auto"
        plan = panel.widgets.region_parts().plan
        await _until(lambda: "sent at 1K" in plan.value)
        result = await asyncio.wrap_future(panel.run())
        await asyncio.sleep(0)
        assert [(im.width, im.height) for im in result.images] == [(640, 480)]
        caption = panel.widgets.gallery.children[0].children[1].value
        assert "kling-nb-drift" in caption and "ΔE" in caption
        panel.add_image(photo((0, 0, 140)))
        panel.move_image(2, 1)  # another image 1: another surface, made the same way
        await _until(lambda: panel.region_surface not in (None, surface))
        assert panel.region is None and surface.comm is None
        return threading.get_ident(), panel

    loop_thread, panel = asyncio.run(asyncio.wait_for(session(), WAIT + 10))
    page_own = {("RegionCanvas", "box"), ("RegionCanvas", "_property_lock")}
    off = _off(widget_changes, loop_thread)
    off = [c for c in off if not (c[0] in page_thread and c[1:] in page_own)]
    assert off == []
    assert any(c[0] in page_thread for c in widget_changes)  # the page's change was seen
    assert [run.region for run in panel.history] == [(100, 80, 400, 300)]
    panel.close()
