"""The panel's model alone: no widgets, no loop, no server."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from kling_nb import KlingValidationError
from kling_nb._config import Connection
from kling_nb._errors import KlingImageError
from kling_nb._wire import JobStatus
from kling_nb.panel.model import PanelImage, PanelModel

LOCAL = Connection("local", "127.0.0.1:1/queue", "k", "qiniu")
FAL = Connection("fal", "queue.fal.run", "k", "fal")


def image(color: tuple[int, int, int] = (0, 120, 0), size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def model_with(count: int, lang: str = "en") -> tuple[PanelModel, list[frozenset[str]]]:
    seen: list[frozenset[str]] = []
    model = PanelModel(lang, seen.append)  # type: ignore[arg-type]
    model.connect(LOCAL)
    loaded = [PanelImage.load(image((40 * n, 0, 0)), f"p{n}", n) for n in range(count)]
    model.add_images(loaded)
    seen.clear()
    return model, seen


def test_the_model_imports_no_widgets() -> None:
    code = "import sys, kling_nb.panel.model; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_moving_and_removing_images_renumber_the_prompt_and_say_what_changed() -> None:
    model, seen = model_with(3)
    a, b, c = model.images
    model.set_prompt("<<<image_1>>> and @Image3")
    model.move_image(3, 1)
    assert model.images == [c, a, b]
    assert model.prompt == "<<<image_2>>> and @Image1"
    model.remove_image(2)
    assert model.images == [c, b] and model.prompt == "<<<image_3>>> and @Image1"
    assert all({"images", "prompt"} <= aspects for aspects in seen[1:])


def test_a_number_naming_no_image_is_refused_in_words() -> None:
    model, _ = model_with(2)
    with pytest.raises(KlingValidationError, match=r"holds 2 image\(s\).*from 1 to 2") as caught:
        model.remove_image(5)
    assert isinstance(caught.value, IndexError)  # what callers caught before still works
    with pytest.raises(KlingValidationError, match="whole number"):
        model.move_image(1, "2")  # type: ignore[arg-type]


def test_out_of_range_num_images_is_kept_shown_and_blocks_run() -> None:
    model, seen = model_with(1)
    assert model.can_run()
    model.set_parameter("num_images", 20)
    assert model.num_images == 20  # not clamped to 9
    problem = model.num_images_problem()
    assert problem is not None and "num_images = 20" in problem and "1 to 9" in problem
    assert not model.can_run() and seen == [frozenset({"parameters", "code"})]
    model.set_parameter("num_images", 9)
    assert model.num_images_problem() is None and model.can_run()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("num_images", "2", "is a str; it must be a whole number"),
        ("num_images", True, "is a bool"),
        ("resolution", "8K", "'1K', '2K'."),  # 4K: Qiniu's guide only
        ("aspect_ratio", 3, "Use one of"),
        ("output_format", "gif", "'png', 'jpeg', 'webp'"),
    ],
)
def test_bad_parameters_are_refused_naming_field_value_and_choices(
    name: str, value: object, words: str
) -> None:
    model, seen = model_with(1)
    with pytest.raises(KlingValidationError, match=re.escape(words)) as caught:
        model.set_parameter(name, value)
    assert caught.value.fields == [name] and seen == []


def test_resolutions_follow_the_backend_profile() -> None:
    model, _ = model_with(0)
    with pytest.raises(KlingValidationError, match="'1K', '2K'"):
        model.set_parameter("resolution", "4K")  # only Qiniu's guide lists it
    model.set_parameter("resolution", "2K")
    model.connect(FAL)
    assert model.resolutions() == ["1K", "2K"] and model.resolution == "2K"


def test_an_image_that_cannot_be_opened_is_named_by_the_index_it_would_have(
    tmp_path: Path,
) -> None:
    with pytest.raises(KlingImageError, match=r"image_urls\[2\]"):
        PanelImage.load(tmp_path / "missing.jpg", index=2)
    small = PanelImage.load(image(size=(200, 150)), "small", 4)
    assert small.problems(4) and "image_urls[4]" in small.problems(4)[0]


def test_status_and_history_texts_follow_a_run() -> None:
    model, _ = model_with(1)
    run = model.start_run(model.request(), list(model.images))
    assert model.active is run and not model.can_run()
    assert "submitting" in model.status_text()
    log = {"message": "Rendering  1/1", "level": "INFO", "source": "USER", "timestamp": ""}
    run.status = JobStatus("IN_QUEUE", position=1, logs=(log,))  # type: ignore[arg-type]
    run.request_id = "abcdef0123"
    line = model.status_text()
    assert "queued (position 2)" in line and "Rendering 1/1" in line and "abcdef01" in line
    model.finish_run(run, "cancelled", None, None)
    assert model.active is None and "cancelled" in model.status_text()
    assert "cancelled on the server" in model.notice[0]
    head, state, fields, _ = model.history_text(run)
    assert head.startswith("#1 ") and "cancelled" in state and "1 input(s)" in fields


def test_the_chinese_panel_says_everything_in_chinese() -> None:
    model, _ = model_with(1, "zh")
    run = model.start_run(model.request(), list(model.images))
    run.request_id = "0123456789"
    run.status = JobStatus("IN_PROGRESS")
    running = model.status_text()
    model.finish_run(run, "failed", "x", None)
    texts = [running, model.status_text(), *model.history_text(run), model.images_hint()]
    texts += [words for words, _ in model.prompt_check()]
    # Code stays code: field names, reference tokens and parameter values (1K, auto).
    code = re.compile(r"<<<image_\d+>>>|@Image\d+|\bprompt\b|\bauto\b|\d+K")
    for text in texts:
        assert re.findall(r"[A-Za-z]{2,}", code.sub("", text)) == [], text
