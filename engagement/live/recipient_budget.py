"""The messaging-tier budget: WhatsApp lets a business message at most so many unique recipients
in any moving 24 h (outside a customer service window; the tiers are 250, 1k, 10k, 100k).
A send to a number already messaged in the last 24 h costs nothing; a send to a new number
waits for a free slot when the budget is spent (and expires at its deadline).
`run` keeps the budget in its SQLite store, the workers in Redis (shared by all of them)."""

from __future__ import annotations

from typing import Protocol

DAY_SECONDS = 86_400.0


class RecipientBudget(Protocol):
    async def admit(self, phone: str, now: float) -> float | None:
        """None when `phone` may be messaged now (it then counts for 24 h); else when a slot frees."""
        ...


class NoBudget:
    async def admit(self, phone: str, now: float) -> float | None:
        return None
