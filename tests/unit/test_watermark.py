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
