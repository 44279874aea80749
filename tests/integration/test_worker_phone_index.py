"""The workers' phone index (Redis) says what the customers' states say, whatever order profile
updates arrive in, and two workers racing for one number leave it to one customer.

The worker's service runs here over its real Redis outbox and an in-memory state table (what
faust's table is to it); tests/unit/test_phone_index.py checks the same for `run`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement.core.profile import latest_phone
from engagement.decode import Rejection, decode_event
from engagement.events import Event
from engagement.live.http import status_events
from engagement.live.ingest import Taken
from engagement.live.metrics import standard_metrics
from engagement.live.whatsapp_webhook import StatusUpdate
from engagement.providers.base import OutboundMessage
from engagement.state_codec import load_state
from engagement.worker.app import phone_book
from engagement.worker.outbox import QueuedSend, RedisOutbox
from engagement.worker.service import PhoneRaced, WorkerService
from engagement.worker.topics import TopicNames
from engagement.worker.webhook_port import RedisWebhookPort
from tests.integration.workers import REDIS_URL
from tests.scenario import engine_for
from tests.unit.test_worker_ticks import Table, produce

pytestmark = pytest.mark.integration

NOW = 1.8e9
LATENESS = 30.0
CUSTOMERS = ("alice", "bob", "carol")
NUMBERS = ("+886912000001", "+886912000002", "+886912000003", "+886912000004")


def update(n: int, cid: str, phone: str, t: float) -> Event:
    fields = {"event_id": f"u{n}", "type": "customer.updated", "customer_id": cid, "phone": phone,
              "occurred_at": datetime.fromtimestamp(t, UTC).isoformat()}  # fmt: skip
    item = decode_event(json.dumps(fields).encode())
    assert not isinstance(item, Rejection), item
    return item


class Worker:
    """One worker's service over a namespace of a real Redis."""

    def __init__(self, outbox: RedisOutbox, table: Table | None = None) -> None:
        self.outbox, self.table = outbox, table or Table()
        engine = engine_for(allowed_lateness=LATENESS)
        self.service = WorkerService(engine, self.table, produce, outbox, standard_metrics(), TopicNames("t."))

    async def batch(self, events: list[Event], now: float = NOW) -> list[str]:
        """Apply and flush a batch as the agent does; the fields of its refused events."""
        before = len(self.service._letters)
        self.service.begin_batch(await phone_book(self.outbox, list(events)))
        for event in events:
            value = event.model_dump_json().encode()
            self.service.on_event("t.customers", 0, 0, value, now, frozenset(), event)
        refused = [json.loads(letter)["field"] for letter in self.service._letters[before:]]
        await self.service.flush()
        return refused

    def latest(self) -> dict[str, str | None]:
        return {cid: latest_phone(load_state(blob)) for cid, blob in self.table.rows.items()}


async def index_of(outbox: RedisOutbox) -> dict[str, str]:
    raw: Any = await outbox.redis.hgetall(outbox._phones)
    return {k.decode(): v.decode() for k, v in raw.items()}


def matches(index: dict[str, str], latest: dict[str, str | None]) -> None:
    for cid, phone in latest.items():
        if phone is not None:
            assert index.get(phone) == cid, (cid, phone, index)
    for phone, cid in index.items():
        assert latest.get(cid) == phone, (phone, cid, latest)


updates = st.lists(
    st.tuples(
        st.sampled_from(CUSTOMERS),
        st.sampled_from(NUMBERS),
        st.floats(0, 3 * LATENESS, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates, st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_workers_index_follows_the_states_through_reorderings_and_repeats(
    drawn: list[tuple[str, str, float, bool]], rng: Any, batch_size: int
) -> None:
    sent: list[Event] = []
    for n, (cid, phone, offset, repeat) in enumerate(drawn):
        item = update(n, cid, phone, NOW - 4 * LATENESS + offset)
        sent.extend([item, item] if repeat else [item])
    rng.shuffle(sent)

    async def run() -> None:
        outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
        worker = Worker(outbox)
        try:
            for start in range(0, len(sent), batch_size):
                await worker.batch(sent[start : start + batch_size])
                matches(await index_of(outbox), worker.latest())
            for phone, cid in (await index_of(outbox)).items():
                assert await outbox.customer_for_phone(phone) == cid  # STOP from it reaches its customer
        finally:
            await outbox.redis.delete(outbox._phones, outbox._owners)
            await outbox.close()

    asyncio.run(run())


async def test_a_redelivered_older_update_leaves_the_current_number_indexed() -> None:
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    worker = Worker(outbox)
    try:
        old, new = update(1, "alice", NUMBERS[0], NOW - 600), update(2, "alice", NUMBERS[1], NOW - 300)
        for batch in ([old], [new], [old]):
            assert await worker.batch(batch) == []
        assert await index_of(outbox) == {NUMBERS[1]: "alice"}
        assert await outbox.customer_for_phone(NUMBERS[0]) is None
        assert await worker.batch([update(3, "mallory", NUMBERS[1], NOW - 200)]) == ["phone"]
        assert await worker.batch([update(4, "mallory", NUMBERS[0], NOW - 200)]) == []
    finally:
        await outbox.redis.delete(outbox._phones, outbox._owners)
        await outbox.close()


async def test_two_workers_racing_for_one_number_leave_it_to_one_customer() -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    first, second = RedisOutbox(REDIS_URL, namespace), RedisOutbox(REDIS_URL, namespace)
    one, other = Worker(first), Worker(second)
    try:
        # both read the index before either writes: the number is free for both
        one.service.begin_batch(await phone_book(first, [update(1, "alice", NUMBERS[0], NOW - 60)]))
        other.service.begin_batch(await phone_book(second, [update(2, "bob", NUMBERS[0], NOW - 60)]))
        for worker, item in (
            (one, update(1, "alice", NUMBERS[0], NOW - 60)),
            (other, update(2, "bob", NUMBERS[0], NOW - 60)),
        ):
            worker.service.on_event("t.customers", 0, 0, b"{}", NOW, frozenset(), item)
        await one.service.flush()
        with pytest.raises(PhoneRaced):
            await other.service.flush()  # the agent drops the batch and applies it again:
        other.service.drop_batch()
        assert await other.batch([update(2, "bob", NUMBERS[0], NOW - 60)]) == ["phone"]  # now refused
        assert await index_of(first) == {NUMBERS[0]: "alice"}
        assert other.latest() == {}  # bob's state never took the number
    finally:
        await first.redis.delete(first._phones, first._owners)
        await first.close()
        await second.close()


async def test_a_status_acts_on_the_customer_its_send_was_for_on_workers() -> None:
    """The workers keep who each send was for beside its claim: a failure of alice's send after
    her number went to bob marks nobody unreachable."""
    outbox = RedisOutbox(REDIS_URL, f"t{uuid.uuid4().hex[:10]}")
    worker = Worker(outbox)
    fed: list[Event] = []

    class Producer:
        async def ingest(self, events: list[Event]) -> Taken:
            fed.extend(events)
            return Taken()

    async def publish(_: object) -> None:
        return None

    port = RedisWebhookPort(outbox, Producer(), publish)
    message = OutboundMessage("cart_idle-0123", "cart_idle", "alice", NUMBERS[0], "en", "marketing", "hi")
    try:
        assert await worker.batch([update(1, "alice", NUMBERS[0], NOW - 900)]) == []
        assert await outbox.enqueue(QueuedSend(message, NOW + 300), NOW)
        assert await outbox.customer_of_send("cart_idle-0123") == "alice"
        failure = StatusUpdate("wamid.1", "failed", NOW, NUMBERS[0][1:], "cart_idle-0123", (131026,), "unreachable")
        assert [e.customer_id for e in await status_events(port, [failure], standard_metrics())] == ["alice"]
        assert (
            await worker.batch([update(2, "alice", NUMBERS[1], NOW - 400), update(3, "bob", NUMBERS[0], NOW - 300)])
            == []
        )
        assert await status_events(port, [failure], standard_metrics()) == []
    finally:
        await outbox.redis.delete(outbox._phones, outbox._owners, outbox.claim_key("cart_idle-0123"))
        await outbox.close()
