"""How much and how long the HTTP API waits for a client (no web framework needed to read them)."""

from __future__ import annotations

from dataclasses import dataclass

BODY_SECONDS = 30.0  # a client that has not sent its whole body by then is cut off
IDLE_SECONDS = 15.0  # a connection that sends no complete request in this time is closed


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 4 * 1024 * 1024
    body_seconds: float = BODY_SECONDS
    idle_seconds: float = IDLE_SECONDS
