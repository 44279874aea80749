"""A clock per position that ought to move on: it tells when one has stood still for too long."""

from __future__ import annotations

from collections.abc import Hashable


class StallClock:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: dict[Hashable, tuple[int, float]] = {}  # key: (position, seen there since)

    def stalled(self, key: Hashable, position: int, now: float) -> bool:
        """True once `position` has not changed for `seconds`; the clock then starts again, so a
        position that stays put is reported once per `seconds`."""
        last = self._since.get(key)
        if last is None or last[0] != position:
            self._since[key] = (position, now)  # moved on, or first seen: the clock starts
            return False
        if now - last[1] >= self.seconds:
            self._since[key] = (position, now)
            return True
        return False

    def caught_up(self, key: Hashable) -> None:
        """Nothing is left to wait for at `key`."""
        self._since.pop(key, None)

    def restart(self) -> None:
        self._since.clear()
