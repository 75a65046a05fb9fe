"""The region-drawing surface in a real JupyterLab, driven by headless Chromium with a mouse:
draw a box, move it, resize it by a handle, clear it, and set it from the kernel; the kernel
must hold the box in the ORIGINAL photo's pixels (the picture is shown reduced)."""

from __future__ import annotations

import re
from typing import Any

import nbformat
import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

WAIT_MS = 30_000
PHOTO = (3000, 2000)  # shown at most 960 px wide: about 3 photo px per screen px
NOTEBOOK = "region.ipynb"
SETUP = """\
from kling_nb.panel.region import region_picker
picker = region_picker("photo.jpg")
SEEN = []
picker.on_box(SEEN.append)
picker"""
HARMLESS_CONSOLE = re.compile(r"favicon|DevTools|Failed to load resource.*(404|lsp)", re.I)


def _write_fixture(root: Any) -> None:
    y, x = np.mgrid[0 : PHOTO[1], 0 : PHOTO[0]]
    pixels = np.stack([x * 255 // PHOTO[0], y * 255 // PHOTO[1], (x + y) % 256], -1)
    Image.fromarray(pixels.astype(np.uint8)).save(root / "photo.jpg", quality=85)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SETUP)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, root / NOTEBOOK)


def _kernel_says(page: Any, code: str, marker: str) -> str:
    """Run `code` in a new cell at the end of the notebook; the output line with `marker`."""
    page.locator(".jp-Cell .jp-InputArea-editor").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    output = page.locator(f".jp-OutputArea-output:has-text('{marker}')").last
    output.wait_for()
    return str(output.inner_text()).strip()


def _box_in_kernel(page: Any, count: int) -> tuple[int, ...] | None:
    """The kernel's picker.box once its callback has seen `count` changes."""
    text = _kernel_says(page, f"print('BOX{count}', picker.box, len(SEEN))", f"BOX{count}")
    found = re.match(rf"BOX{count} (None|\(([-\d, ]+)\)) (\d+)", text)
    assert found, text
    assert int(found.group(3)) == count, text
    return None if found.group(1) == "None" else tuple(int(v) for v in found.group(2).split(","))


def _drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def test_a_box_is_drawn_moved_resized_and_cleared_with_the_mouse(
    lab: Any, browser_page: tuple[Any, Any]
) -> None:
    page, problems = browser_page
    page.set_default_timeout(WAIT_MS)
    _write_fixture(lab.root)
    page.goto(lab.notebook_url(NOTEBOOK))
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    picture = page.locator(".kling-nb-region-picture")
    picture.wait_for()
    page.wait_for_function(
        "() => { const p = document.querySelector('.kling-nb-region-picture');"
        " return p && p.complete && p.naturalWidth > 0 && p.clientWidth > 0; }"
    )
    shown = picture.bounding_box()
    scale = PHOTO[0] / shown["width"]
    assert 2.5 < scale < 4, scale  # the picture is shown reduced
    slack = 2 * scale + 1  # a screen pixel, rounded on both sides

    def photo_px(x: float, y: float) -> tuple[float, float]:
        return ((x - shown["x"]) * scale, (y - shown["y"]) * scale)

    def near(found: tuple[int, ...] | None, expected: tuple[float, ...]) -> bool:
        return found is not None and all(
            abs(a - b) <= slack for a, b in zip(found, expected, strict=True)
        )

    # Draw: from a quarter to the middle of the picture.
    a = (shown["x"] + shown["width"] * 0.25, shown["y"] + shown["height"] * 0.25)
    b = (shown["x"] + shown["width"] * 0.5, shown["y"] + shown["height"] * 0.6)
    _drag(page, a, b)
    drawn = _box_in_kernel(page, 1)
    assert near(drawn, (*photo_px(*a), *photo_px(*b))), drawn
    assert page.locator(".kling-nb-region-box").is_visible()

    # Move: grab the middle of the box and carry it right and down; its size is kept.
    middle = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    _drag(page, middle, (middle[0] + 60, middle[1] + 40))
    moved = _box_in_kernel(page, 2)
    assert drawn is not None and moved is not None
    assert near(
        moved,
        (
            drawn[0] + 60 * scale,
            drawn[1] + 40 * scale,
            drawn[2] + 60 * scale,
            drawn[3] + 40 * scale,
        ),
    ), moved
    assert (moved[2] - moved[0], moved[3] - moved[1]) == (drawn[2] - drawn[0], drawn[3] - drawn[1])

    # Resize: pull the bottom-right handle out; the top-left corner stays.
    handle = page.locator(".kling-nb-region-se").bounding_box()
    grab = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    _drag(page, grab, (grab[0] + 50, grab[1] + 30))
    resized = _box_in_kernel(page, 3)
    assert resized is not None and resized[:2] == moved[:2]
    assert near(resized[2:], (moved[2] + 50 * scale, moved[3] + 30 * scale)), resized

    # Clear.
    page.locator(".kling-nb-region-clear").click()
    assert _box_in_kernel(page, 4) is None
    page.wait_for_selector(".kling-nb-region-box", state="hidden")

    # Set from the kernel: the outline follows, at the shown scale.
    _kernel_says(page, "picker.box = (300, 600, 1500, 1800); print('SET')", "SET")
    outline = page.locator(".kling-nb-region-box")
    outline.wait_for(state="visible")
    frame = outline.bounding_box()
    assert abs((frame["x"] - shown["x"]) * scale - 300) <= slack
    assert abs((frame["x"] + frame["width"] - shown["x"]) * scale - 1500) <= slack
    assert "(300, 600, 1500, 1800)" in page.locator(".kling-nb-region-label").inner_text()

    assert "Error displaying widget" not in page.inner_text("body")
    assert problems.errors == []
    assert [m for m in problems.console if not HARMLESS_CONSOLE.search(m)] == []
