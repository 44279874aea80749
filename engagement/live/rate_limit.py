"""Send-rate limiting by GCRA (the generic cell rate algorithm): at most `rate` sends a second on
average, with bursts of up to `burst` sends. In-process for `run`; `worker/rate_limit.py` keeps
the same state in Redis, shared by all workers.

The rate adapts to the provider (AIMD): when it throttles the whole number (130429, 4, 80007)
the rate is cut to `DECREASE` of what it was (at most once per `DECREASE_GAP`, so a burst of
throttled answers to calls already in flight counts once), then climbs back linearly to the
configured rate within `RECOVERY_SECONDS`. No single error stops the number. Only a block the
provider says will last (`LONG_BLOCK_SECONDS` or more) holds every send.

While sends wait for the limiter, security messages go first, then utility, then marketing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engagement.settings import Settings

SECURITY, UTILITY, MARKETING = 0, 1, 2
# a service answer goes first: the customer who wrote is waiting
_PRIORITY = {"security": SECURITY, "service": SECURITY, "utility": UTILITY, "marketing": MARKETING}
DECREASE = 0.75
DECREASE_GAP = 0.5  # seconds
RECOVERY_SECONDS = 5.0  # from the floor back to the configured rate
FLOOR_SHARE = 0.05  # the rate never drops below this share of the configured one
LONG_BLOCK_SECONDS = 10.0


def priority_of(category: str) -> int:
    return _PRIORITY.get(category, MARKETING)


class RateLimiter(Protocol):
    async def acquire(self, priority: int = MARKETING) -> None:
        """Wait until one more send is allowed; a lower `priority` number goes first."""
        ...

    async def slow_down(self) -> None:
        """The provider throttled the whole sending number: cut the rate, then recover."""
        ...

    async def hold(self, seconds: float) -> None:
        """Allow no send for `seconds` (the provider blocked the number for that long)."""
        ...


async def throttled(limiter: RateLimiter, pause: float) -> None:
    """What a number-wide throttle does: a long block holds every send, anything else slows down."""
    if pause >= LONG_BLOCK_SECONDS:
        await limiter.hold(pause)
    else:
        await limiter.slow_down()


class Priorities:
    """Who is waiting, by priority: a waiter steps back while one of a lower number waits."""

    def __init__(self) -> None:
        self.waiting = [0, 0, 0]

    def ahead(self, priority: int) -> bool:
        return any(self.waiting[:priority])

    async def acquire(self, priority: int, wait_for: Callable[[], Awaitable[float]], step: float) -> None:
        """Wait for a slot (`wait_for` takes it, or says how long until one is free), letting
        every waiter of a more urgent priority go first (they are looked for every `step` s)."""
        self.waiting[priority] += 1
        try:
            while True:
                if self.ahead(priority):
                    await asyncio.sleep(step)
                    continue
                wait = await wait_for()
                if wait <= 0:
                    return
                await asyncio.sleep(wait)
        finally:
            self.waiting[priority] -= 1


class Unlimited:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.held_until = 0.0

    async def acquire(self, priority: int = MARKETING) -> None:
        while (wait := self.held_until - self.clock()) > 0:
            await asyncio.sleep(wait)

    async def slow_down(self) -> None:
        return None

    async def hold(self, seconds: float) -> None:
        self.held_until = max(self.held_until, self.clock() + seconds)


class AdaptiveRate:
    """The current rate: the configured one, cut on throttling and recovering linearly."""

    def __init__(self, rate: float) -> None:
        self.max_rate = rate
        self.floor = max(rate * FLOOR_SHARE, min(rate, 1.0))
        self.recover_per_second = (rate - self.floor) / RECOVERY_SECONDS
        self.dropped_to = rate
        self.dropped_at = float("-inf")

    def at(self, now: float) -> float:
        return min(self.max_rate, self.dropped_to + self.recover_per_second * (now - self.dropped_at))

    def decrease(self, now: float) -> bool:
        if now - self.dropped_at < DECREASE_GAP:
            return False
        self.dropped_to = max(self.floor, self.at(now) * DECREASE)
        self.dropped_at = now
        return True


class LocalGcra:
    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = AdaptiveRate(rate)
        self.burst = max(burst, 1)
        self.clock = clock
        self.tat = 0.0  # the theoretical arrival time of the next send
        self.priorities = Priorities()

    @property
    def interval(self) -> float:
        return 1.0 / self.rate.at(self.clock())

    def wait_for(self, now: float) -> float:
        """Seconds until a send is allowed at `now`; 0 takes the slot."""
        interval = 1.0 / self.rate.at(now)
        tat = max(self.tat, now)
        allowed_at = tat - interval * (self.burst - 1)
        if allowed_at > now:
            return allowed_at - now
        self.tat = tat + interval
        return 0.0

    async def acquire(self, priority: int = MARKETING) -> None:
        async def take() -> float:
            return self.wait_for(self.clock())

        await self.priorities.acquire(priority, take, self.interval)

    async def slow_down(self) -> None:
        self.rate.decrease(self.clock())

    async def hold(self, seconds: float) -> None:
        self.tat = max(self.tat, self.clock() + seconds)


UNLIMITED = Unlimited()


def channel_rates(settings: Settings) -> dict[str, float]:
    """The send rates of the channels beside WhatsApp, for a provider that reaches them (a file
    or console provider sends nowhere: nothing to limit)."""
    if settings.provider not in ("whatsapp", "twilio"):
        return {}
    return {"line": settings.line_max_rps, "sms": settings.sms_max_rps}


def limiter_of(channel: str, whatsapp: RateLimiter, others: dict[str, RateLimiter]) -> RateLimiter:
    """The limiter of a send's channel, each with its own priority lanes: a throttle on one
    (WhatsApp's 130429, LINE's 429) slows that channel only. A channel without one is not limited."""
    return whatsapp if channel == "whatsapp" else others.get(channel, UNLIMITED)


def burst_for(rate: float) -> int:
    """A twentieth of a second's sends may go together, so late wake-ups do not lose the rate."""
    return max(1, int(rate / 20))
