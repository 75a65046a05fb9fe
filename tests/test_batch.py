"""run_batch and request_grid against a real emulator on loopback."""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import kling_nb
import kling_nb._job
from kling_nb import (
    EditResult,
    KlingCancelledError,
    KlingError,
    KlingJobError,
    KlingO1Request,
    KlingValidationError,
    emulator,
)
from kling_nb._journal import journal_for

from .conftest import connect_to


def photo(shade: int = 0) -> Image.Image:
    img = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    img.paste((200, shade, 40), (160, 120, 320, 240))
    return img


def test_request_grid_is_every_combination_in_order() -> None:
    grid = kling_nb.request_grid(
        ["oil of <<<image_1>>>", "ink of <<<image_1>>>"],
        ["a.jpg", ["b.jpg", "c.jpg"]],
        resolution=["1K", "2K"],
        aspect_ratio="1:1",
    )
    assert len(grid) == 8
    assert all(isinstance(r, KlingO1Request) and r.aspect_ratio == "1:1" for r in grid)
    assert [(r.prompt[:3], len(r.images), r.resolution) for r in grid[:4]] == [
        ("oil", 1, "1K"),
        ("oil", 1, "2K"),
        ("oil", 2, "1K"),
        ("oil", 2, "2K"),
    ]
    assert len(kling_nb.request_grid("one <<<image_1>>>", "a.jpg")) == 1
    with pytest.raises(KlingValidationError, match="seed"):
        kling_nb.request_grid("p", "a.jpg", seed=[1, 2])


def test_a_batch_with_failures_keeps_every_item_in_order(home: Path) -> None:
    with emulator.start(service_time=0.1, workers=4, fail_rate=0.4, fault_rate=0.2, seed=21) as emu:
        conn = connect_to(emu, home)
        requests: list[KlingO1Request | dict[str, object]] = [
            KlingO1Request(f"style {i} of <<<image_1>>>", [photo(i * 20)]) for i in range(8)
        ]
        requests.insert(3, KlingO1Request("bad <<<image_1>>>", [photo()], resolution="8K"))
        requests.insert(6, {"prompt": "dict <<<image_1>>>", "image_urls": [photo()], "seed": 1})
        batch = kling_nb.run_batch(requests, concurrency=4, progress=False, connection=conn)
        totals = emu.stats()["totals"]
    assert len(batch) == 10
    assert isinstance(batch[3], KlingValidationError) and isinstance(batch[6], KlingValidationError)
    assert totals["submits"] == 8  # the two invalid items were never sent
    assert totals["faults"] > 0  # passing faults happened, and were retried through
    journal = journal_for(home)
    for i, item in enumerate(batch):
        if i in (3, 6):
            continue
        assert isinstance(item, (EditResult, KlingJobError)), item
        if isinstance(item, EditResult):
            prompt = item.parameters["prompt"]
        else:
            assert item.request_id and item.detail
            prompt = journal.find(item.request_id).prompt  # type: ignore[union-attr]
        assert prompt == requests[i].prompt  # type: ignore[union-attr]
    failed = [e for _, e in batch.errors if isinstance(e, KlingJobError)]
    assert failed and len(batch.results) == 8 - len(failed)
    text = repr(batch)
    assert text.count("\n  [") == 10 and "✗ KlingValidationError" in text
    bundle = batch._repr_mimebundle_()
    assert set(bundle) == {"image/jpeg", "text/plain"}
    with pytest.raises(KlingError):
        batch.raise_for_errors()


@pytest.fixture
def slow_emu() -> Iterator[emulator.Emulator]:
    """Jobs of 30 s on two workers: the batch is still pending when Ctrl-C comes."""
    with emulator.start(service_time=30.0, workers=2) as handle:
        yield handle


def interrupt_when(condition: object, timeout: float = 20.0) -> threading.Thread:
    """Deliver a real KeyboardInterrupt to the main thread once `condition()` holds."""

    def watch() -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():  # type: ignore[operator]
            time.sleep(0.05)
        _thread.interrupt_main()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_cancels_every_pending_job_and_keeps_order(slow_emu, home: Path) -> None:  # type: ignore[no-untyped-def]
    conn = connect_to(slow_emu, home)
    requests = [KlingO1Request(f"slow {i} <<<image_1>>>", [photo(i)]) for i in range(5)]
    journal = journal_for(home)

    def three_submitted() -> bool:
        return sum(1 for e in journal.entries() if e.request_id) >= 3

    watcher = interrupt_when(three_submitted)
    started = time.monotonic()
    batch = kling_nb.run_batch(requests, concurrency=3, progress=False, connection=conn)
    watcher.join(5)
    assert time.monotonic() - started < 15
    assert batch.interrupted and len(batch) == 5
    assert all(isinstance(item, KlingCancelledError) for item in batch)
    sent = [item for item in batch if item.request_id]  # type: ignore[union-attr]
    assert len(sent) == 3
    stats = slow_emu.stats()
    assert stats["totals"]["submits"] == 3  # items 3 and 4 were never sent
    assert stats["totals"]["cancels"] >= 3
    for item in sent:
        assert stats["requests"][item.request_id]["cancelled"]  # type: ignore[union-attr]
        assert journal.find(item.request_id).state == "cancelled"  # type: ignore[union-attr]
    assert "interrupted" in repr(batch)


@pytest.mark.slow
def test_passing_faults_are_retried_and_never_fail_or_duplicate_a_job(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_job import ShortestJitter

    monkeypatch.setattr(kling_nb._job.random, "Random", ShortestJitter)  # no real back-off naps
    with emulator.start(service_time=0.1, workers=3, fault_rate=0.4, seed=8) as emu:
        conn = connect_to(emu, home)
        requests = [KlingO1Request(f"fault {i} <<<image_1>>>", [photo(i)]) for i in range(6)]
        batch = kling_nb.run_batch(requests, concurrency=3, progress=False, connection=conn)
        totals = emu.stats()["totals"]
    assert all(isinstance(item, EditResult) for item in batch), repr(batch)
    assert totals["faults"] >= 3 and totals["submits"] == 6
