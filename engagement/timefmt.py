"""RFC 3339 formatting and parsing of engine times (float seconds since the epoch, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(at: float) -> str:
    """`2026-11-20T02:00:00Z`, with milliseconds only when the time has a fraction."""
    moment = datetime.fromtimestamp(at, UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 timestamp with an offset; naive ones are refused."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no offset; write it as 2026-11-20T10:00:00Z or with +08:00")
    return moment.timestamp()
