"""The guess limiter, on an injected clock."""

from __future__ import annotations

from kling_nb.classroom._limits import GuessLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_once_over_the_limit_then_may_try_again() -> None:
    clock = Clock()
    limiter = GuessLimiter(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1")
        clock.now += 1
    assert limiter.retry_after("10.0.0.1") == 57.0  # the oldest failure leaves the window then
    assert limiter.retry_after("10.0.0.2") is None  # other addresses are not held back
    clock.now += 57
    assert limiter.retry_after("10.0.0.1") is None


def test_the_limiter_forgets_the_oldest_addresses_beyond_its_bound() -> None:
    limiter = GuessLimiter(limit=1, window=60, clock=Clock(), addresses=100)
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert limiter.addresses == 100 and limiter.total == 1000
    assert limiter.retry_after("10.0.3.231") is not None  # the most recent is kept
