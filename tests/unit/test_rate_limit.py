"""GCRA: the average rate holds, bursts up to the tolerance, no credit piles up while idle."""

from __future__ import annotations

from engagement.live.rate_limit import LocalGcra, burst_for


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
    await gcra.hold(2.0)  # 130429: the whole number is throttled
    assert abs(gcra.wait_for(now[0]) - (2.0 - gcra.tolerance)) < 1e-9
    now[0] += 2.0
    assert gcra.wait_for(now[0]) == 0
