"""EditPanel, driven through its widgets and its small programmatic surface, on the emulator."""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from PIL import Image

import kling_nb
from kling_nb import EditPanel, KlingValidationError
from kling_nb import _api as api
from kling_nb._config import Connection
from kling_nb._i18n import MESSAGES
from kling_nb.panel import renumber_references, upload_entries
from kling_nb.panel import runner as panel_runner

pytestmark = pytest.mark.timeout(60)

WAIT = 15.0  # s; a run here takes about 0.3 s of emulated work


def photo(size: tuple[int, int] = (800, 600), color: tuple[int, int, int] = (30, 160, 60)) -> bytes:
    img = Image.radial_gradient("L").resize(size).convert("RGB")
    img.paste(color, (size[0] // 8, size[1] // 8, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "garden.jpg"
    path.write_bytes(photo())
    return path


@pytest.fixture
def panel(conn: Connection, photo_file: Path) -> EditPanel:
    panel = EditPanel(conn)
    assert panel.add_image(photo_file) == 1
    panel.prompt = "turn <<<image_1>>> into a watercolor"
    return panel


def _widgets(root: Any) -> list[Any]:
    found = [root]
    for child in getattr(root, "children", ()):
        found += _widgets(child)
    return found


def test_run_button_fills_the_gallery_and_the_history(panel: EditPanel) -> None:
    panel.widgets.run.click()
    result = panel.wait(WAIT)
    assert result is not None and len(result) == 1
    assert panel.result is result and panel.results == [result]
    cards = panel.widgets.gallery.children
    assert len(cards) == 1 and cards[0].children[0].value[:2] == b"\xff\xd8"  # a JPEG
    assert "done" in panel.status and result.request_id[:8] in panel.status
    assert [run.state for run in panel.history] == ["completed"]
    assert panel.last_error is None and not panel.running
    assert not panel.widgets.run.disabled and panel.widgets.cancel.disabled


def test_the_pictures_show_before_their_drift_is_measured(panel: EditPanel) -> None:
    # Run -> gallery is the pictures; the drift (and the result's sheet) follow on the
    # runner's worker, before wait() returns.
    model = panel._model
    views = model.listener
    seen: list[tuple[str, ...]] = []

    def listener(aspects: frozenset[str]) -> None:
        runs = model.snapshot().runs
        if runs and runs[-1].gallery:
            seen.append(tuple(p.drift for p in runs[-1].gallery))
        assert views is not None
        views(aspects)

    model.listener = listener
    panel.run()
    result = panel.wait(WAIT)
    assert result is not None and seen, seen
    assert seen[0] == ("drift: measuring…",), seen
    assert re.fullmatch(r"drift \d+\.\d ΔE", seen[-1][0]), seen
    caption = panel.widgets.gallery.children[0].children[1].value
    assert seen[-1][0] in caption
    assert result._repr_mimebundle_()["image/jpeg"]  # the sheet was made meanwhile


def test_run_keeps_the_kernel_free_and_refuses_a_second_run_visibly(panel: EditPanel) -> None:
    first = panel.run()
    assert panel.running and not first.done()  # run() returned while the job runs
    assert panel.widgets.run.disabled
    assert panel.run() is first
    assert "still going" in panel.widgets.notice.value
    assert first.result(WAIT) is not None
    assert len(panel.history) == 1


def test_cancel_cancels_the_remote_job(panel: EditPanel, emu: Any) -> None:
    future = panel.run()
    panel.widgets.cancel.click()
    assert panel.wait(WAIT) is None
    run = panel.history[-1]
    assert run.state == "cancelled" and future.done()
    assert "cancelled" in panel.status
    assert emu.stats()["requests"][run.request_id]["cancelled"] is True
    assert panel.last_error is None  # a cancel is not an error
    assert "cancelled on the server" in panel.widgets.notice.value


def test_reference_past_the_last_image_is_flagged_live_and_refused_in_words(
    panel: EditPanel, emu: Any
) -> None:
    submits = emu.stats()["totals"]["submits"]
    panel.prompt = "put the hat from <<<image_2>>> on <<<image_1>>>"
    assert "refers to image 2" in panel.widgets.count.value
    future = panel.run()
    assert isinstance(future.exception(0), KlingValidationError)
    assert panel.last_error is not None and "image 2" in panel.last_error
    assert "Traceback" not in panel.widgets.error.value
    assert panel.widgets.error.layout.display is None  # shown
    assert panel.history == [] and emu.stats()["totals"]["submits"] == submits


def test_prompt_count_warns_past_2500_characters(panel: EditPanel) -> None:
    panel.prompt = "x" * 2501
    assert "2501 / 2500" in panel.widgets.count.value
    assert "1 too many" in panel.widgets.count.value


def test_too_small_image_is_flagged_on_its_card_and_its_run_fails_in_words(
    conn: Connection,
) -> None:
    panel = EditPanel(conn, prompt="sharpen <<<image_1>>>")
    assert panel.add_image(photo((200, 150))) == 1
    card_text = panel.widgets.cards.children[0].children[1].value
    assert "200×150" in card_text and "at least 300 px" in card_text
    assert panel.wait(WAIT) is None
    panel.run()
    assert panel.wait(WAIT) is None
    assert panel.last_error is not None and "at least 300 px" in panel.last_error
    assert panel.history[-1].state == "failed"


def test_missing_file_is_refused_in_words(conn: Connection, tmp_path: Path) -> None:
    panel = EditPanel(conn)
    assert panel.add_image(tmp_path / "nope.jpg") is None
    assert panel.images == []
    assert panel.last_error is not None and "nope.jpg" in panel.last_error


def test_path_field_and_add_button_add_an_image(conn: Connection, photo_file: Path) -> None:
    panel = EditPanel(conn)
    panel.widgets.source.value = str(photo_file)
    panel.widgets.add.click()
    assert panel.images == [str(photo_file)] and panel.widgets.source.value == ""


def test_unexpected_error_is_shown_in_words(
    panel: EditPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api, "start_edit", broken)
    future = panel.run()
    assert panel.wait(WAIT) is None
    assert isinstance(future.exception(), RuntimeError)  # kept for scripts, not swallowed
    assert panel.last_error is not None
    assert "RuntimeError: disk on fire" in panel.last_error
    assert "Traceback" not in panel.last_error
    assert not panel.running


def test_a_result_that_cannot_be_shown_ends_the_run_in_words(
    panel: EditPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(path: Path) -> bytes:
        raise OSError("cannot identify image file")

    monkeypatch.setattr(panel_runner, "gallery_jpeg", unreadable)
    future = panel.run()
    assert panel.wait(WAIT) is None and isinstance(future.exception(), OSError)
    assert panel.last_error is not None and "OSError: cannot identify" in panel.last_error
    assert not panel.running and not panel.widgets.run.disabled


def test_use_as_input_adds_the_result_as_the_next_image(panel: EditPanel) -> None:
    panel.run()
    result = panel.wait(WAIT)
    assert result is not None
    panel.widgets.gallery.children[0].children[2].children[1].click()  # "Use as input"
    assert panel.images[-1] == str(result.images[0].path)
    assert len(panel.images) == 2
    assert "image_2" in panel.widgets.notice.value


def test_restore_puts_back_prompt_images_and_parameters(panel: EditPanel) -> None:
    panel.aspect_ratio, panel.num_images, panel.resolution = "16:9", 2, "2K"
    panel.run()
    panel.cancel()  # any run restores, finished or not; cancelling keeps this test quick
    panel.wait(WAIT)
    panel.prompt, panel.aspect_ratio, panel.num_images, panel.resolution = "other", "1:1", 1, "1K"
    panel.clear_images()
    assert panel.widgets.history.value == 1
    panel.widgets.history_restore.click()
    assert panel.prompt == "turn <<<image_1>>> into a watercolor"
    assert (panel.aspect_ratio, panel.num_images, panel.resolution) == ("16:9", 2, "2K")
    assert len(panel.images) == 1


def test_show_code_prints_the_equivalent_calls(panel: EditPanel, photo_file: Path) -> None:
    panel.num_images = 3
    panel.widgets.code_toggle.click()
    shown = panel.widgets.code.value
    assert panel.widgets.code.layout.display is None
    code = panel.code()
    compile(code, "<show code>", "exec")
    assert "kling_nb.edit(" in code and "kling_nb.run_fal_task(" in code
    assert "'turn <<<image_1>>> into a watercolor'" in code
    assert repr(str(photo_file)) in code and "num_images=3" in code
    assert "'num_images': 3" in code and "'fal-ai/kling-image/o1'" in code
    assert "kling_nb.edit(" in shown and "&lt;&lt;&lt;image_1&gt;&gt;&gt;" in shown
    panel.prompt = "now <<<image_1>>> in ink"
    assert "now &lt;&lt;&lt;image_1&gt;&gt;&gt; in ink" in panel.widgets.code.value  # live


def test_upload_values_of_ipywidgets_7_and_8_are_both_added(conn: Connection) -> None:
    panel = EditPanel(conn)
    v7 = {
        "a.jpg": {
            "metadata": {"name": "a.jpg", "type": "image/jpeg", "size": 1},
            "content": photo(),
        },
        "b.jpg": {"metadata": {"name": "b.jpg"}, "content": photo(color=(200, 0, 0))},
    }
    v8 = ({"name": "c.jpg", "type": "image/jpeg", "size": 1, "content": memoryview(photo())},)
    assert [name for name, _ in upload_entries(v7)] == ["a.jpg", "b.jpg"]
    assert [name for name, _ in upload_entries(v8)] == ["c.jpg"]
    assert panel.add_uploads(v7) == [1, 2]
    assert panel.add_uploads(v8) == [3]
    # And through the widget itself, as the browser fills it: taken, then cleared.
    _browser_upload(panel.widgets.upload, "d.jpg", photo())
    assert len(panel.images) == 4 and not panel.widgets.upload.value
    labels = [card.children[1].value for card in panel.widgets.cards.children]
    assert all(name in text for name, text in zip("abcd", labels, strict=True))
    assert all(Path(str(src)).is_file() for src in panel.images)  # kept as files


def _browser_upload(upload: Any, name: str, data: bytes) -> None:
    """What the front end does when a file is chosen, in ipywidgets 7 or 8."""
    if ipywidgets.__version__.startswith("7."):
        upload.metadata = [{"name": name, "type": "image/jpeg", "size": len(data)}]
        upload.data = [data]
        upload.set_trait("_counter", upload._counter + 1)
        return
    entry = {"name": name, "type": "image/jpeg", "size": len(data), "content": memoryview(data)}
    upload.value = ({**entry, "last_modified": datetime.now(timezone.utc)},)


def test_resolution_choices_follow_the_backend_profile() -> None:
    fal = Connection("fal", "queue.fal.run", "k", "fal")
    qiniu = Connection("qiniu", "api.qnaigc.com/queue", "k", "qiniu")
    assert list(EditPanel(fal).widgets.resolution.options) == ["1K", "2K"]
    assert list(EditPanel(qiniu).widgets.resolution.options) == ["1K", "2K"]  # 4K: guide only
    fal_panel = EditPanel(fal)
    assert "fal" in fal_panel.widgets.badge.value and "billed" in fal_panel.widgets.badge.value
    fal_panel.add_image(photo())
    fal_panel.insert_reference(1)
    assert fal_panel.prompt == "@Image1 "


def test_badge_says_emulator(panel: EditPanel) -> None:
    assert "emulator" in panel.widgets.badge.value
    assert "not Kling" in panel.widgets.badge.value


def test_reorder_and_remove_keep_prompt_references_pointing_at_the_same_images(
    conn: Connection,
) -> None:
    panel = EditPanel(conn)
    for color in ((200, 0, 0), (0, 200, 0), (0, 0, 200)):
        panel.add_image(photo(color=color))
    red, green, blue = panel.images
    panel.prompt = "<<<image_1>>> red, @Image2 green, <<<image_3>>> blue"
    card = panel.widgets.cards.children[2]
    card.children[2].children[0].click()  # blue: "move earlier"
    assert panel.images == [red, blue, green]
    assert panel.prompt == "<<<image_1>>> red, @Image3 green, <<<image_2>>> blue"
    panel.remove_image(1)  # red goes; its reference now points past the end, flagged
    assert panel.images == [blue, green]
    assert panel.prompt == "<<<image_3>>> red, @Image2 green, <<<image_1>>> blue"
    assert "refers to image 3" in panel.widgets.count.value
    assert renumber_references("<<< image_1 >>> @Image12", {1: 2, 12: 1}) == (
        "<<<image_2>>> @Image1"
    )


def test_insert_reference_button_appends_the_token(panel: EditPanel) -> None:
    panel.prompt = "blend"
    panel.widgets.cards.children[0].children[2].children[2].click()  # "+ @"
    assert panel.prompt == "blend <<<image_1>>>"


def test_save_and_compare(panel: EditPanel, tmp_path: Path) -> None:
    panel.num_images = 2
    panel.run()
    assert panel.wait(WAIT) is not None
    panel.widgets.folder.value = str(tmp_path / "out")
    panel.widgets.gallery.children[1].children[2].children[0].click()  # Save image 2
    saved = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(saved) == 2 and saved[0].endswith("_2.png") and saved[1].endswith(".json")
    assert len(panel.save()) == 2
    panel.widgets.compare.click()
    shown = panel.widgets.compare_image.layout
    assert panel._dispatch.pump_until(lambda: shown.display is None, WAIT)  # made off the loop
    assert panel.widgets.compare_image.value[:2] == b"\xff\xd8"
    assert panel.widgets.compare_note.layout.display == "none"  # "preparing…" is gone
    panel.widgets.compare.click()
    assert panel.widgets.compare_image.layout.display == "none"


def test_journal_rows_restore_prompt_and_parameters(panel: EditPanel) -> None:
    panel.aspect_ratio = "3:4"
    panel.run()
    assert panel.wait(WAIT) is not None
    assert panel.widgets.journal_section.layout.display is None
    entry_id = panel.widgets.journal.options[0][1]
    panel.prompt, panel.aspect_ratio = "", "auto"
    panel.restore_journal(entry_id)
    assert panel.prompt == "turn <<<image_1>>> into a watercolor"
    assert panel.aspect_ratio == "3:4"
    assert "add them again" in panel.widgets.notice.value  # a file input is not kept


def test_labels_in_chinese(conn: Connection) -> None:
    panel = EditPanel(conn, lang="zh")
    assert "运行" in panel.widgets.run.description
    assert "取消" in panel.widgets.cancel.description


def test_every_panel_message_exists_in_both_languages() -> None:
    keys = [k for k in MESSAGES if k.startswith("panel.")]
    assert keys and all(set(MESSAGES[k]) == {"zh", "en"} for k in keys)


def test_only_core_widgets_and_never_the_output_widget(panel: EditPanel) -> None:
    found = _widgets(panel.widget)
    assert not any(isinstance(x, ipywidgets.Output) for x in found)
    assert all(type(x).__module__.startswith("ipywidgets") for x in found)


def test_follows_the_current_connection(conn: Connection) -> None:
    panel = kling_nb.EditPanel()
    assert panel.connection == conn


def test_status_line_shows_queue_position_elapsed_and_last_log(panel: EditPanel) -> None:
    from kling_nb._wire import JobStatus
    from kling_nb.panel import PanelRun

    assert panel.connection is not None
    log = {"message": "Rendering  image 1/1", "level": "INFO", "source": "USER", "timestamp": ""}
    status = JobStatus("IN_QUEUE", position=2, logs=(log,))  # type: ignore[arg-type]
    run = PanelRun(
        7, panel.parameters(), (), panel.connection, request_id="abcdef123456", status=status
    )
    line = panel._model.snapshot().status_line(run)
    assert "#7" in line and "queued (position 3)" in line
    assert "Rendering image 1/1" in line and "request abcdef12" in line
    assert " s · " in line  # elapsed seconds


def test_web_images_are_sent_as_urls_never_downloaded(conn: Connection) -> None:
    from kling_nb._samples import GUIDE_URL

    panel = EditPanel(conn, prompt="watercolor <<<image_1>>>")
    assert panel.add_image("https://example.com/photo.jpg") == 1  # no network: not fetched
    assert panel.widgets.cards.children[0].children[0].format == "url"
    assert panel.add_image(GUIDE_URL) == 2  # the guide's sample: thumbnail from the bundle
    assert panel.widgets.cards.children[1].children[0].format == "jpeg"
    panel.remove_image(2)
    panel.run()
    assert panel.wait(WAIT) is None  # the emulator fetches nothing: refused, in words
    assert panel.last_error is not None and "example.com" in panel.last_error


def test_out_of_range_num_images_is_refused_visibly_not_clamped(panel: EditPanel, emu: Any) -> None:
    submits = emu.stats()["totals"]["submits"]
    panel.widgets.num_images.value = 20  # as typed in the browser
    assert panel.num_images == 20  # kept, not clamped to 9
    problem = panel.widgets.num_problem
    assert problem.layout.display is None
    assert "num_images = 20" in problem.value and "from 1 to 9" in problem.value
    assert panel.widgets.run.disabled
    future = panel.run()  # from code: refused in words, nothing sent
    assert isinstance(future.exception(0), KlingValidationError)
    assert panel.last_error is not None and "num_images = 20" in panel.last_error
    assert emu.stats()["totals"]["submits"] == submits
    panel.num_images = 3
    assert problem.layout.display == "none" and not panel.widgets.run.disabled
    with pytest.raises(KlingValidationError, match="whole number"):
        panel.num_images = "2"  # type: ignore[assignment]


def test_an_image_refused_is_named_by_the_index_it_would_have(
    panel: EditPanel, tmp_path: Path
) -> None:
    assert panel.add_image(photo(color=(200, 30, 30))) == 2
    assert panel.add_image(tmp_path / "gone.jpg") is None
    assert panel.last_error is not None and "image_urls[2]" in panel.last_error
    assert panel.add_image(photo((200, 150))) == 3
    card_text = panel.widgets.cards.children[2].children[1].value
    assert "image_urls[2]" in card_text and "200×150" in card_text


def test_the_chinese_panel_shows_code_comments_and_status_in_chinese(
    conn: Connection, photo_file: Path
) -> None:
    panel = EditPanel(conn, lang="zh", prompt="将 <<<image_1>>> 转换为水彩画", images=[photo_file])
    comments = [line.split("#", 1)[1] for line in panel.code().splitlines() if "#" in line]
    assert len(comments) >= 3
    assert all(re.search("[\u4e00-\u9fff]", text) for text in comments), comments
    panel.run()
    assert panel.wait(WAIT) is not None
    assert "张图片" in panel.status and "请求" in panel.status and "秒" in panel.status
    assert "模拟器" in panel.widgets.badge.value
    assert "张图片" in repr(panel)


def test_the_runs_list_selects_the_newest_and_shows_or_restores_any(panel: EditPanel) -> None:
    panel.run()
    first = panel.wait(WAIT)
    panel.prompt, panel.aspect_ratio = "now <<<image_1>>> in ink", "1:1"
    panel.run()
    second = panel.wait(WAIT)
    assert first is not None and second is not None and panel.result is second
    runs = panel.widgets.history
    assert [number for _, number in runs.options] == [2, 1] and runs.value == 2
    assert "#2 " in runs.options[0][0] and "now <<<image_1>>> in ink" in runs.options[0][0]
    runs.value = 1  # picked in the list
    panel.widgets.history_show.click()
    assert panel.result is first and "Run #1" in panel.widgets.results_head.value
    panel.widgets.history_restore.click()
    assert panel.prompt == "turn <<<image_1>>> into a watercolor" and panel.aspect_ratio == "auto"
    assert runs.value == 1  # restoring is not a new run: the choice stays


def test_a_key_in_an_error_never_reaches_the_panel(
    panel: EditPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kling_nb._secrets import remember_secret
    from tests.conftest import CANARY_KEY

    remember_secret(CANARY_KEY)  # as connect() and the journal do

    def echoing(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"gateway said: bad key {CANARY_KEY}")

    monkeypatch.setattr(api, "start_edit", echoing)
    panel.run()
    assert panel.wait(WAIT) is None
    shown = [panel.last_error or "", panel.widgets.error.value, panel.status, repr(panel)]
    assert "gateway said" in shown[0]
    assert not any(CANARY_KEY in text for text in shown)


def test_price_next_to_run_follows_the_parameters(panel: EditPanel, conn: Connection) -> None:
    from dataclasses import replace

    # An emulator imitating Qiniu, which publishes no price: no guess is shown.
    panel._model.connect(replace(conn, profile="qiniu"))
    assert panel.price == "price unknown (set KLING_NB_PRICE, e.g. '0.2 CNY')"
    assert panel.widgets.price.layout.display != "none"
    panel._model.connect(replace(conn, profile="fal"))  # an emulator imitating fal
    panel.num_images = 2
    assert panel.price == "≈ $0.056 · emulated, not billed"
    assert "$0.056" in panel.widgets.price.value


def test_run_pays_again_unless_reuse_is_ticked(panel: EditPanel, emu: Any) -> None:
    first = panel.run().result(WAIT)
    before = emu.stats()["totals"]["submits"]
    assert not panel.widgets.reuse.value  # unticked by default: Run makes a new job
    second = panel.run().result(WAIT)
    assert emu.stats()["totals"]["submits"] == before + 1
    assert second.request_id != first.request_id
    panel.widgets.reuse.value = True
    assert panel.reuse
    third = panel.run().result(WAIT)
    assert emu.stats()["totals"]["submits"] == before + 1  # replayed, not sent
    assert third.request_id == second.request_id
    assert "Replayed from request" in panel.widgets.notice.value


# --- the region of reference image 1: its place in the panel, and the hook to the request ----


def test_a_region_is_shown_printed_in_show_code_and_cleared(panel: EditPanel, emu: Any) -> None:
    ws = panel.widgets
    assert panel.region is None and ws.region_section.layout.display == "none"
    assert ws.region is None  # a panel without a region carries no widgets for one
    assert "region=" not in panel.code()
    panel.region = (100, 50, 700, 500)
    assert panel.region == (100, 50, 700, 500)
    assert ws.region_section.layout.display is None
    parts = ws.region_parts()
    assert "(100, 50, 700, 500)" in parts.text.value and not parts.clear.disabled
    assert "region=(100, 50, 700, 500)," in panel.code()
    assert "resolution=" not in panel.code().split("run_fal_task")[0]  # auto: the plan picks
    assert ws.resolution.value == "auto" and ("auto", "auto") in ws.resolution.options
    assert panel._dispatch.pump_until(lambda: "sent at 1K" in parts.plan.value, WAIT)
    with pytest.raises(KlingValidationError, match=r"inside image 1 \(800×600 px\)"):
        panel.region = (0, 0, 900, 10)
    parts.clear.click()
    assert panel.region is None and ws.region_section.layout.display == "none"
    assert ws.resolution.value == "1K" and list(ws.resolution.options) == ["1K", "2K"]
    assert "resolution='1K'," in panel.code()  # a whole-picture edit, as before


def test_a_region_set_in_the_panel_reaches_the_request_the_job_and_the_journal(
    panel: EditPanel, emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kling_nb._journal import journal_for

    sent: list[Any] = []
    real_start = api.start_edit

    def start_edit(request: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(request)
        return real_start(request, *args, **kwargs)

    monkeypatch.setattr(api, "start_edit", start_edit)
    submits = emu.stats()["totals"]["submits"]
    panel.region = (100, 50, 700, 500)
    assert panel.resolution == "auto"  # the region's plan picks, unless one was chosen
    panel.run()
    result = panel.wait(WAIT)  # and the widgets are up to date
    assert result is not None
    assert [request.region for request in sent] == [(100, 50, 700, 500)]
    assert sent[0].resolution is None and emu.stats()["totals"]["submits"] == submits + 1
    row = journal_for(panel.connection.home).find(result.request_id)  # type: ignore[union-attr]
    assert row is not None and row.region is not None
    assert row.region["region"]["box"] == [100, 50, 700, 500]
    # Full-size composites: the size of image 1, not of the crop the model was sent.
    assert [(im.width, im.height) for im in result.images] == [(800, 600)]
    assert result.region is not None and panel.history[-1].region == (100, 50, 700, 500)
    caption = panel.widgets.gallery.children[0].children[1].value
    assert "800×600" in caption and re.search(r"drift \d+\.\d ΔE", caption), caption
    panel.region = None
    assert panel.resolution == "1K"  # the whole picture's default again
    panel.restore(1)
    assert panel.region == (100, 50, 700, 500) and panel.resolution == "auto"


def test_a_drawing_surface_has_its_place_while_image_1_is_there(conn: Connection) -> None:
    panel = EditPanel(conn)
    surface = ipywidgets.HTML("a stand-in for the drawing surface")
    panel._place_region_surface(surface)
    section = panel.widgets.region_section
    assert section.layout.display == "none"  # no image 1 to draw on yet
    panel.add_image(photo())
    parts = panel.widgets.region_parts()
    assert section.layout.display is None and surface in parts.surface.children
    assert "whole picture" in parts.text.value
    panel._place_region_surface(None)
    assert section.layout.display == "none"


def test_a_panel_shares_layouts_but_each_part_shown_alone_has_its_own(panel: EditPanel) -> None:
    from kling_nb.panel.compat import live_widgets

    before = live_widgets()
    EditPanel(panel.connection)
    assert live_widgets() - before <= 110  # one Layout per widget would make about 170
    panel.region = (10, 10, 100, 100)  # the region's parts, made now
    users: dict[int, list[Any]] = {}
    for widget in _widgets(panel.widget):
        if widget.has_trait("layout"):
            users.setdefault(id(widget.layout), []).append(widget)
    for widget in panel.widgets.toggled():
        assert users[id(widget.layout)] == [widget], type(widget).__name__
    panel.widgets.compare.click()  # hiding and showing one part moves nothing else
    assert panel.widgets.error.layout.display == "none"
    assert panel.widgets.results_head.layout.display is None


def test_a_comparison_that_cannot_be_made_says_why_and_is_tried_again(
    panel: EditPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kling_nb._results import EditResult

    real = EditResult.compare
    calls: list[int] = []

    def flaky(self: EditResult) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("input image_1 could not be read")
        return real(self)

    monkeypatch.setattr(EditResult, "compare", flaky)
    assert panel.run().result(WAIT) is not None
    ws = panel.widgets
    note = ws.compare_note
    panel.toggle_compare()
    assert panel._dispatch.pump_until(lambda: "could not be made" in note.value, WAIT)
    assert "OSError: input image_1 could not be read" in note.value
    assert ws.compare_image.layout.display == "none" and note.layout.display is None
    panel.toggle_compare()  # hide
    panel.toggle_compare()  # and ask again: made this time
    assert panel._dispatch.pump_until(lambda: ws.compare_image.layout.display is None, WAIT)
    assert len(calls) == 2 and note.layout.display == "none"
