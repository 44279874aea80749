"""Send-rate limiting by GCRA (the generic cell rate algorithm): at most `rate` sends a second on
average, with bursts of up to `burst` sends. In-process for `run`; `worker/rate_limit.py` keeps
the same state in Redis, shared by all workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Wait until one more send is allowed."""
        ...

    async def hold(self, seconds: float) -> None:
        """Allow no send for `seconds` (the provider throttled the whole sending number)."""
        ...


class Unlimited:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.held_until = 0.0

    async def acquire(self) -> None:
        while (wait := self.held_until - self.clock()) > 0:
            await asyncio.sleep(wait)

    async def hold(self, seconds: float) -> None:
        self.held_until = max(self.held_until, self.clock() + seconds)


class LocalGcra:
    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.tolerance = self.interval * max(burst - 1, 0)
        self.clock = clock
        self.tat = 0.0  # the theoretical arrival time of the next send

    def wait_for(self, now: float) -> float:
        """Seconds until a send is allowed at `now`; 0 takes the slot."""
        tat = max(self.tat, now)
        allowed_at = tat - self.tolerance
        if allowed_at > now:
            return allowed_at - now
        self.tat = tat + self.interval
        return 0.0

    async def acquire(self) -> None:
        while (wait := self.wait_for(self.clock())) > 0:
            await asyncio.sleep(wait)

    async def hold(self, seconds: float) -> None:
        self.tat = max(self.tat, self.clock() + seconds)


def burst_for(rate: float) -> int:
    """A twentieth of a second's sends may go together, so late wake-ups do not lose the rate."""
    return max(1, int(rate / 20))
