"""The workers' sender: takes due sends from the Redis outbox and carries each out once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from engagement.live.metrics import Metrics
from engagement.live.rate_limit import RateLimiter, limiter_of, priority_of
from engagement.live.recipient_budget import RecipientBudget
from engagement.live.sender import (
    IDEMPOTENT_CHANNELS,
    NO_DELIVERY_REPORTS,
    UNMETERED,
    Feedback,
    count_delivery,
    deliver,
    follow_up,
    watch_after,
)
from engagement.outcomes.deliveries import FAILOVER
from engagement.providers.base import OutboundMessage, Provider
from engagement.worker.outbox import QueuedSend, RedisOutbox
from engagement.worker.webhook_port import PublishStatus

BATCH = 64
CONCURRENT_SENDS = 8  # requests in flight to the provider (keep-alive connections)
IDLE_WAIT_SECONDS = 0.5
PUBLISH_SECONDS = 5.0  # a line for the report waits this long for the broker at most


def plan_if_cut_short(send: QueuedSend, started: float) -> tuple[QueuedSend, float] | None:
    """What becomes of a send should its worker die during the call: on a channel that executes a
    repeated call once (LINE's retry key), the same call again at once; else its next channel
    once no status named the call in time (`watch_after`); else nothing (`unknown`)."""
    message = send.message
    if message.channel in IDEMPOTENT_CHANNELS:
        return send, started
    watch = watch_after(message, started, send.deadline, "unknown")
    return None if watch is None else (QueuedSend(watch[0], send.deadline, 0, send.due_at), watch[1])


@dataclass
class WorkerSender:
    """Refusals the engine must hear of go to `feedback` as `message.failed` events."""

    outbox: RedisOutbox
    provider: Provider
    metrics: Metrics
    limiter: RateLimiter
    feedback: Feedback
    budget: RecipientBudget | None = None
    call_timeout: float = 30.0  # the provider's answer is awaited this long
    publish_status: PublishStatus | None = None  # fail-overs and LINE's deliveries, for the report
    channel_limiters: dict[str, RateLimiter] = field(default_factory=dict)  # LINE's, SMS's; WhatsApp's: `limiter`

    async def _publish(self, message: OutboundMessage, status: str, at: float) -> None:
        """A line for the report, after the call: bounded in time, and never failing the send (a
        line lost leaves the report short of a fail-over, and the metrics say so)."""
        if self.publish_status is None:
            return
        line = {"key": message.key, "status": status, "channel": message.channel, "at": int(at),
                "tried": [list(t) for t in message.tried]}  # fmt: skip
        try:
            await asyncio.wait_for(self.publish_status(message.key, json.dumps(line).encode()), PUBLISH_SECONDS)
        except Exception:
            self.metrics.inc("engagement_status_lines_lost_total")

    async def send_due(self) -> int:
        """Carry out the sends that are due now; how many were taken."""
        taken = await self.outbox.take_due(time.time(), BATCH)
        taken.sort(key=lambda send: priority_of(send.message.category))  # security first, then utility
        lanes = asyncio.Semaphore(CONCURRENT_SENDS)

        async def one(send: QueuedSend) -> None:
            limiter = limiter_of(send.message.channel, self.limiter, self.channel_limiters)
            if send.message.category not in UNMETERED:
                await limiter.acquire(priority_of(send.message.category))
            async with lanes:
                message = send.message
                started = time.time()
                plan = plan_if_cut_short(send, started)
                if not await self.outbox.mark_sending(message.key, started, self.call_timeout, message.channel, plan):
                    self.metrics.inc("engagement_sends_total", result="lease_lost")
                    return  # back in the queue: another sender makes the call
                outcome = await deliver(
                    self.provider,
                    message,
                    time.time(),
                    send.deadline,
                    send.attempts + 1,
                    self.metrics,
                    self.budget,
                    due_at=send.due_at,
                )
                if outcome.status == "retry" and outcome.retry_at is not None:
                    await self.outbox.requeue(send, outcome.retry_at)
                elif outcome.waits and outcome.next is not None and outcome.retry_at is not None:
                    await self.outbox.wait_for_report(
                        QueuedSend(outcome.next, send.deadline, 0, send.due_at), outcome.retry_at
                    )
                    if outcome.status == "sent" and outcome.detail:
                        await self.outbox.remember_message(outcome.detail, message.key)
                elif outcome.next is not None:
                    fresh = QueuedSend(outcome.next, send.deadline, -1, send.due_at)  # requeue counts it to 0
                    await self.outbox.requeue(fresh, time.time())
                else:
                    await self.outbox.settle(message.key, outcome.status)
                    if outcome.status == "sent" and outcome.detail:
                        await self.outbox.remember_message(outcome.detail, message.key)
                if message.tried and send.attempts == 0:  # the first call on the send's next channel
                    await self._publish(message, FAILOVER, started)
                if outcome.status == "sent" and message.channel in NO_DELIVERY_REPORTS:  # accepted is delivered
                    said = await self.outbox.delivered(message.key, message.channel)
                    count_delivery(self.metrics, message, said)
                    if said is not None:
                        await self._publish(message, "delivered", time.time())
                await follow_up(outcome, message, limiter, self.feedback, time.time())

        await asyncio.gather(*(one(send) for send in taken))
        return len(taken)

    async def run(self) -> None:
        """Forever: send what is due, then sleep until the next send is due or a new one is queued."""
        outbox = self.outbox
        while True:
            back, unknown = await outbox.reap(time.time())
            if back or unknown:
                self.metrics.inc("engagement_sends_total", back, result="lease_expired")
                self.metrics.inc("engagement_sends_total", unknown, result="unknown")
            outbox.queued.clear()
            if await self.send_due():
                continue
            next_at = await outbox.next_due()
            delay = IDLE_WAIT_SECONDS if next_at is None else min(IDLE_WAIT_SECONDS, max(0.0, next_at - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.queued.wait(), delay)
