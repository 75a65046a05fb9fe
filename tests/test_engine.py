"""The wait's plan (`_engine`) driven by hand: no network, no sleeping, a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kling_nb._engine import (
    TICK,
    Deadline,
    DeadlineReached,
    Fetch,
    Listen,
    NextEvent,
    Plan,
    Poll,
    Sleep,
    StreamEnded,
    Watch,
    wait_for_output,
)
from kling_nb._errors import KlingJobError
from kling_nb._transport import JobStatus, StreamUnavailable, Transient

RUNNING = JobStatus("IN_PROGRESS")
DONE = JobStatus("COMPLETED")
OUTPUT = {"images": [{"url": "https://x.example/1.png"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def failed(final: JobStatus, exc: KlingJobError | None) -> KlingJobError:
    text = f"failed: {final.error or final.failed_as or exc}"
    return KlingJobError(text, request_id="r-1", endpoint="e")


def plan(
    clock: Clock,
    timeout: float | None = 60.0,
    poll_interval: float | None = None,
    stream_ok: bool = True,
    seen: Callable[[JobStatus | None], None] = lambda s: None,
) -> tuple[Plan, Watch]:
    watch = Watch(stream_ok)
    return wait_for_output(Deadline(timeout, clock), poll_interval, watch, seen, failed), watch


def drive(p: Plan, answer: Callable[[Any], Any], clock: Clock, limit: int = 10_000) -> Any:
    """Perform actions with `answer` (which may raise); sleeps advance the fake clock."""
    outcome: Any = None
    error: BaseException | None = None
    for _ in range(limit):
        try:
            action = p.throw(error) if error is not None else p.send(outcome)
        except StopIteration as stop:
            return stop.value
        outcome, error = None, None
        if isinstance(action, Sleep):
            assert action.seconds <= TICK + 1e-9
            clock.now += action.seconds
            continue
        try:
            outcome = answer(action)
        except Exception as exc:
            error = exc
    raise AssertionError("the plan never ended")


def test_the_stream_is_read_until_completed_then_the_result_fetched() -> None:
    clock = Clock()
    events = iter([None, RUNNING, None, DONE])
    actions: list[str] = []

    def answer(action: Any) -> Any:
        actions.append(type(action).__name__)
        if isinstance(action, NextEvent):
            clock.now += action.tick
            return next(events)
        return OUTPUT if isinstance(action, Fetch) else None

    assert drive(plan(clock)[0], answer, clock) == OUTPUT
    assert actions == ["Listen", "NextEvent", "NextEvent", "NextEvent", "NextEvent", "Fetch"]


@pytest.mark.parametrize("why", ["HTTP 404", "ConnectError: refused"])
def test_no_stream_means_polling_and_only_a_4xx_marks_the_host(why: str) -> None:
    clock = Clock()
    polls = iter([RUNNING, RUNNING, DONE])

    def answer(action: Any) -> Any:
        if isinstance(action, Listen):
            raise StreamUnavailable(why)
        if isinstance(action, Poll):
            return next(polls)
        return OUTPUT

    p, watch = plan(clock)
    assert drive(p, answer, clock) == OUTPUT
    assert watch.stream_ok is (not why.startswith("HTTP"))


def test_polls_back_off_and_never_sleep_past_one_tick_or_the_deadline() -> None:
    clock = Clock()
    times: list[float] = []

    def answer(action: Any) -> Any:
        times.append(clock.now)
        return RUNNING

    with pytest.raises(DeadlineReached):
        drive(plan(clock, timeout=10.0, stream_ok=False)[0], answer, clock)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] == pytest.approx(0.25) and gaps == sorted(gaps) and max(gaps) <= 3.0
    assert clock.now - 100.0 == pytest.approx(10.0)  # ends at the deadline, not after


def test_each_request_is_bounded_by_the_time_left() -> None:
    clock = Clock()
    budgets: list[float | None] = []

    def answer(action: Any) -> Any:
        budgets.append(action.budget)
        clock.now += 4.0  # a slow server
        raise Transient("HTTP 503")

    with pytest.raises(DeadlineReached):
        drive(plan(clock, timeout=9.0, stream_ok=False)[0], answer, clock)
    assert budgets[0] == pytest.approx(9.5)
    assert all(b is not None and b <= 9.5 for b in budgets)
    assert clock.now - 100.0 <= 9.0 + 4.0


def test_progress_ticks_while_nothing_happens() -> None:
    clock = Clock()
    ticks: list[float] = []

    def answer(action: Any) -> Any:
        if isinstance(action, NextEvent):
            clock.now += action.tick
            return DONE if clock.now - 100.0 > 5 else None
        return OUTPUT

    p, _ = plan(clock, seen=lambda s: ticks.append(clock.now))
    drive(p, answer, clock)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) >= 5 and max(gaps) <= 1.0


def test_a_terminal_failure_ends_without_fetching() -> None:
    clock = Clock()
    failure = JobStatus.from_body({"status": "FAILED", "error": "blocked by moderation"})
    asked: list[Any] = []

    def answer(action: Any) -> Any:
        asked.append(action)
        return failure

    with pytest.raises(KlingJobError, match="blocked by moderation"):
        drive(plan(clock, stream_ok=False)[0], answer, clock)
    assert [type(a) for a in asked] == [Poll]


def test_an_inline_result_is_used_without_a_fetch() -> None:
    clock = Clock()
    done = JobStatus.from_body({"status": "COMPLETED", "result": OUTPUT})
    asked: list[Any] = []

    def answer(action: Any) -> Any:
        asked.append(action)
        return done

    assert drive(plan(clock, stream_ok=False)[0], answer, clock) == OUTPUT
    assert [type(a) for a in asked] == [Poll]


def test_a_stream_that_ends_early_reconnects() -> None:
    clock = Clock()
    opened = []
    events = iter([RUNNING])

    def answer(action: Any) -> Any:
        if isinstance(action, Listen):
            opened.append(clock.now)
            return None
        if isinstance(action, NextEvent):
            if len(opened) == 1:
                try:
                    return next(events)
                except StopIteration:
                    raise StreamEnded("closed") from None
            return DONE
        return OUTPUT

    assert drive(plan(clock)[0], answer, clock) == OUTPUT
    assert len(opened) == 2


@pytest.mark.parametrize(
    ("body", "state", "error"),
    [
        ({"status": "IN_QUEUE"}, "IN_QUEUE", None),
        ({"status": "IN_PROGRESS", "logs": None, "queue_position": "x"}, "IN_PROGRESS", None),
        ({"status": "ERROR", "message": "crashed"}, "COMPLETED", "crashed"),
        ({"status": "CANCELLED"}, "COMPLETED", "CANCELLED"),
    ],
)
def test_status_bodies_are_read_leniently(
    body: dict[str, Any], state: str, error: str | None
) -> None:
    status = JobStatus.from_body(body)
    assert status.state == state and status.error == error and status.position is None
    if body["status"] == "CANCELLED":
        assert status.error_type == "cancelled"
