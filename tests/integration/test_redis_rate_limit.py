"""The Redis GCRA shared by workers: two limiters on one key keep the combined rate."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from engagement.worker.outbox import RedisOutbox
from engagement.worker.rate_limit import RedisGcra
from tests.integration.workers import REDIS_URL

pytestmark = pytest.mark.integration


async def test_two_workers_share_one_rate() -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    first, second = RedisOutbox(REDIS_URL, namespace), RedisOutbox(REDIS_URL, namespace)
    limiters = [RedisGcra(first, rate=100, burst=1), RedisGcra(second, rate=100, burst=1)]

    async def take(limiter: RedisGcra, count: int) -> None:
        for _ in range(count):
            await limiter.acquire()

    started = time.monotonic()
    await asyncio.gather(take(limiters[0], 25), take(limiters[1], 25))
    elapsed = time.monotonic() - started
    await first.close()
    await second.close()
    assert 0.45 <= elapsed < 2.0  # 50 sends at 100/s together: about half a second, not a quarter


async def test_a_hold_from_one_worker_pauses_the_other() -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    first, second = RedisOutbox(REDIS_URL, namespace), RedisOutbox(REDIS_URL, namespace)
    try:
        throttled, other = RedisGcra(first, rate=100, burst=1), RedisGcra(second, rate=100, burst=1)
        await throttled.acquire()
        await throttled.hold(0.5)  # the number was blocked: every worker waits
        started = time.monotonic()
        await other.acquire()
        assert 0.45 <= time.monotonic() - started < 1.0
        for _ in range(4):
            await throttled.slow_down()  # 130429 seen by one worker, four calls at once: one cut
        started = time.monotonic()
        for _ in range(20):
            await other.acquire()
        rate = 19 / (time.monotonic() - started)
        assert 30 <= rate <= 90, rate  # the other worker sends slower too (75/s, recovering; slower on a busy machine)
    finally:
        await first.close()
        await second.close()
