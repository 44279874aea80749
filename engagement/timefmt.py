"""RFC 3339 formatting and parsing of engine times (float seconds since the epoch, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from math import modf

_DAY = 86_400
_DATES: dict[int, str] = {}  # day number since the epoch -> "2026-11-20T"
_DATES_KEPT = 4_096


def rfc3339(at: float) -> str:
    """`2026-11-20T02:00:00Z`, with milliseconds only when the time has a fraction.

    The same text as `datetime.fromtimestamp(at, UTC).isoformat()` (microseconds rounded half to
    even, then cut to milliseconds), made without a datetime: the date part is looked up by day.
    """
    if at < 0:
        moment = datetime.fromtimestamp(at, UTC)
        spec = "milliseconds" if moment.microsecond else "seconds"
        return moment.isoformat(timespec=spec).replace("+00:00", "Z")
    fraction, seconds = modf(at)
    micro = round(fraction * 1_000_000)
    whole = int(seconds)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    day, second = divmod(whole, _DAY)
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) >= _DATES_KEPT:
            _DATES.clear()
        date = _DATES[day] = datetime.fromtimestamp(day * _DAY, UTC).date().isoformat() + "T"
    hour, rest = divmod(second, 3_600)
    minute, sec = divmod(rest, 60)
    if micro:
        return f"{date}{hour:02d}:{minute:02d}:{sec:02d}.{micro // 1_000:03d}Z"
    return f"{date}{hour:02d}:{minute:02d}:{sec:02d}Z"


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 timestamp with an offset; naive ones are refused."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no offset; write it as 2026-11-20T10:00:00Z or with +08:00")
    return moment.timestamp()
