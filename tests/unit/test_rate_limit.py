"""GCRA: the average rate holds, bursts up to the tolerance, no credit piles up while idle; the rate
adapts to throttling (cut, then recovered) and security sends go before marketing ones."""

from __future__ import annotations

import asyncio

from engagement.live.rate_limit import (
    DECREASE,
    MARKETING,
    RECOVERY_SECONDS,
    SECURITY,
    UTILITY,
    LocalGcra,
    Unlimited,
    burst_for,
    throttled,
)


def test_sends_are_spaced_by_the_interval() -> None:
    gcra = LocalGcra(rate=10, burst=1)
    assert gcra.wait_for(100.0) == 0
    assert abs(gcra.wait_for(100.0) - 0.1) < 1e-9
    assert gcra.wait_for(100.1) == 0
    assert abs(gcra.wait_for(100.15) - 0.05) < 1e-9


def test_a_burst_is_allowed_then_the_rate_holds() -> None:
    gcra = LocalGcra(rate=10, burst=3)
    assert [gcra.wait_for(50.0) for _ in range(3)] == [0, 0, 0]
    assert abs(gcra.wait_for(50.0) - 0.1) < 1e-9


def test_idle_time_does_not_bank_more_than_the_burst() -> None:
    gcra = LocalGcra(rate=10, burst=2)
    gcra.wait_for(0.0)
    allowed = sum(1 for _ in range(10) if gcra.wait_for(3600.0) == 0)
    assert allowed == 2


def test_burst_is_a_twentieth_of_a_second() -> None:
    assert (burst_for(80), burst_for(1000), burst_for(5)) == (4, 50, 1)


async def test_a_hold_stops_every_send_for_its_length() -> None:
    now = [1000.0]
    gcra = LocalGcra(rate=10, burst=5, clock=lambda: now[0])
    assert gcra.wait_for(now[0]) == 0
    await gcra.hold(12.0)  # the provider blocked the number for 12 s
    assert abs(gcra.wait_for(now[0]) - (12.0 - 4 * gcra.interval)) < 1e-9
    now[0] += 12.0
    assert gcra.wait_for(now[0]) == 0


async def test_throttling_cuts_the_rate_once_per_burst_and_it_recovers() -> None:
    now = [1000.0]
    gcra = LocalGcra(rate=80, burst=1, clock=lambda: now[0])
    for _ in range(8):  # eight calls in flight answered 130429 at once: one cut
        await throttled(gcra, 2.0)
    assert abs(gcra.rate.at(now[0]) - 80 * DECREASE) < 1e-9
    now[0] += 1.0
    await throttled(gcra, 2.0)
    assert gcra.rate.at(now[0]) < 80 * DECREASE
    assert gcra.wait_for(now[0]) == 0  # no hold: the number keeps sending, slower
    now[0] += RECOVERY_SECONDS
    assert gcra.rate.at(now[0]) == 80


async def test_a_long_block_holds_every_send() -> None:
    now = [1000.0]
    gcra = LocalGcra(rate=10, burst=1, clock=lambda: now[0])
    await throttled(gcra, 30.0)  # 80007 with an estimate of 30 s to regain access
    assert gcra.wait_for(now[0]) > 29


async def test_security_sends_go_before_marketing_ones_while_the_rate_is_low() -> None:
    gcra = LocalGcra(rate=50, burst=1)
    gcra.wait_for(gcra.clock())  # the slot is taken: everyone waits
    order: list[str] = []

    async def send(name: str, priority: int) -> None:
        await gcra.acquire(priority)
        order.append(name)

    waiting = [asyncio.create_task(send(f"marketing-{n}", MARKETING)) for n in range(3)]
    await asyncio.sleep(0)
    waiting += [asyncio.create_task(send("utility", UTILITY)), asyncio.create_task(send("security", SECURITY))]
    await asyncio.gather(*waiting)
    assert order[:2] == ["security", "utility"]


async def test_unlimited_only_holds() -> None:
    limiter = Unlimited()
    await limiter.slow_down()
    await limiter.acquire(SECURITY)
