"""A region edit from the EditPanel in a real JupyterLab, driven by headless Chromium with a
mouse: "Mark a region on image 1", draw a box on the photo, see the plan, Run, and find the
drift under the result. The kernel must have sent exactly that box (in the photo's own
pixels: the picture is shown reduced), journaled it, and pasted full-size composites."""

from __future__ import annotations

import re
from typing import Any

import nbformat
import numpy as np
import pytest
from PIL import Image

from .conftest import FIXTURE

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

WAIT_MS = 30_000
PHOTO = (1600, 1200)  # shown at most 960 px wide: about 2 photo px per screen px
NOTEBOOK = "panel_region.ipynb"
# What the kernel is asked to send is noted on the way in (the real call still runs).
SETUP = """\
import kling_nb
from kling_nb import _api

SENT = []
_start_edit = _api.start_edit


def _noted(request, *args, **kwargs):
    SENT.append(request)
    return _start_edit(request, *args, **kwargs)


_api.start_edit = _noted
conn = kling_nb.connect("emulator", service_time=0.5)"""
PANEL = """\
panel = kling_nb.EditPanel(prompt="put a red hat on <<<image_1>>>", images=["photo.jpg"])
panel"""
CHECK = """\
from kling_nb._journal import journal_for
_row = journal_for(conn.home).find(panel.result.request_id)
print("CHECK", SENT[-1].region, panel.history[-1].region, tuple(_row.region["region"]["box"]),
      [(im.width, im.height) for im in panel.result.images], "OFF_LOOP", len(OFF_LOOP))"""
HARMLESS_CONSOLE = re.compile(r"favicon|DevTools|Failed to load resource.*(404|lsp)", re.I)


def _write_fixture(root: Any) -> None:
    y, x = np.mgrid[0 : PHOTO[1], 0 : PHOTO[0]]
    pixels = np.stack([x * 255 // PHOTO[0], y * 255 // PHOTO[1], (x // 40 + y // 40) % 2 * 90], -1)
    Image.fromarray(pixels.astype(np.uint8)).save(root / "photo.jpg", quality=90)
    notebook = nbformat.v4.new_notebook()
    instrumentation = nbformat.read(FIXTURE, as_version=4).cells[0].source  # OFF_LOOP
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in (instrumentation, SETUP, PANEL)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, root / NOTEBOOK)


def _kernel_says(page: Any, code: str, marker: str) -> str:
    """Run `code` in a new cell at the end of the notebook; the output line with `marker`."""
    page.locator(".jp-Cell .jp-InputArea-editor").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(code)  # typed, a code editor would indent the lines again
    page.keyboard.press("Shift+Enter")
    output = page.locator(f".jp-OutputArea-output:has-text('{marker}')").last
    output.wait_for()
    return str(output.inner_text()).strip()


def test_a_box_drawn_on_image_1_is_the_region_the_run_sends(
    lab: Any, browser_page: tuple[Any, Any]
) -> None:
    page, problems = browser_page
    page.set_default_timeout(WAIT_MS)
    _write_fixture(lab.root)
    page.goto(lab.notebook_url(NOTEBOOK))
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    toggle = page.locator(".kling-nb-region-toggle")
    toggle.click()  # "Mark a region on image 1": image 1 is decoded on a worker, then shown
    picture = page.locator(".kling-nb-panel .kling-nb-region-picture")
    picture.wait_for()
    picture.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const p = document.querySelector('.kling-nb-panel .kling-nb-region-picture');"
        " return p && p.complete && p.naturalWidth > 0 && p.clientWidth > 0; }"
    )
    shown = picture.bounding_box()
    scale = PHOTO[0] / shown["width"]
    assert 1.5 < scale < 4, scale  # shown reduced: the box must still be in photo pixels
    a = (shown["x"] + shown["width"] * 0.3, shown["y"] + shown["height"] * 0.25)
    b = (shown["x"] + shown["width"] * 0.65, shown["y"] + shown["height"] * 0.7)
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=8)
    page.mouse.up()
    expected = [(a[0] - shown["x"]) * scale, (a[1] - shown["y"]) * scale]
    expected += [(b[0] - shown["x"]) * scale, (b[1] - shown["y"]) * scale]

    # The kernel has the box (its words come back), and says what a Run will send.
    page.wait_for_selector(".kling-nb-region-line:has-text('only this part is edited')")
    page.wait_for_selector(".kling-nb-region-plan:has-text('sent at')")
    assert "auto" in page.locator(".kling-nb-panel .widget-toggle-buttons").inner_text()
    page.locator(".kling-nb-run").click()
    page.wait_for_selector(".kling-nb-results-head:has-text('Run #1')")
    page.wait_for_selector(".kling-nb-status:has-text('#1 · done')")
    # The pictures show first; their drift follows once measured (on the runner's worker).
    drift = page.locator(".kling-nb-gallery .kling-nb-drift:has-text('ΔE')")
    drift.wait_for()
    assert re.fullmatch(r"drift \d+\.\d ΔE", drift.inner_text().strip()), drift.inner_text()
    assert f"{PHOTO[0]}×{PHOTO[1]}" in page.locator(".kling-nb-gallery").inner_text()

    said = _kernel_says(page, CHECK, "CHECK")
    found = re.match(
        r"CHECK \(([\d, ]+)\) \(([\d, ]+)\) \(([\d, ]+)\) \[\((\d+), (\d+)\)\] OFF_LOOP (\d+)",
        said,
    )
    assert found, said
    sent, kept, journaled = (tuple(int(v) for v in found.group(i).split(",")) for i in (1, 2, 3))
    assert sent == kept == journaled, said
    slack = 2 * scale + 1  # a screen pixel, rounded on both sides
    assert all(abs(s - e) <= slack for s, e in zip(sent, expected, strict=True)), (sent, expected)
    assert (int(found.group(4)), int(found.group(5))) == PHOTO  # a full-size composite
    assert found.group(6) == "0"  # the kernel changed widgets on its loop only

    # The region section's Clear: the kernel forgets the region, the page's box goes too.
    page.locator(".kling-nb-region-unset").click()
    page.wait_for_selector(".kling-nb-region-line:has-text('whole picture')")
    page.wait_for_selector(".kling-nb-panel .kling-nb-region-box", state="hidden")
    resolution = page.locator(".kling-nb-panel .widget-toggle-buttons")
    assert "auto" not in resolution.inner_text() and "1K" in resolution.inner_text()

    assert "Error displaying widget" not in page.inner_text("body")
    assert problems.errors == []
    assert [m for m in problems.console if not HARMLESS_CONSOLE.search(m)] == []
