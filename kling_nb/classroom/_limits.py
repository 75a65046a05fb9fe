"""The guess limiter: failed token checks per client address, in a sliding window."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

GUESSES = 20  # failed checks an address may make per window (a class shares one NAT address)
WINDOW = 60.0
ADDRESSES = 10_000  # addresses remembered at most; the oldest are forgotten first


class GuessLimiter:
    """Counts failed token checks per address; over the limit, checks wait (429 Retry-After)."""

    def __init__(
        self,
        limit: int = GUESSES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
        addresses: int = ADDRESSES,
    ):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._addresses = addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.total = 0  # failed checks since start, for the dashboard

    def retry_after(self, address: str) -> float | None:
        """Seconds before `address` may try again, or None when it may now."""
        times = self._failures.get(address)
        if times is None:
            return None
        now = self._clock()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        if len(times) < self.limit:
            return None
        return max(0.0, times[0] + self.window - now)

    def failed(self, address: str) -> None:
        """Record one failed check from `address`."""
        self.total += 1
        times = self._failures.pop(address, None) or deque(maxlen=self.limit)
        times.append(self._clock())
        self._failures[address] = times  # most recent last: the oldest go first below
        while len(self._failures) > self._addresses:
            self._failures.popitem(last=False)

    @property
    def addresses(self) -> int:
        """How many addresses have failed checks in the window (roughly: not swept)."""
        return len(self._failures)
