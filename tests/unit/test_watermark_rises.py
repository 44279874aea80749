"""Raising the watermark through many rises in one call (`Replayer.raise_through`, as the scoped and
the sharded replays do) decides exactly what raising it rise by rise decides, in the same order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.core.decisions import Decision
from engagement.decode import Rejection, decode_event
from engagement.events import Event
from engagement.replay.runner import Position, Replayer
from tests.scenario import engine_for
from tests.unit.test_sharded_replay import event_files


def replay(
    events: list[tuple[Event, float]], rises: list[list[float]], at_once: bool
) -> tuple[list[object], list[tuple[int, int]], float]:
    """The decisions with their positions, the rises that passed a queued wake-up (event, rise),
    and the largest time seen at the end."""
    made: list[tuple[Position, Decision]] = []
    passing: list[tuple[int, int]] = []
    replayer = Replayer(engine_for(), lambda decision: made.append((replayer.position, decision)))
    for n, ((event, t), after) in enumerate(zip(events, rises, strict=True)):
        replayer.take(event, t, n + 1)
        if at_once:
            replayer.raise_through(after, 0, len(after), lambda k, n=n: passing.append((n, k)))  # type: ignore[misc]
            continue
        for k, rise in enumerate(after):
            if rise - replayer.lateness >= replayer._wake:  # what raise_to tests
                passing.append((n, k))
            replayer.raise_to(rise)
    replayer.finish()
    return [*made], passing, replayer.max_seen


@settings(max_examples=60, deadline=None)
@given(event_files(), st.data())
def test_raising_through_many_rises_at_once_decides_as_rise_by_rise(lines: list[str], data: st.DataObject) -> None:
    events = [(e, e.occurred_at.timestamp()) for e in map(decode_event, lines) if not isinstance(e, Rejection)]
    rises: list[list[float]] = []
    top = float("-inf")
    lateness = engine_for().settings.allowed_lateness
    for _, t in events:  # after each event, a run of rises: its own time, and later ones (timers fall due)
        # some exactly where the watermark reaches an event's time: the bounds of `raise_to`'s test
        offsets = data.draw(st.lists(st.just(lateness) | st.integers(0, 4_000), max_size=5))
        after = sorted({t + offset for offset in [0, *offsets] if t + offset > top})
        top = after[-1] if after else top
        rises.append(after)
    by_rise = replay(events, rises, at_once=False)
    at_once = replay(events, rises, at_once=True)
    assert at_once == by_rise
