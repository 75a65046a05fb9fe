"""The panel's model alone: no widgets, no loop, no server."""

from __future__ import annotations

import ast
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
from kling_nb.panel import model as model_module
from kling_nb.panel.model import PanelModel
from kling_nb.panel.state import PanelImage

LOCAL = Connection("emulator", "127.0.0.1:1/queue", "k", "qiniu")
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
    assert model.images == (c, a, b)
    assert model.prompt == "<<<image_2>>> and @Image1"
    model.remove_image(2)
    assert model.images == (c, b) and model.prompt == "<<<image_3>>> and @Image1"
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
    assert model.snapshot().can_run()
    model.set_parameter("num_images", 20)
    assert model.num_images == 20  # not clamped to 9
    problem = model.snapshot().num_images_problem()
    assert problem is not None and "num_images = 20" in problem and "1 to 9" in problem
    assert not model.snapshot().can_run() and seen == [frozenset({"parameters", "code"})]
    model.set_parameter("num_images", 9)
    assert model.snapshot().num_images_problem() is None and model.snapshot().can_run()


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
    assert model.snapshot().resolutions() == ["1K", "2K"] and model.resolution == "2K"


def test_an_image_that_cannot_be_opened_is_named_by_the_index_it_would_have(
    tmp_path: Path,
) -> None:
    with pytest.raises(KlingImageError, match=r"image_urls\[2\]"):
        PanelImage.load(tmp_path / "missing.jpg", index=2)
    small = PanelImage.load(image(size=(200, 150)), "small", 4)
    assert small.problems(4) and "image_urls[4]" in small.problems(4)[0]


def test_status_and_history_texts_follow_a_run() -> None:
    model, _ = model_with(1)
    run = model.start_run(model.request(), model.snapshot())
    assert model.active is run and not model.snapshot().can_run()
    assert "submitting" in model.status_text()
    log = {"message": "Rendering  1/1", "level": "INFO", "source": "USER", "timestamp": ""}
    model.progressed(1, JobStatus("IN_QUEUE", position=1, logs=(log,)))  # type: ignore[arg-type]
    model.submitted(1, "abcdef0123")
    line = model.status_text()
    assert "queued (position 2)" in line and "Rendering 1/1" in line and "abcdef01" in line
    model.finish_run(1, "cancelled", cancel="confirmed")
    assert model.active is None and "cancelled" in model.status_text()
    assert "cancelled on the server" in model.notice.text and model.notice.tone == "info"
    assert "Nothing more is billed" in model.notice.text  # said only of a confirmed cancel
    head, state, fields, _ = model.history_text(model.run(1))
    assert head.startswith("#1 ") and "cancelled" in state and "1 input(s)" in fields


def test_the_chinese_panel_says_everything_in_chinese() -> None:
    model, _ = model_with(1, "zh")
    model.set_region((10, 10, 200, 200))
    model.start_run(model.request(), model.snapshot())
    model.submitted(1, "0123456789")
    model.progressed(1, JobStatus("IN_PROGRESS"))
    running = model.status_text()
    model.finish_run(1, "stopped", "x", cancel="unsupported")
    stopped = [model.status_text(), *model.history_text(model.run(1)), model.notice.text]
    model.begin_collect(1)
    collecting = [model.status_text(), model.notice.text]
    model.collect_failed(1, "y")
    state = model.snapshot()
    texts = [running, *stopped, *collecting, model.error or "", state.images_hint()]
    texts += [words for words, _ in state.prompt_check()] + [state.region_words()]
    # Code stays code: field names, reference tokens and parameter values (1K, auto).
    code = re.compile(r"<<<image_\d+>>>|@Image\d+|\bprompt\b|\bauto\b|\d+K")
    for text in texts:
        assert re.findall(r"[A-Za-z]{2,}", code.sub("", text)) == [], text


# --- the state is a value; the model carries meanings, not looks -----------------------------


def test_a_snapshot_stays_as_it_was_while_the_model_changes() -> None:
    model, _ = model_with(2)
    model.set_prompt("<<<image_1>>> as ink")
    before = model.snapshot()
    model.set_prompt("other")
    model.move_image(2, 1)
    model.start_run(model.request(), model.snapshot())
    model.say("news", warn=True)
    assert before.prompt == "<<<image_1>>> as ink" and before.runs == ()
    assert [im.label for im in before.images] == ["p0", "p1"] and before.notice.text == ""
    with pytest.raises(AttributeError):
        before.prompt = "changed"  # type: ignore[misc]
    assert model.snapshot() is model.snapshot()  # taking one copies nothing


def test_the_state_says_kinds_of_warning_and_the_views_choose_their_look() -> None:
    model, _ = model_with(1)
    model.set_prompt("x" * 2501 + " <<<image_4>>>")
    kinds = [kind for _, kind in model.snapshot().prompt_check()]
    assert kinds == ["over", "past_end"]
    model.say("careful", warn=True)
    assert model.notice.tone == "warn"
    package = Path(model_module.__file__).parent
    for name in ("state.py", "model.py", "runner.py"):
        source = (package / name).read_text(encoding="utf-8")
        literals = [
            node.value
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        looks = [text for text in literals if "kling-nb-" in text or "<span" in text]
        assert looks == [], f"{name} decides how things look: {looks}"


def test_the_panel_reaches_into_no_private_name_of_another_module() -> None:
    package = Path(model_module.__file__).parent
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:  # from .._x import y
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert found == []


# --- a stop that was not a confirmed cancel ----------------------------------------------------


def _stopped(cancel: str) -> PanelModel:
    model, _ = model_with(1)
    model.start_run(model.request(), model.snapshot())
    model.submitted(1, "feedc0de99")
    detail = f"The service said: {cancel}. kling_nb.resume('feedc0de99') collects the pictures."
    model.finish_run(1, "stopped", detail, cancel=cancel)  # type: ignore[arg-type]
    return model


@pytest.mark.parametrize(
    ("cancel", "words"),
    [
        ("requested", "may still be billed"),
        ("unsupported", "runs on, billed"),
        ("failed", "may still be billed"),
        ("too_late", "already finished: billed"),
    ],
)
def test_a_stop_without_a_confirmed_cancel_never_reads_as_cancelled(
    cancel: str, words: str
) -> None:
    model = _stopped(cancel)
    run = model.run(1)
    assert run.state == "stopped" and run.cancel == cancel and run.collectable
    line = model.status_text()
    assert "⏸ #1" in line and words in line and "· cancelled" not in line and "⊘" not in line
    assert model.notice.tone == "warn" and "stopped waiting" in model.notice.text
    assert "resume('feedc0de99')" in model.notice.text and "Collect" in model.notice.text
    assert "not billed" not in model.notice.text and "Nothing more" not in model.notice.text
    assert model.error is None  # not an error: the job may well finish
    assert words in model.history_text(run)[1]


class _OneImage:
    """What the model reads of a result: how many pictures it has."""

    def __len__(self) -> int:
        return 1


def test_collecting_a_stopped_run_completes_it_or_leaves_it_collectable() -> None:
    from kling_nb.panel.state import Picture

    model = _stopped("unsupported")
    model.begin_collect(1)
    assert "collecting" in model.status_text() and not model.run(1).collectable
    with pytest.raises(KlingValidationError, match="nothing to collect"):
        model.begin_collect(1)  # once at a time
    model.collect_failed(1, "the service is down.")
    assert model.run(1).collectable and model.error is not None
    assert "the service is down" in model.error and "collected again" in model.error
    model.begin_collect(1)
    model.collected(1, _OneImage(), [Picture("#1", b"jpeg")])  # type: ignore[arg-type]
    run = model.run(1)
    assert run.state == "completed" and model.shown is run and not run.collectable
    assert "done (collected)" in model.status_text()
    assert "collected" in model.notice.text and "paid for" in model.notice.text


def test_only_a_stopped_run_can_be_collected_in_words() -> None:
    model, _ = model_with(1)
    model.start_run(model.request(), model.snapshot())
    with pytest.raises(KlingValidationError, match="run = 1: that run has nothing to collect"):
        model.begin_collect(1)  # still running
    model.finish_run(1, "cancelled", cancel="confirmed")
    with pytest.raises(KlingValidationError, match=r"\(cancelled\)"):
        model.begin_collect(1)
    with pytest.raises(KlingValidationError, match="run = 7: this session has 1 run"):
        model.begin_collect(7)


# --- the region of reference image 1 (a hook for the drawing surface) ------------------------


def test_a_region_is_none_by_default_and_checked_against_image_1() -> None:
    model, seen = model_with(2)
    assert model.region is None and "whole picture" in model.snapshot().region_words()
    model.set_region((10, 20, 300, 400))
    # The resolution goes to "auto" (the region's plan picks): its field is rendered too.
    assert model.region == (10, 20, 300, 400) and model.resolution == "auto"
    assert seen == [frozenset({"region", "code", "parameters"})]
    assert "(10, 20, 300, 400)" in model.snapshot().region_words()
    bad = {
        (0, 0, 641, 10): "inside image 1 (640×480 px)",
        (5, 5, 5, 9): "left < right",
        (1, 2, 3): "four whole numbers",
        (1.5, 2, 3, 4): "four whole numbers",
        "0,0,9,9": "four whole numbers",
    }
    for box, words in bad.items():
        with pytest.raises(KlingValidationError, match=re.escape(words)) as caught:
            model.set_region(box)
        assert caught.value.fields == ["region"]
    assert model.region == (10, 20, 300, 400)  # a refusal loses nothing
    model.set_region(None)
    assert model.region is None


def test_a_region_follows_image_1_and_goes_when_image_1_is_another_picture() -> None:
    model, _ = model_with(3)
    model.set_region((0, 0, 100, 100))
    model.move_image(3, 2)  # image 1 is the same picture
    assert model.region == (0, 0, 100, 100)
    model.move_image(2, 1)
    assert model.region is None
    assert model.notice.tone == "warn" and "region was cleared" in model.notice.text
    empty, _ = model_with(0)
    with pytest.raises(KlingValidationError, match="no reference image 1"):
        empty.set_region((0, 0, 10, 10))


def test_a_run_keeps_its_region_and_restoring_it_puts_the_region_back() -> None:
    model, _ = model_with(1)
    model.set_region((1, 2, 300, 200))
    run = model.start_run(model.request(), model.snapshot())
    assert run.region == (1, 2, 300, 200) and "region" in model.history_text(run)[2]
    model.set_images([])
    assert model.region is None
    model.set_images(run.images, run.region)
    assert model.region == (1, 2, 300, 200)


def test_show_code_names_the_emulator_and_prints_the_region() -> None:
    from kling_nb.panel.codegen import edit_code

    model, _ = model_with(1)
    state = model.snapshot()
    code = edit_code(state.request().parameters(), state.images, LOCAL, "en")
    assert "kling_nb.connect('emulator')  # the offline emulator" in code
    assert "region=" not in code
    model.set_region((10, 20, 300, 400))
    state = model.snapshot()
    code = edit_code(state.request().parameters(), state.images, LOCAL, "en", state.region)
    compile(code, "<show code>", "exec")
    assert "    region=(10, 20, 300, 400),  # left, top, right, bottom" in code
    lines = code.splitlines()
    guide = next(i for i, line in enumerate(lines) if "as the guide writes it" in line)
    assert "this call edits the whole picture" in lines[guide + 1]  # the dict has no region


def test_auto_resolution_comes_with_a_region_and_goes_with_it_unless_one_was_chosen() -> None:
    model, _ = model_with(2)
    assert model.resolution == "1K" and model.snapshot().resolution_choices() == ["1K", "2K"]
    with pytest.raises(KlingValidationError, match="'1K', '2K'"):
        model.set_parameter("resolution", "auto")  # nothing to pick it for without a region
    model.set_region((0, 0, 320, 240))
    state = model.snapshot()
    assert state.resolution_choices() == ["auto", "1K", "2K"] and model.resolution == "auto"
    request = state.request()
    assert request.resolution is None and request.region == (0, 0, 320, 240)
    assert "resolution" not in request.parameters()  # sent as the plan picks it
    model.set_region(None)
    assert model.resolution == "1K" and model.snapshot().request().resolution == "1K"
    model.set_parameter("resolution", "2K")  # chosen: a region leaves it as it is
    model.set_region((0, 0, 320, 240))
    assert model.resolution == "2K"
    model.set_parameter("resolution", "auto")
    model.move_image(2, 1)  # image 1 is another picture: its region and "auto" go
    assert model.region is None and model.resolution == "1K"


def test_restoring_a_region_run_puts_auto_back_and_a_whole_one_its_resolution() -> None:
    model, _ = model_with(1)
    model.set_region((1, 2, 300, 200))
    run = model.start_run(model.request(), model.snapshot())
    assert "resolution" not in run.parameters and "auto · auto" in model.history_text(run)[2]
    model.set_images([])
    model.set_images(run.images, run.region)
    model.apply(run.parameters)
    assert (model.region, model.resolution) == ((1, 2, 300, 200), "auto")
    model.apply({**run.parameters, "resolution": "2K"})  # a region run sent at 2K
    assert (model.region, model.resolution) == ((1, 2, 300, 200), "2K")
    model.set_images(run.images)  # without its region: a whole-picture run
    model.apply({**run.parameters, "resolution": "2K"})
    assert (model.region, model.resolution) == (None, "2K")


def test_marking_needs_an_image_and_stops_when_the_last_one_goes() -> None:
    empty, _ = model_with(0)
    with pytest.raises(KlingValidationError, match="no reference image 1"):
        empty.set_marking(True)
    with pytest.raises(KlingValidationError, match="True or False"):
        empty.set_marking("yes")
    model, seen = model_with(2)
    model.set_marking(True)
    assert model.snapshot().marking and seen == [frozenset({"region"})]
    words, tone = model.snapshot().surface_words()
    assert "Preparing image 1" in words and tone == "info"
    model.remove_image(1)
    assert model.snapshot().marking  # another image 1: drawn on once it is ready
    model.remove_image(1)
    assert not model.snapshot().marking


def test_a_surface_or_a_plan_made_for_an_older_state_is_not_kept() -> None:
    from kling_nb.panel.state import RegionPlanWords, Surface

    model, _ = model_with(2)
    first, second = model.images
    model.set_marking(True)
    model.surface_made(Surface(second, problem="late"))  # image 2 is not image 1
    assert model.snapshot().surface is None
    model.surface_made(Surface(first, problem="cannot be read"))
    words, tone = model.snapshot().surface_words()
    assert "cannot be read" in words and tone == "warn"
    model.set_region((0, 0, 320, 240))
    assert model.snapshot().plan_words() == ("Working out what a Run will send…", "info")
    stale = RegionPlanWords(first, (0, 0, 320, 240), "2K", "auto", "qiniu", "old words")
    model.planned(stale)  # planned for 2K: the panel says auto now
    assert model.snapshot().current_plan is None
    fresh = RegionPlanWords(first, (0, 0, 320, 240), "auto", "auto", "qiniu", "no", True)
    model.planned(fresh)
    assert model.snapshot().plan_words() == ("no", "warn")
    model.set_parameter("aspect_ratio", "16:9")  # the plan depends on it: made again
    assert model.snapshot().current_plan is None


def test_building_a_panel_leaves_the_job_pipeline_for_later() -> None:
    # It loads on a worker after the panel shows (or with the first Run): a cell with
    # EditPanel() returns sooner.
    code = (
        "import sys, asyncio, kling_nb\n"
        "from kling_nb._config import Connection\n"
        "conn = Connection('emulator', '127.0.0.1:9/queue', 'k', 'plain')\n"
        "async def cell():\n"
        "    kling_nb.EditPanel(conn)\n"
        "    print(sorted(m for m in ('httpx', 'fal_client', 'kling_nb._api', 'kling_nb._job',"
        " 'kling_nb._results') if m in sys.modules))\n"
        "asyncio.run(cell())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_run_waits_as_long_as_edit_does() -> None:
    from kling_nb._job import DEFAULT_TIMEOUT
    from kling_nb.panel.runner import RUN_TIMEOUT

    assert RUN_TIMEOUT == DEFAULT_TIMEOUT


def test_a_late_comparison_of_another_run_does_not_replace_the_one_asked_for() -> None:
    model, _ = model_with(1)
    for number in (1, 2):
        model.start_run(model.request(), model.snapshot())
        model.finish_run(number, "completed", result=_OneImage())  # type: ignore[arg-type]
    model.show_run(1)
    assert model.toggle_compare() is model.run(1)  # to be made for run 1
    model.show_run(2)  # the user moved on before it arrived
    assert model.toggle_compare() is model.run(2)
    model.compared(2, b"two")
    model.compared(1, b"one")  # late
    state = model.snapshot()
    picture = state.comparison_of(state.shown_run)
    assert picture is not None and picture.jpeg == b"two"
