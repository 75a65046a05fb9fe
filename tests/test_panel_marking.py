"""Marking a region in the EditPanel, without a browser: the "Mark a region" button puts a
drawing surface (`region_picker`) on image 1, its box and the panel's region follow each
other both ways, the plan says what a Run will send, image 1 changing remakes the surface,
the core-widgets fallback does the same, and the gallery shows each result's drift
(tests/browser/test_panel_region_browser.py draws with a real mouse)."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kling_nb import EditPanel, KlingError
from kling_nb._config import Connection
from kling_nb._results import EditResult
from kling_nb.panel import runner as panel_runner
from kling_nb.panel.compat import live_widgets
from kling_nb.panel.region import RegionFields, canvas_class

pytestmark = pytest.mark.timeout(60)

WAIT = 15.0
PROMPT = "put a red hat on the cat in <<<image_1>>>"


def photo(size: tuple[int, int], color: tuple[int, int, int] = (30, 160, 60)) -> bytes:
    img = Image.radial_gradient("L").resize(size).convert("RGB")
    img.paste(color, (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "garden.jpg"
    path.write_bytes(photo((800, 600)))
    return path


@pytest.fixture
def panel(conn: Connection, photo_file: Path) -> Any:
    made = EditPanel(conn, prompt=PROMPT, images=[photo_file])
    yield made
    made.close()


def surface_of(panel: EditPanel) -> Any:
    """The drawing surface, once image 1 has been made ready to draw on (on a worker)."""
    assert panel._dispatch.pump_until(lambda: panel.region_surface is not None, WAIT)
    return panel.region_surface


def from_the_page(surface: Any, box: Any) -> None:
    """What a box drawn in the browser does: the page's state arrives on another thread."""
    done = threading.Thread(target=surface.set_state, args=({"box": box},), name="comm")
    done.start()
    done.join(WAIT)


def test_the_mark_button_puts_a_surface_on_image_1_that_sets_the_region(panel: EditPanel) -> None:
    ws = panel.widgets
    assert ws.region_toggle.layout.display is None  # offered: there is an image 1
    assert ws.region is None and panel.region_surface is None
    ws.region_toggle.value = True  # the click, as the page sends it
    parts = ws.region_parts()
    assert ws.region_section.layout.display is None
    surface = surface_of(panel)
    assert type(surface).__name__ == "RegionCanvas" and tuple(surface.size) == (800, 600)
    assert list(parts.surface.children) == [surface] and parts.note.layout.display == "none"
    from_the_page(surface, [200, 150, 600, 450])
    assert panel.region == (200, 150, 600, 450) and panel.resolution == "auto"
    assert "(200, 150, 600, 450)" in parts.text.value and not parts.clear.disabled
    assert panel._dispatch.pump_until(lambda: "crop" in parts.plan.value, WAIT)
    assert "sent at 1K" in parts.plan.value and "region=(200, 150, 600, 450)," in panel.code()
    panel.region = (10, 20, 400, 300)  # from code: the surface follows
    assert surface.box == (10, 20, 400, 300)
    parts.clear.click()
    assert panel.region is None and surface.box is None and panel.resolution == "1K"
    ws.region_toggle.value = False
    assert panel.region_surface is None and ws.region_section.layout.display == "none"
    assert surface.comm is None  # closed: its model left the kernel


def test_the_surface_goes_with_the_last_image_and_marking_stops(panel: EditPanel) -> None:
    panel.mark_region()
    surface = surface_of(panel)
    surface.box = (0, 0, 800, 600)
    assert panel.region == (0, 0, 800, 600)
    panel.clear_images()
    assert panel.region_surface is None and surface.comm is None and panel.region is None
    toggle = panel.widgets.region_toggle
    assert not toggle.value and toggle.layout.display == "none"


def test_a_new_image_1_gets_its_own_surface_and_restore_brings_the_region_back(
    panel: EditPanel,
) -> None:
    panel.add_image(photo((600, 900), (200, 40, 40)))
    panel.mark_region()
    first = surface_of(panel)
    panel.region = (100, 100, 500, 400)
    assert panel.run().result(WAIT) is not None
    panel.move_image(2, 1)  # image 1 is another picture now
    assert panel.region is None and "region was cleared" in panel.widgets.notice.value
    second = surface_of(panel)
    assert second is not first and tuple(second.size) == (600, 900) and first.comm is None
    panel.restore(1)
    third = surface_of(panel)
    assert tuple(third.size) == (800, 600) and third.box == (100, 100, 500, 400)
    assert panel.region == (100, 100, 500, 400) and panel.resolution == "auto"


def test_without_anywidget_the_fields_draw_the_region(
    panel: EditPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    canvas_class.cache_clear()
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget → ImportError
    try:
        panel.mark_region()
        fields = surface_of(panel)
        assert isinstance(fields, RegionFields)
        for field, value in zip(fields.fields, (100, 50, 500, 450), strict=True):
            field.value = value  # typed in the page, one field after another
        assert panel.region == (100, 50, 500, 450)
        panel.region = (0, 0, 80, 60)
        assert [f.value for f in fields.fields] == [0, 0, 80, 60]
    finally:
        canvas_class.cache_clear()


def test_a_web_image_1_cannot_be_drawn_on_and_the_panel_says_why(conn: Connection) -> None:
    panel = EditPanel(conn, images=["https://example.com/garden.jpg"])
    panel.mark_region()
    note = panel.widgets.region_parts().note
    assert panel._dispatch.pump_until(lambda: "cannot be drawn" in note.value, WAIT)
    assert "example.com" in note.value and panel.region_surface is None
    panel.close()


def test_a_region_its_plan_cannot_use_is_said_before_anything_is_sent(
    panel: EditPanel, emu: Any
) -> None:
    submits = emu.stats()["totals"]["submits"]
    panel.aspect_ratio = "9:16"
    panel.region = (0, 0, 800, 600)
    plan = panel.widgets.region_parts().plan
    assert panel._dispatch.pump_until(lambda: "no crop around" in plan.value, WAIT)
    assert "kling-nb-warn" in plan.value
    panel.run()
    assert panel.wait(WAIT) is None and "no crop around" in (panel.last_error or "")
    assert emu.stats()["totals"]["submits"] == submits  # nothing was sent, nothing billed


def test_the_gallery_shows_each_outputs_drift_or_why_not(
    panel: EditPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel.num_images = 2
    panel.run()
    result = panel.wait(WAIT)  # and the widgets are up to date
    assert result is not None
    captions = [card.children[1].value for card in panel.widgets.gallery.children]
    words = [d.caption() for d in result.drift()]
    assert len(captions) == 2 and all(w in c for w, c in zip(words, captions, strict=True))
    assert all("kling-nb-drift" in c and "title=" in c for c in captions)

    def unmeasurable(self: EditResult, *, fetch: bool = False) -> list[Any]:
        raise KlingError("nothing to measure against")

    monkeypatch.setattr(EditResult, "drift", unmeasurable)
    pictures = panel_runner.gallery_of(result)
    assert [p.drift for p in pictures] == ["drift n/a", "drift n/a"]


def test_marking_on_and_off_again_leaks_no_widgets(panel: EditPanel) -> None:
    panel.mark_region()
    surface_of(panel)
    panel.mark_region(False)
    before = live_widgets()
    for _ in range(10):
        panel.mark_region()
        surface_of(panel)
        panel.mark_region(False)
    assert live_widgets() <= before
