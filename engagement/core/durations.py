"""Human durations (`90s`, `5m`, `1h`, `24h`, `7d`, `1h30m`) and cron expressions as validated config types."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from croniter import croniter
from pydantic import BeforeValidator, PlainSerializer

from engagement.core.quiet_hours import AllowedMinutes

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DAYS = 3650  # ten years: longer is a typo, and beyond it durations overflow the time arithmetic


def parse_duration(value: object) -> timedelta:
    """`1h30m` -> timedelta(hours=1, minutes=30). A bare number is refused: the unit must be explicit."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string with a unit, such as 90s, 5m, 1h or 24h")
    text = value.strip().replace(" ", "")
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"{value!r} is not a duration; use forms like 90s, 5m, 1h, 24h, 7d or 1h30m")
    if seconds > MAX_DAYS * 86400.0:
        raise ValueError(f"{value!r} is longer than {MAX_DAYS}d")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a duration (inverse of `parse_duration` for whole seconds)."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out.append(f"{total // size}{unit}")
            total %= size
    return "".join(out)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


def check_cron(value: object) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week)."""
    if not isinstance(value, str):
        raise ValueError("a cron expression is a string such as '* 9-20 * * *'")
    if len(value.split()) != 5:
        raise ValueError(f"{value!r} must have five fields: minute hour day-of-month month day-of-week")
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression")
    try:
        AllowedMinutes(value)  # what the policies evaluate: numbers, ranges, steps and lists
    except ValueError:
        supported = "numbers, ranges (9-20), steps (*/15) and lists (1,15)"
        raise ValueError(f"{value!r}: only {supported} are supported") from None
    return value


CronExpr = Annotated[str, BeforeValidator(check_cron)]
