"""The live watermark (CONTRACT.md §2): event time minus the lateness, moved on by the wall clock
only while the processor has caught up with its input, so a backlog never fires a timer early."""

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
        if caught_up and now > newest:
            newest = now
        return newest - self.lateness
