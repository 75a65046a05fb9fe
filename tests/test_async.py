"""The async API against a real emulator on loopback, through fal_client and httpx."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import kling_nb
from kling_nb import ENDPOINT, KlingO1Request, KlingTimeoutError, emulator
from kling_nb._job import Job
from kling_nb._journal import journal_for

from .conftest import connect_to
from .test_job import args, photo, request_stats


@pytest.fixture(scope="module")
def slow_emu() -> Iterator[emulator.Emulator]:
    """Jobs that take 20 s, so there is time to cancel them."""
    with emulator.start(service_time=20.0, workers=2) as handle:
        yield handle


def test_edit_async_gathered_returns_every_result(emu, conn) -> None:  # type: ignore[no-untyped-def]
    async def main() -> list[kling_nb.EditResult]:
        return await asyncio.gather(
            *(
                kling_nb.edit_async(f"watercolor {i} of <<<image_1>>>", photo(), progress=False)
                for i in range(3)
            )
        )

    results = asyncio.run(main())
    assert len({r.request_id for r in results}) == 3
    assert all(r.images and r.images[0].path.exists() for r in results)
    states = {e.request_id: e.state for e in kling_nb.history(limit=10)}
    assert all(states[r.request_id] == "completed" for r in results)


def test_run_fal_task_async_streams_or_polls(emu, conn) -> None:  # type: ignore[no-untyped-def]
    async def main() -> list[dict[str, object]]:
        return list(
            await asyncio.gather(
                kling_nb.run_fal_task_async(ENDPOINT, args(), progress=False),
                kling_nb.run_fal_task_async(ENDPOINT, args(), 0.1, progress=False),
            )
        )

    streamed, polled = asyncio.run(main())
    assert streamed["images"] and polled["images"]


def test_the_async_wait_starts_no_thread_per_job(emu, conn, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    started: list[str] = []
    real_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    async def main() -> None:
        # The loop's executor, where journal writes go (off the loop): one thread, shared.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(1, thread_name_prefix="journal")
        )
        jobs = [await Job.submit_async(ENDPOINT, args(), connection=conn) for _ in range(4)]
        monkeypatch.setattr(threading.Thread, "start", counting_start)
        outputs = await asyncio.gather(*(job.wait_async(progress=False) for job in jobs))
        monkeypatch.undo()
        assert all(o["images"] for o in outputs)

    asyncio.run(main())
    # Four waits, streamed, on the loop: at most the loop's own executor thread, no thread
    # per job (it may already have been started by the submits).
    assert set(started) <= {"journal_0"}


def test_no_journal_write_happens_on_the_event_loop(emu, conn, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kling_nb._journal import Journal

    on_loop: list[str] = []
    writes: list[str] = []
    real_update = Journal._update
    loop_thread: list[threading.Thread] = []

    def watched_update(self: Journal, *a: object, **k: object) -> bool:
        writes.append(threading.current_thread().name)
        if loop_thread and threading.current_thread() is loop_thread[0]:
            on_loop.append(str(a[1]) if len(a) > 1 else "?")
        return real_update(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Journal, "_update", watched_update)

    async def main() -> None:
        loop_thread.append(threading.current_thread())
        prompts = [f"watercolor {i} of <<<image_1>>>" for i in range(8)]
        await asyncio.gather(
            *(
                kling_nb.edit_async(p, photo(), progress=False, connection=conn, fresh=True)
                for p in prompts
            )
        )

    asyncio.run(main())
    assert len(writes) >= 8 * 3  # queued, running, downloading, completed, owner… per edit
    assert on_loop == []


def test_cancelling_the_task_cancels_the_remote_job(slow_emu, home) -> None:  # type: ignore[no-untyped-def]
    conn = connect_to(slow_emu, home)

    async def main() -> Job:
        job = await Job.submit_async(ENDPOINT, args(), connection=conn)
        task = asyncio.ensure_future(job.wait_async(progress=False))
        await asyncio.sleep(0.5)  # a real server; the wait must have started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return job

    job = asyncio.run(main())
    assert request_stats(slow_emu, job.request_id)["cancelled"] is True
    assert kling_nb.history(limit=1)[0].state == "cancelled"


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_cancel_in_the_first_turns_of_the_wait_still_cancels_the_job(
    slow_emu: emulator.Emulator, home: Path, turns: int
) -> None:
    # The window a batch's cancel can land in: the submit has returned, the wait has just
    # begun (its first journal write is in flight). The job must not be left running.
    conn = connect_to(slow_emu, home)

    async def main() -> Job:
        job = await Job.submit_async(ENDPOINT, args(), connection=conn)
        task = asyncio.ensure_future(job.wait_async(progress=False))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return job

    job = asyncio.run(main())
    stats = request_stats(slow_emu, job.request_id)
    assert stats["cancel_requests"] == 1 and stats["cancelled"] is True, stats
    assert kling_nb.history(limit=1)[0].state == "cancelled"


def test_an_async_deadline_cancels_and_raises_timeout(slow_emu, home) -> None:  # type: ignore[no-untyped-def]
    conn = connect_to(slow_emu, home)
    started = time.monotonic()
    with pytest.raises(KlingTimeoutError) as exc:
        asyncio.run(
            kling_nb.run_fal_task_async(
                ENDPOINT, args(), timeout=1.0, progress=False, connection=conn
            )
        )
    assert time.monotonic() - started < 1.0 + 2 + 2  # deadline + 2 s, after a submit
    assert request_stats(slow_emu, exc.value.request_id)["cancelled"] is True


def test_run_batch_async_gives_one_outcome_per_item(emu, conn) -> None:  # type: ignore[no-untyped-def]
    items = [args(prompt=f"style {i} <<<image_1>>>") for i in range(4)]
    items.append({"prompt": "", "image_urls": []})  # refused on its own
    result = asyncio.run(kling_nb.run_batch_async(items, concurrency=2, progress=False))
    assert len(result) == 5
    assert [isinstance(o, kling_nb.EditResult) for o in result] == [True] * 4 + [False]
    assert isinstance(result[4], kling_nb.KlingValidationError)


def test_a_bad_timeout_is_refused_before_submitting_async(emu, conn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kling_nb.KlingValidationError):
        asyncio.run(kling_nb.edit_async("x <<<image_1>>>", photo(), timeout=0, progress=False))
    assert not kling_nb.history(limit=1)


def test_the_sync_api_works_inside_a_running_loop(emu, conn) -> None:  # type: ignore[no-untyped-def]
    async def cell() -> dict[str, object]:
        # A notebook cell runs inside the kernel's loop: the sync call must not need it.
        return kling_nb.run_fal_task(ENDPOINT, args(), progress=False)

    assert asyncio.run(cell())["images"]


def test_cancelling_a_batch_task_settles_and_records_every_item_first(
    slow_emu: emulator.Emulator, home: Path
) -> None:
    conn = connect_to(slow_emu, home)
    journal = journal_for(home)
    reports: list[dict[str, object]] = []
    items = [KlingO1Request(f"slow {i} <<<image_1>>>", [photo()]) for i in range(6)]

    async def main() -> list[asyncio.Task[object]]:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reports.append(ctx))
        task = asyncio.ensure_future(
            kling_nb.run_batch_async(items, concurrency=6, progress=False, connection=conn)
        )
        for _ in range(300):  # until every item is on the server
            await asyncio.sleep(0.05)
            if sum(1 for e in journal.entries() if e.request_id) == 6:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        # Coroutines still to run (httpx's own byte iterators may still be finalising, as
        # the loop does for any async generator left to the garbage collector).
        return [t for t in pending if not t.done() and hasattr(t.get_coro(), "cr_code")]

    left_running = asyncio.run(main())
    assert left_running == []  # structured: every item settled before the batch returned
    assert reports == []  # nothing reported after the loop ends
    rows = journal.entries()
    assert len(rows) == 6
    stats = slow_emu.stats()["requests"]
    for row in rows:  # each cancel reached the server and was recorded with its answer
        assert stats[row.request_id]["cancelled"], (stats[row.request_id], row)
        assert row.state == "cancelled" and row.cancel == "confirmed", row


def test_asyncio_run_in_a_loop_leaves_no_client_open(emu, conn) -> None:  # type: ignore[no-untyped-def]
    import gc
    import os
    import warnings

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def one() -> dict[str, object]:
        return await kling_nb.run_fal_task_async(ENDPOINT, args(), progress=False, fresh=True)

    asyncio.run(one())  # warm: the connection's sync clients and caches exist now
    gc.collect()
    before = open_fds()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for _ in range(12):
            assert asyncio.run(one())["images"]
        gc.collect()
    assert open_fds() - before <= 2  # was one more socket per asyncio.run


@pytest.mark.parametrize("upload", ["data", "fal"])
def test_a_script_under_w_error_ends_without_an_unclosed_socket(
    tmp_path: Path, upload: str
) -> None:
    # A long-running script's shape: several asyncio.run calls and a sync edit, on the
    # offline emulator, with every warning an error. The kept sessions are closed at exit;
    # fal storage uploads (fal_client's own code) close the sessions they open.
    import subprocess
    import sys

    from .test_cli import THIS_CHECKOUT

    script = (
        "import asyncio, kling_nb\n"
        "photo = kling_nb.sample_image()\n"
        "for i in range(2):\n"
        "    asyncio.run(kling_nb.edit_async(f'watercolor {i} of <<<image_1>>>', photo,"
        " progress=False))\n"
        "kling_nb.edit('oil painting of <<<image_1>>>', photo, progress=False)\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": THIS_CHECKOUT}
    env["KLING_NB_UPLOAD"] = upload
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-X", "dev", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
    assert "ResourceWarning" not in proc.stderr and "unclosed" not in proc.stderr, proc.stderr
