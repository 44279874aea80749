"""The live watermarks: event time minus the lateness; the wall clock only when caught up."""

from __future__ import annotations

from engagement.live.watermark import LiveWatermark, MergedWatermark

NOTHING: frozenset[str] = frozenset()


def test_live_watermark_follows_the_clock_only_when_caught_up() -> None:
    mark = LiveWatermark(lateness=5)
    mark.observe(100)
    assert mark.value(now=200, caught_up=False) == 95
    assert mark.value(now=200, caught_up=True) == 195


def test_merged_watermark_waits_for_the_slowest_input_with_a_backlog() -> None:
    mark = MergedWatermark(lateness=1)
    mark.observe("browsing", 500)
    mark.observe("orders", 100)
    assert mark.value(now=1000, lagging=frozenset({"orders", "browsing"})) == 99
    assert mark.value(now=1000, lagging=frozenset({"browsing"})) == 499
    assert mark.value(now=1000, lagging=NOTHING, wall_clock=False) == 499
    assert mark.value(now=1000, lagging=NOTHING) == 999


def test_merged_watermark_does_not_move_for_an_input_not_read_yet_and_never_goes_back() -> None:
    mark = MergedWatermark(lateness=1)
    mark.observe("browsing", 500)
    assert mark.value(now=1000, lagging=frozenset({"orders"})) == float("-inf")
    assert mark.value(now=1000, lagging=NOTHING) == 999
    mark.observe("orders", 10)
    assert mark.value(now=1000, lagging=frozenset({"orders"})) == 999


def test_an_event_from_a_fast_clock_does_not_make_other_producers_events_late() -> None:
    """A producer whose clock is 4 minutes fast (inside MAX_FUTURE_SKEW) must not move the watermark
    past the wall clock: an event of the others, 10 s old, is not late."""
    now = 1_800_000_000.0
    live = LiveWatermark(30.0)
    live.observe(now + 240)
    assert live.value(now, caught_up=False) == now - 30
    assert live.value(now, caught_up=True) == now - 30
    assert now - 10 >= live.value(now, caught_up=False)
    merged = MergedWatermark(30.0)
    merged.observe("orders", now + 240)
    assert merged.value(now, frozenset(), wall_clock=False) == now - 30
    assert merged.value(now, frozenset()) == now - 30
    assert merged.value(now + 300, frozenset(), wall_clock=False) == now + 240 - 30  # its time has come
