"""The live watermark (CONTRACT.md §2): event time minus the lateness, moved on by the wall clock
only while the processor has caught up with its input, so a backlog never fires a timer early.

It never leads the wall clock: an event dated ahead of the server's clock (a producer whose clock
is fast, up to `MAX_FUTURE_SKEW`) counts as occurring now, so it cannot make every other
producer's events late."""

from __future__ import annotations


class LiveWatermark:
    def __init__(self, lateness: float, max_seen: float = float("-inf")) -> None:
        self.lateness = lateness
        self.max_seen = max_seen

    def observe(self, t: float) -> None:
        if t > self.max_seen:
            self.max_seen = t

    def value(self, now: float, caught_up: bool) -> float:
        newest = self.max_seen
        if (caught_up and now > newest) or newest > now:
            newest = now
        return newest - self.lateness


class MergedWatermark:
    """The live watermark over several inputs read side by side (one partition of each Kafka topic).

    Kafka orders events within a topic partition, not across topics, so while some inputs still
    have a backlog, event time only advances as far as the slowest of them has been read: a
    checkout waiting in the orders backlog is applied before page views already read elsewhere
    can fire the cart timer it cancels. With no input behind, the wall clock moves it on too.
    It never goes back.
    """

    def __init__(self, lateness: float) -> None:
        self.lateness = lateness
        self.seen: dict[str, float] = {}
        self.newest = float("-inf")
        self.floor = float("-inf")

    def observe(self, source: str, t: float) -> None:
        if t > self.seen.get(source, float("-inf")):
            self.seen[source] = t
        if t > self.newest:
            self.newest = t

    def value(self, now: float, lagging: frozenset[str], wall_clock: bool = True) -> float:
        """`lagging`: the inputs that still have unread messages. `wall_clock=False` while an event is
        being handled: then only event time moves the watermark."""
        if lagging:
            seen = self.seen
            newest = min(seen.get(source, float("-inf")) for source in lagging)
        elif wall_clock and now > self.newest:
            newest = now
        else:
            newest = self.newest
        if newest > now:
            newest = now  # never ahead of the wall clock
        candidate = newest - self.lateness
        if candidate > self.floor:
            self.floor = candidate
        return self.floor
