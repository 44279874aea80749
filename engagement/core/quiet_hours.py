"""Allowed sending minutes from a cron expression, checked without croniter on the hot path.

croniter expands the expression once per configuration; each check afterwards is a
zone conversion and five set look-ups. Day-of-month and day-of-week follow cron's
rule: when both are restricted, a day matching either one is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

_MINUTE = 60.0


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class AllowedMinutes:
    """The minutes a cron expression allows, evaluated in a customer's time zone."""

    __slots__ = ("_days_either", "_dom", "_dow", "_hours", "_minutes", "_months", "expression")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        minutes, hours, dom, months, dow = croniter(expression).expanded[:5]
        self._minutes = _as_set(minutes, range(60))
        self._hours = _as_set(hours, range(24))
        self._months = _as_set(months, range(1, 13))
        self._dom = _as_set(dom, range(1, 32))
        self._dow = frozenset(d % 7 for d in _as_set(dow, range(7)))
        self._days_either = dom != ["*"] and dow != ["*"]

    @property
    def hours(self) -> frozenset[int]:
        """The hours of the day (local) in which some minute is allowed."""
        return self._hours if self._minutes else frozenset()

    def allows(self, at: float, zone: str) -> bool:
        local = datetime.fromtimestamp(at, _zone(zone))
        if local.minute not in self._minutes or local.hour not in self._hours:
            return False
        if local.month not in self._months:
            return False
        in_dom = local.day in self._dom
        in_dow = (local.weekday() + 1) % 7 in self._dow
        return (in_dom or in_dow) if self._days_either else (in_dom and in_dow)

    def next_allowed(self, at: float, until: float, zone: str) -> float | None:
        """`at` if its minute is allowed, else the start of the next allowed minute no later than `until`."""
        if self.allows(at, zone):
            return at
        candidate = math.floor(at / _MINUTE) * _MINUTE + _MINUTE
        while candidate <= until:
            if self.allows(candidate, zone):
                return candidate
            candidate += _MINUTE
        return None


def _as_set(values: Sequence[object], everything: range) -> frozenset[int]:
    if values == ["*"]:
        return frozenset(everything)
    return frozenset(int(str(v)) for v in values)
