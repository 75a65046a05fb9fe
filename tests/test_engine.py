"""The wait's plan (`_engine`) driven by hand: no network, no sleeping, a fake clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from kling_nb._engine import (
    TICK,
    CancelJob,
    Deadline,
    Fetch,
    Interrupted,
    JobFacts,
    Listen,
    NextEvent,
    Plan,
    Poll,
    Record,
    Sleep,
    StreamEnded,
    Watch,
    jittered,
    wait,
)
from kling_nb._errors import KlingCancelledError, KlingError, KlingJobError, KlingTimeoutError
from kling_nb._progress import NoProgress
from kling_nb._states import JobState
from kling_nb._wire import JobStatus, StreamUnavailable, Transient

RUNNING = JobStatus("IN_PROGRESS")
DONE = JobStatus("COMPLETED")
OUTPUT = {"images": [{"url": "https://x.example/1.png"}]}
FACTS = JobFacts("r-1", "fal-ai/kling-image/o1", "queue.example")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Seen(NoProgress):
    def __init__(self, seen: Callable[[JobStatus | None], None]) -> None:
        self.seen = seen

    def update(self, status: JobStatus, elapsed: float) -> None:
        self.seen(status)


def plan(
    clock: Clock,
    timeout: float | None = 60.0,
    poll_interval: float | None = None,
    stream_ok: bool = True,
    seen: Callable[[JobStatus | None], None] = lambda s: None,
) -> tuple[Plan, Watch]:
    watch = Watch(stream_ok, rng=random.Random(1))
    deadline = Deadline(timeout, clock)
    return wait(FACTS, deadline, watch, Seen(seen), poll_interval), watch


def drive(
    p: Plan,
    answer: Callable[[Any], Any],
    clock: Clock,
    limit: int = 10_000,
    records: list[Record] | None = None,
) -> Any:
    """Perform actions with `answer` (which may raise); sleeps advance the fake clock;
    journal records are collected. Returns the plan's value (an Output's raw JSON)."""
    outcome: Any = None
    error: BaseException | None = None
    for _ in range(limit):
        try:
            action = p.throw(error) if error is not None else p.send(outcome)
        except StopIteration as stop:
            value = stop.value
            return getattr(value, "raw", value)
        outcome, error = None, None
        if isinstance(action, Sleep):
            assert action.seconds <= TICK + 1e-9
            clock.now += action.seconds
            continue
        if isinstance(action, Record):
            if records is not None:
                records.append(action)
            continue
        try:
            outcome = answer(action)
        except BaseException as exc:
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
        if isinstance(action, CancelJob):
            return "unsupported"  # the deadline's cancel: not a poll
        times.append(clock.now)
        return RUNNING

    with pytest.raises(KlingTimeoutError):
        drive(plan(clock, timeout=10.0, stream_ok=False)[0], answer, clock)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] == pytest.approx(0.25) and gaps == sorted(gaps) and max(gaps) <= 3.0
    assert clock.now - 100.0 == pytest.approx(10.0)  # ends at the deadline, not after


def test_each_request_is_bounded_by_the_time_left() -> None:
    clock = Clock()
    budgets: list[float | None] = []

    def answer(action: Any) -> Any:
        if isinstance(action, CancelJob):
            return "unsupported"
        budgets.append(action.budget)
        clock.now += 4.0  # a slow server
        raise Transient("HTTP 503")

    with pytest.raises(KlingTimeoutError):
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


def test_retry_jitter_comes_from_the_injected_random_source() -> None:
    assert [jittered(3, random.Random(7)) for _ in range(2)] == [
        jittered(3, random.Random(7)) for _ in range(2)
    ]
    assert all(0.05 <= jittered(n, random.Random(n)) <= 5.0 for n in range(1, 12))


def test_state_changes_are_journal_actions_the_driver_performs() -> None:
    clock = Clock()
    polls = iter([JobStatus("IN_QUEUE"), RUNNING, RUNNING, DONE])
    records: list[Record] = []

    def answer(action: Any) -> Any:
        return next(polls) if isinstance(action, Poll) else OUTPUT

    assert drive(plan(clock, stream_ok=False)[0], answer, clock, records=records) == OUTPUT
    assert [r.state for r in records] == [JobState.RUNNING, JobState.COMPLETED]
    assert records[-1].facts["result"] == OUTPUT


def _stopped(answers: dict[type, Any], why: str = "interrupt") -> tuple[KlingError, list[Record]]:
    """Drive a wait until it is interrupted (or its deadline passes), answering the cancel
    step from `answers` (a value, or an exception to raise)."""
    clock = Clock()
    records: list[Record] = []
    first = [True]

    def answer(action: Any) -> Any:
        if isinstance(action, Poll) and first[0]:
            first[0] = False
            if why == "interrupt":
                raise Interrupted
            clock.now += 100.0
            return RUNNING
        value = answers[type(action)]
        if isinstance(value, BaseException):
            raise value
        return value

    with pytest.raises(KlingError) as info:
        drive(plan(clock, timeout=10.0, stream_ok=False)[0], answer, clock, records=records)
    return info.value, records


def test_a_cancel_confirmed_by_the_service_is_the_only_one_that_says_not_billed() -> None:
    cancelled = JobStatus.from_body(
        {"status": "COMPLETED", "error": "The request was cancelled.", "error_type": "cancelled"}
    )
    error, records = _stopped({CancelJob: "accepted", Poll: cancelled})
    assert isinstance(error, KlingCancelledError) and error.cancel == "confirmed"
    assert "not be billed" in str(error)
    assert records[-1].state is JobState.CANCELLED


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        ({CancelJob: "accepted", Poll: RUNNING}, "requested"),  # fal: a running job
        ({CancelJob: "unsupported"}, "unsupported"),  # Qiniu: cancel not supported
        ({CancelJob: KlingError("connection refused")}, "failed"),
        ({CancelJob: "already_completed"}, "too_late"),
    ],
)
def test_an_unconfirmed_cancel_keeps_the_row_resumable_and_says_so(
    answers: dict[type, Any], outcome: str
) -> None:
    error, records = _stopped(answers)
    assert isinstance(error, KlingCancelledError) and error.cancel == outcome
    assert "not be billed" not in str(error) and "resume" in str(error)
    assert records[-1].state is None and records[-1].facts["cancel"] == outcome


def test_a_deadline_cancel_is_a_timeout_that_tells_the_same_truth() -> None:
    error, records = _stopped({CancelJob: "unsupported"}, why="deadline")
    assert isinstance(error, KlingTimeoutError) and error.cancel == "unsupported"
    assert "deadline" in str(error) and records[-1].state is None
