"""10,000 sends through the workers' Redis outbox and the Cloud API adapter while the fake Graph
API answers 130429, 131056 and 500 to a fifth of the calls: no message is accepted twice and none
after its deadline; every send ends sent or expired."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter

import pytest
from aiohttp import web

from engagement.events import Event
from engagement.live.metrics import Metrics
from engagement.live.rate_limit import Unlimited
from engagement.providers.base import OutboundMessage
from engagement.providers.whatsapp.cloud_api import CloudApiProvider
from engagement.worker.outbox import QueuedSend, RedisOutbox
from engagement.worker.sending import WorkerSender
from tests.integration.fake_graph import FakeGraph, Received, error, server_error
from tests.integration.workers import REDIS_URL

pytestmark = pytest.mark.integration


class CountingThrottles(Unlimited):
    def __init__(self) -> None:
        super().__init__()
        self.holds = self.slowed = 0

    async def hold(self, seconds: float) -> None:
        self.holds += 1
        await super().hold(seconds)

    async def slow_down(self) -> None:
        self.slowed += 1


SENDS = 10_000
TRANSIT_SECONDS = 0.25


async def test_ten_thousand_sends_under_injected_faults(graph: FakeGraph) -> None:
    rng = random.Random(7)
    faults = [error(130429), error(131056), server_error(500)]
    accepted: Counter[str] = Counter()
    late: list[float] = []  # how long after its deadline a call arrived
    deadlines: dict[str, float] = {}

    def answer(request: Received) -> web.Response | None:
        key = str(request.body["biz_opaque_callback_data"])
        if rng.random() < 0.2:
            fault: web.Response = rng.choice(faults)(request)
            return fault
        accepted[key] += 1
        if time.time() > deadlines[key]:
            late.append(time.time() - deadlines[key])
        return None

    graph.default = answer
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    # 130429 slows the number down; a two-hundredth of the usual retry wait keeps the test short
    provider = CloudApiProvider(graph.base_url, "v23.0", "1065", "token", max_connections=8, number_backoff=0.01)
    metrics = Metrics()
    now = time.time()
    for n in range(SENDS):
        key = f"anomalous_login-{n:05d}"
        # a tenth of the sends have a window short enough that a retry can miss it
        deadlines[key] = now + (1.0 if n % 10 == 0 else 120.0)
        message = OutboundMessage(key, "anomalous_login", f"c{n}", f"+8869{n:08d}", "en", "utility", "Was it you?")
        assert await outbox.enqueue(QueuedSend(message, deadlines[key]), now)
        assert not await outbox.enqueue(QueuedSend(message, deadlines[key]), now)  # a reprocessed decision
    refusals: list[Event] = []

    async def refused(events: list[Event]) -> int:
        refusals.extend(events)
        return len(events)

    limiter = CountingThrottles()
    sender = WorkerSender(outbox, provider, metrics, limiter, refused)
    stop_at = time.monotonic() + 180
    while time.monotonic() < stop_at:
        taken = await sender.send_due()
        if not taken and await outbox.next_due() is None:
            break
        if not taken:
            await asyncio.sleep(0.2)
    statuses = Counter([await outbox.status(f"anomalous_login-{n:05d}") for n in range(SENDS)])
    await provider.close()
    await outbox.close()
    assert max(accepted.values()) == 1  # nothing accepted twice
    # No call starts after its deadline; one started just before may arrive a transit later.
    assert max(late, default=0.0) < TRANSIT_SECONDS
    assert set(statuses) <= {"sent", "expired"}, statuses
    assert statuses["sent"] == len(accepted)
    assert statuses["sent"] + statuses["expired"] == SENDS
    assert metrics.get("engagement_sends_total", result="throttled") > 0
    assert limiter.slowed > 0  # 130429 slowed the whole number down
    assert limiter.holds == 0  # and never stopped it
    assert metrics.get("engagement_sends_total", result="transient_error") > 0
