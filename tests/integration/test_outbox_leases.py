"""The workers' outbox under a worker that dies: taken sends not yet called go back to the queue;
a call that was in flight becomes `unknown` and is never made again."""

from __future__ import annotations

import time
import uuid

import pytest

from engagement.providers.base import OutboundMessage
from engagement.worker.outbox import LEASE_SECONDS, QueuedSend, RedisOutbox
from tests.integration.workers import REDIS_URL

pytestmark = pytest.mark.integration


def message(n: int) -> OutboundMessage:
    return OutboundMessage(
        f"anomalous_login-{n}", "anomalous_login", f"c{n}", f"+88691200{n:04d}", "en", "security", "?"
    )


async def test_a_dead_senders_leases_come_back_and_its_calls_in_flight_do_not() -> None:
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    now = time.time()
    try:
        for n in range(10):
            assert await outbox.enqueue(QueuedSend(message(n), now + 120), now)
        taken = await outbox.take_due(now, 64)  # the worker that will die takes all ten
        assert len(taken) == 10
        assert await outbox.take_due(now, 64) == []  # nobody else can take them meanwhile
        in_flight = [s.message.key for s in taken[:2]]
        for key in in_flight:  # it called the provider for two of them, then died
            assert await outbox.mark_sending(key, now, 30.0)
        assert await outbox.reap(now + 1) == (0, 0)  # leases still running
        back, unknown = await outbox.reap(now + LEASE_SECONDS + 1)
        assert (back, unknown) == (8, 0)  # the calls in flight keep their longer lease
        again = await outbox.take_due(now + LEASE_SECONDS + 1, 64)
        assert sorted(s.message.key for s in again) == sorted(s.message.key for s in taken[2:])
        for send in again:
            assert await outbox.mark_sending(send.message.key, now + LEASE_SECONDS + 1, 30.0)
            await outbox.settle(send.message.key, "sent")
        back, unknown = await outbox.reap(now + 3 * LEASE_SECONDS + 60)
        assert (back, unknown) == (0, 2)
        assert [await outbox.status(key) for key in in_flight] == ["unknown", "unknown"]
        assert await outbox.take_due(now + 1000, 64) == []  # never sent again
        assert await outbox.reconcile(in_flight[0], "sent")  # a status webhook may still settle it
    finally:
        await outbox.close()


async def test_a_sender_that_lost_its_lease_does_not_call() -> None:
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    now = time.time()
    try:
        assert await outbox.enqueue(QueuedSend(message(1), now + 120), now)
        [slow] = await outbox.take_due(now, 1)
        assert await outbox.reap(now + LEASE_SECONDS + 1) == (1, 0)  # the lease ended first
        [fast] = await outbox.take_due(now + LEASE_SECONDS + 1, 1)
        assert await outbox.mark_sending(fast.message.key, now + LEASE_SECONDS + 1, 30.0)
        assert not await outbox.mark_sending(slow.message.key, now + LEASE_SECONDS + 2, 30.0)
    finally:
        await outbox.close()


async def test_a_delivery_report_during_the_call_keeps_the_send_from_its_next_channel() -> None:
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    line = OutboundMessage("k1", "anomalous_login", "c1", "U" + "a" * 32, "en", "security", "hi", channel="line")
    wa = OutboundMessage("k1", "anomalous_login", "c1", "+886912000001", "en", "security", "hi",
                         fallbacks=(line,), fallback_after=6.0)  # fmt: skip
    now = time.time()
    try:
        await outbox.enqueue(QueuedSend(wa, now + 3600), now)
        [send] = await outbox.take_due(now, 10)
        assert await outbox.mark_sending("k1", now, 30, "whatsapp", None)
        assert await outbox.delivered("k1", "whatsapp") == "delivered"  # Meta's report, while the call is under way
        following = send.message.next_channel("no_report")
        assert following is not None
        await outbox.wait_for_report(QueuedSend(following, send.deadline, 0, send.due_at), now + 6)  # the call returns
        await outbox.settle("k1", "sent")
        assert await outbox.status("k1") == "delivered"
        assert await outbox.take_due(now + 7, 10) == []  # LINE never goes
        assert await outbox.delivered("k1", "line") == "twice"  # a second channel's report is counted so
    finally:
        await outbox.close()


async def test_a_late_report_counts_while_the_next_channel_is_retried_and_none_before_a_call() -> None:
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    sms = OutboundMessage("k1", "anomalous_login", "c1", "+886912000001", "en", "security", "hi", channel="sms")
    wa = OutboundMessage("k1", "anomalous_login", "c1", "+886912000001", "en", "security", "hi",
                         fallbacks=(sms,), fallback_after=6.0)  # fmt: skip
    never = OutboundMessage("k2", "anomalous_login", "c2", "+886912000002", "en", "security", "hi")
    now = time.time()
    try:
        await outbox.enqueue(QueuedSend(wa, now + 3600), now)
        await outbox.enqueue(QueuedSend(never, now + 3600), now + 600)
        assert await outbox.delivered("k2", "whatsapp") is None  # never called: not a report of ours
        [send] = await outbox.take_due(now, 10)
        assert await outbox.mark_sending("k1", now, 30, "whatsapp", None)
        following = send.message.next_channel("no_report")
        assert following is not None
        await outbox.wait_for_report(QueuedSend(following, send.deadline, 0, send.due_at), now + 6)
        [on_sms] = await outbox.take_due(now + 7, 10)
        assert on_sms.message.channel == "sms"
        assert await outbox.mark_sending("k1", now + 7, 30, "sms", None)
        await outbox.requeue(on_sms, now + 20)  # throttled: queued for a retry
        assert await outbox.delivered("k1", "whatsapp") == "delivered"  # WhatsApp's late report meanwhile
        assert await outbox.channel_of("k1") == ("sms", ["whatsapp"])
        assert await outbox.delivered("k1", "sms") == "twice"
    finally:
        await outbox.close()
