"""The region-drawing surface (kling_nb.panel.region), its Python side without a browser:
the box in the photo's own pixels, set and cleared from Python, refused in words when it does
not fit, callbacks, and the core-widgets fallback (tests/browser/test_region_widget.py draws
with a real mouse)."""

from __future__ import annotations

import base64
import io
import sys

import numpy as np
import pytest
import traitlets
from PIL import Image

from kling_nb._region import Region
from kling_nb._samples import sample_path
from kling_nb.panel import region as surface
from kling_nb.panel.region import DISPLAY_SIDE, RegionFields, canvas_class, region_picker

from .test_region import encoded, scene


def big_photo() -> bytes:
    """A 2400×1600 JPEG, turned by EXIF so that it shows 1600×2400."""
    exif = Image.Exif()
    exif[0x0112] = 8
    picture = Image.fromarray((scene(2400, 1600) * 255).astype(np.uint8))
    return encoded(picture, "JPEG", exif=exif.tobytes())


@pytest.fixture(params=["canvas", "fields"])
def picker(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    made = region_picker(big_photo(), fallback=request.param == "fields")
    yield made
    made.close()


def test_the_canvas_is_an_anywidget_with_its_es_module() -> None:
    import anywidget

    made = region_picker(sample_path("cat.jpg"))
    assert isinstance(made, anywidget.AnyWidget)
    assert "export default { render }" in surface.ESM.read_text()
    assert made.src.startswith("data:image/jpeg;base64,")
    made.close()


def test_the_size_is_the_photo_as_shown_and_the_picture_is_reduced(picker) -> None:  # type: ignore[no-untyped-def]
    assert picker.size == (1600, 2400)
    if isinstance(picker, RegionFields):
        shown = Image.open(io.BytesIO(picker.preview.value))
    else:
        shown = Image.open(io.BytesIO(base64.b64decode(picker.src.split(",", 1)[1])))
    assert max(shown.size) == DISPLAY_SIDE and shown.size[1] > shown.size[0]


def test_a_box_set_from_python_is_kept_in_photo_pixels_and_reported(picker) -> None:  # type: ignore[no-untyped-def]
    seen: list[object] = []
    stop = picker.on_box(seen.append)
    picker.box = [100, 200, 900, 1800]
    assert picker.box == (100, 200, 900, 1800)
    assert picker.region() == Region((100, 200, 900, 1800))
    picker.box = None
    assert picker.region() is None
    stop()
    picker.box = (1, 2, 3, 4)
    assert seen == [(100, 200, 900, 1800), None]


def test_a_box_past_the_photo_is_refused_in_words(picker) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(traitlets.TraitError, match=r"right = 2000.*1600×2400"):
        picker.box = (0, 0, 2000, 500)
    with pytest.raises(traitlets.TraitError, match="empty or inverted"):
        picker.box = (500, 0, 100, 500)
    assert picker.box is None


def test_fallback_fields_and_box_follow_each_other() -> None:
    fields = RegionFields(big_photo(), box=(10, 20, 300, 400))
    assert [f.value for f in fields.fields] == [10, 20, 300, 400]
    before = fields.preview.value
    fields.fields[2].value = 500  # right
    assert fields.box == (10, 20, 500, 400) and fields.preview.value != before
    fields.fields[0].value = 900  # left past right: said, the box is kept
    assert fields.box == (10, 20, 500, 400)
    assert "empty or inverted" in fields.problem.value
    fields.clear.click()
    assert fields.box is None and [f.value for f in fields.fields] == [0, 0, 0, 0]
    fields.close()


def test_the_fallback_preview_outlines_the_box() -> None:
    white = encoded(Image.new("RGB", (800, 600), (255, 255, 255)), "PNG")
    fields = RegionFields(white, box=(200, 150, 600, 450))
    preview = np.asarray(Image.open(io.BytesIO(fields.preview.value)).convert("RGB")).astype(int)
    assert preview[300, 400].min() > 240  # inside: as it is
    assert preview[50, 50].max() < 200  # outside: dimmed
    edge = preview[150, 300:500]  # the top edge: the outline's cyan
    assert (edge[:, 0] < 120).mean() > 0.8 and (edge[:, 2] > 180).mean() > 0.8
    fields.close()


def test_without_anywidget_the_fallback_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    canvas_class.cache_clear()
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget → ImportError
    try:
        made = region_picker(sample_path("cat.jpg"), box=(0, 0, 50, 50))
        assert isinstance(made, RegionFields) and made.box == (0, 0, 50, 50)
        made.close()
    finally:
        canvas_class.cache_clear()


def test_importing_kling_nb_does_not_import_anywidget() -> None:
    import subprocess

    code = "import kling_nb, sys; print('anywidget' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.strip() == "False", found.stderr


def test_the_picker_says_its_photo_and_box_in_one_short_line(picker) -> None:  # type: ignore[no-untyped-def]
    width, height = picker.size
    assert repr(picker) == f"<region picker on a {width}×{height} photo: no box drawn>"
    picker.box = (10, 20, 300, 320)
    assert repr(picker).endswith(": (10, 20, 300, 320)>") and "data:" not in repr(picker)


def test_a_drawn_box_goes_straight_into_an_edit_request(picker) -> None:  # type: ignore[no-untyped-def]
    import kling_nb

    picker.box = (100, 1500, 700, 2300)  # in the photo as shown (1600×2400, turned by EXIF)
    request = kling_nb.KlingO1Request("x <<<image_1>>>", [big_photo()], region=picker.box)
    send = request.region_send("qiniu")
    assert send is not None and send.plan.region.box == (100, 1500, 700, 2300)
    assert (send.plan.original.width, send.plan.original.height) == picker.size
