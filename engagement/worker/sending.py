"""The workers' sender: takes due sends from the Redis outbox and carries each out once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from engagement.events import Event
from engagement.live.metrics import Metrics
from engagement.live.rate_limit import RateLimiter
from engagement.live.recipient_budget import RecipientBudget
from engagement.live.sender import deliver, failure_event
from engagement.providers.base import Provider
from engagement.worker.outbox import QueuedSend, RedisOutbox

BATCH = 64
CONCURRENT_SENDS = 8  # requests in flight to the provider (keep-alive connections)
IDLE_WAIT_SECONDS = 0.5


Feedback = Callable[[list[Event]], Awaitable[int]]


async def send_due(
    outbox: RedisOutbox,
    provider: Provider,
    metrics: Metrics,
    limiter: RateLimiter,
    feedback: Feedback,
    budget: RecipientBudget | None = None,
) -> int:
    """Carry out the sends that are due now; how many were taken. Refusals the engine must hear of
    go to `feedback` as `message.failed` events."""
    taken = await outbox.take_due(time.time(), BATCH)
    lanes = asyncio.Semaphore(CONCURRENT_SENDS)

    async def one(send: QueuedSend) -> None:
        async with lanes:
            await limiter.acquire()
            now = time.time()
            outcome = await deliver(provider, send.message, now, send.deadline, send.attempts + 1, metrics, budget)
            if outcome.pause is not None:
                await limiter.hold(outcome.pause)
            if outcome.status == "retry" and outcome.retry_at is not None:
                await outbox.requeue(send, outcome.retry_at)
            else:
                await outbox.settle(send.message.key, outcome.status)
            if outcome.feedback is not None:
                message = send.message
                await feedback(
                    [failure_event(message.key, message.customer_id, outcome.feedback, outcome.code, time.time())]
                )

    await asyncio.gather(*(one(send) for send in taken))
    return len(taken)


async def run_sender(
    outbox: RedisOutbox,
    provider: Provider,
    metrics: Metrics,
    limiter: RateLimiter,
    feedback: Feedback,
    budget: RecipientBudget | None = None,
) -> None:
    """Forever: send what is due, then sleep until the next send is due or a new one is queued."""
    while True:
        outbox.queued.clear()
        if await send_due(outbox, provider, metrics, limiter, feedback, budget):
            continue
        next_at = await outbox.next_due()
        delay = IDLE_WAIT_SECONDS if next_at is None else min(IDLE_WAIT_SECONDS, max(0.0, next_at - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outbox.queued.wait(), delay)
