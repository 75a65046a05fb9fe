"""Fuzz the panel's programmatic surface: whatever a script calls it with, the panel either
does it or raises a KlingError in words — never another exception — and its widgets keep
showing its state (hypothesis over sequences of calls)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from kling_nb import EditPanel, KlingError
from kling_nb._config import Connection

pytestmark = pytest.mark.timeout(300)


def _jpeg(size: tuple[int, int] = (400, 320)) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


JPEG = _jpeg()
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 25),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=16),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
image_source = st.one_of(
    st.just(JPEG),
    st.just(_jpeg((120, 90))),  # too small: added, flagged on its card
    st.binary(max_size=64).map(lambda b: JPEG[: len(b) * 40] + b),  # truncated or garbage
    st.just("https://example.com/a.jpg"),
    st.just("HTTPS://EXAMPLE.COM/B.PNG"),
    st.just("/no/such/file.jpg"),
    st.just("data:image/png;base64,AAAA"),
    anything,
)
upload = st.one_of(
    st.builds(
        lambda n, c: {n: {"metadata": {"name": n}, "content": c}},
        st.text(max_size=8),
        st.just(JPEG),
    ),
    st.builds(
        lambda n, c: ({"name": n, "content": memoryview(c)},),
        st.text(max_size=8),
        st.binary(max_size=32),
    ),
    anything,
)
box = st.tuples(*[st.integers(-5, 900)] * 4)  # inside image 1, or not
call = st.one_of(
    st.tuples(st.just("prompt"), st.one_of(st.text(max_size=40), anything)),
    st.tuples(
        st.just("resolution"), st.one_of(st.sampled_from(["1K", "2K", "4K", "8K"]), anything)
    ),
    st.tuples(
        st.just("aspect_ratio"), st.one_of(st.sampled_from(["auto", "16:9", "5:4"]), anything)
    ),
    st.tuples(st.just("num_images"), anything),
    st.tuples(st.just("output_format"), st.one_of(st.sampled_from(["png", "gif", ""]), anything)),
    st.tuples(st.just("add_image"), image_source),
    st.tuples(st.just("add_uploads"), upload),
    st.tuples(st.just("move_image"), anything, anything),
    st.tuples(st.just("remove_image"), anything),
    st.tuples(st.just("insert_reference"), anything),
    st.tuples(st.just("restore"), anything),
    st.tuples(st.just("show_run"), anything),
    st.tuples(st.just("use_as_input"), anything),
    st.tuples(st.just("restore_journal"), anything),
    st.tuples(st.just("region"), st.one_of(box, anything)),
    st.tuples(st.just("collect"), anything),
    st.tuples(st.sampled_from(["toggle_code", "toggle_compare", "clear_images", "cancel"])),
)
FIELDS = ("prompt", "resolution", "aspect_ratio", "num_images", "output_format", "region")


def _apply(panel: EditPanel, name: str, *args: Any) -> None:
    if name in FIELDS:
        setattr(panel, name, args[0])
    else:
        getattr(panel, name)(*args)


def _consistent(panel: EditPanel) -> None:
    ws = panel.widgets
    assert isinstance(panel.prompt, str) and ws.prompt.value == panel.prompt
    assert len(panel.images) <= 10 and len(ws.cards.children) == len(panel.images)
    assert ws.num_images.value == panel.num_images and ws.resolution.value == panel.resolution
    assert ws.aspect_ratio.value == panel.aspect_ratio
    assert (ws.output_format.value or None) == panel.output_format
    assert ws.run.disabled == (panel.num_images not in range(1, 10))
    assert (ws.region_section.layout.display is None) == (panel.region is not None)
    picked = next((run for run in panel.history if run.number == ws.history.value), None)
    assert ws.history_collect.disabled == (picked is None or not picked.collectable)
    compile(panel.code(), "<show code>", "exec")  # "show code" is always Python
    assert isinstance(panel.status, str) and isinstance(repr(panel), str)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(calls=st.lists(call, min_size=1, max_size=12))
def test_any_calls_do_it_or_refuse_in_words(conn: Connection, calls: list[tuple[Any, ...]]) -> None:
    panel = EditPanel(conn)
    try:
        for name, *args in calls:
            try:
                _apply(panel, name, *args)
            except KlingError as exc:
                assert str(exc) and "Traceback" not in str(exc)
            _consistent(panel)
    finally:
        panel.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(calls=st.lists(st.one_of(call, st.just(("run_and_wait",))), min_size=2, max_size=8))
def test_any_calls_around_runs_do_it_or_refuse_in_words(
    conn: Connection, calls: list[tuple[Any, ...]]
) -> None:
    panel = EditPanel(conn, prompt="sketch <<<image_1>>>", images=[JPEG])
    try:
        for name, *args in [("run_and_wait",), *calls]:
            try:
                if name == "run_and_wait":
                    panel.run()
                    panel.wait(30)
                else:
                    _apply(panel, name, *args)
            except KlingError as exc:
                assert str(exc) and "Traceback" not in str(exc)
            _consistent(panel)
            assert len(panel.widgets.gallery.children) == len(panel.result or [])
    finally:
        panel.cancel()
        panel.close()


def test_a_file_given_by_path_is_taken(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(JPEG)
    panel = EditPanel(conn)
    assert panel.add_image(path) == 1 and panel.images == [str(path)]
    panel.close()
