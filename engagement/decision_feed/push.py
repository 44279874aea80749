"""The loop that feeds a runtime's decisions to the shop's webhook."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from engagement.decision_feed.webhook import DecisionsWebhook
from engagement.live.metrics import Metrics
from engagement.providers.base import PermanentError, TransientError

log = logging.getLogger("engagement.decision_feed")

BATCH = 200  # decisions per POST
RETRY_FOR_SECONDS = 24 * 3600.0
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 300.0
IDLE_SECONDS = 0.5  # how long the loop waits when there is nothing new
COUNTER = "engagement_decisions_webhook_total"


class DecisionSource(Protocol):
    async def next_batch(self, limit: int) -> list[str]:
        """The next decisions (JSON lines) after the cursor, oldest first; [] when none."""
        ...

    async def done(self) -> None:
        """The batch last returned was taken: move the cursor past it (durably)."""
        ...


def made_at(line: str) -> float:
    try:
        return datetime.fromisoformat(str(json.loads(line)["at"]).replace("Z", "+00:00")).timestamp()
    except (ValueError, KeyError, TypeError):
        return 0.0


async def run_feed(
    source: DecisionSource,
    webhook: DecisionsWebhook,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Runs until cancelled. A batch that keeps failing is retried (1 s doubling to 5 min) until its
    newest decision is 24 h old, then given up; a receiver's refusal (4xx) gives it up at once."""
    while True:
        lines = await source.next_batch(BATCH)
        if not lines:
            await sleep(IDLE_SECONDS)
            continue
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                await webhook.post(lines)
            except TransientError as exc:
                if clock() - max(made_at(line) for line in lines) > RETRY_FOR_SECONDS:
                    log.error("decisions webhook: %d decisions given up after 24 h (%s)", len(lines), exc)
                    metrics.inc(COUNTER, len(lines), result="expired")
                    break
                metrics.inc(COUNTER, len(lines), result="retried")
                log.warning("decisions webhook: %s; again in %.0f s", exc, delay)
                await sleep(delay)
                delay = min(delay * 2, LONGEST_RETRY_SECONDS)
                continue
            except PermanentError as exc:
                log.error("decisions webhook: %s; %d decisions not delivered", exc, len(lines))
                metrics.inc(COUNTER, len(lines), result="refused")
                break
            metrics.inc(COUNTER, len(lines), result="delivered")
            break
        await source.done()
