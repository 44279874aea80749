"""The worker's wake-up index asks for a tick only when a customer's earliest timer is really due."""

from __future__ import annotations

import asyncio
import heapq
import json
from typing import Any

from engagement.core.state import CustomerState, Timer
from engagement.decode import Rejection, decode_event
from engagement.live.metrics import standard_metrics
from engagement.state_codec import TOO_LARGE
from engagement.worker.app import delivered_in_time
from engagement.worker.service import WorkerService
from engagement.worker.topics import TopicNames
from tests.scenario import engine_for

PARTITION = 0


class Table:
    """The state table as a dict (what faust's table is to the service)."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def get(self, partition: int, key: str) -> bytes | None:
        return self.rows.get(key)

    async def write_all(self, rows: list[tuple[int, str, bytes]]) -> None:
        for _, key, value in rows:
            self.rows[key] = value

    def delete(self, partition: int, key: str) -> None:
        self.rows.pop(key, None)

    def items(self) -> list[tuple[str, bytes]]:
        return list(self.rows.items())


async def produce(topic: str, key: bytes, value: bytes, partition: int | None) -> Any:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def service_with(*states: CustomerState) -> WorkerService:
    """A service that has written `states` (so it knows them) and indexed their wake-ups."""
    engine = engine_for(allowed_lateness=0.0)
    service = WorkerService(engine, Table(), produce, None, standard_metrics(), TopicNames("t."))  # type: ignore[arg-type]
    for state in states:
        service._changed[state.customer_id] = (PARTITION, state)
    asyncio.run(service.flush())
    return service


def timer(due: float) -> Timer:
    return Timer("cart_idle", due, due + 300, "e1", "e1", due)


def test_a_timer_that_moved_later_is_not_ticked_until_its_new_time() -> None:
    moved = CustomerState("c-moved", timers=[timer(100.0)])
    service = service_with(moved)
    moved.timers = [timer(200.0)]  # a later event moved it (as a page view moves a cart's idle timer)
    assert service.due_ticks(PARTITION, now=150.0, lagging=frozenset()) == []
    assert service.clock_for(PARTITION).wakeups == [(200.0, "c-moved")]
    assert service.due_ticks(PARTITION, now=250.0, lagging=frozenset()) == [("c-moved", 250.0)]


def test_a_customer_without_timers_left_is_not_ticked() -> None:
    done = CustomerState("c-done", timers=[timer(100.0)])
    service = service_with(done)
    done.timers = None
    assert service.due_ticks(PARTITION, now=150.0, lagging=frozenset()) == []
    assert service.clock_for(PARTITION).wakeups == []


def test_a_customer_the_service_does_not_hold_is_ticked_at_the_indexed_time() -> None:
    unknown = CustomerState("c-unknown", timers=[timer(100.0)])
    service = service_with(unknown)
    service._cache.clear()  # as after a rebalance: only the index is left
    heapq.heapify(service.clock_for(PARTITION).wakeups)
    assert service.due_ticks(PARTITION, now=150.0, lagging=frozenset()) == [("c-unknown", 150.0)]
    assert service.due_ticks(PARTITION, now=160.0, lagging=frozenset()) == []  # asked once, until it is answered


def test_timers_a_dropped_batch_decided_are_due_again() -> None:
    due = CustomerState("c-due", timers=[timer(100.0)])
    service = service_with(due)
    service.decide_due(PARTITION, now=150.0, lagging=frozenset())  # with a batch that then fails
    assert service.clock_for(PARTITION).wakeups == []
    service.drop_batch()
    assert service.due_ticks(PARTITION, now=160.0, lagging=frozenset()) == [("c-due", 160.0)]


def test_a_tick_the_broker_did_not_take_is_asked_again() -> None:
    service = service_with(CustomerState("c-due", timers=[timer(100.0)]))
    assert service.due_ticks(PARTITION, now=150.0, lagging=frozenset()) == [("c-due", 150.0)]
    service.due_again(PARTITION, ["c-due"])
    assert service.due_ticks(PARTITION, now=160.0, lagging=frozenset()) == [("c-due", 160.0)]


def test_ticks_are_confirmed_only_when_the_broker_answers_in_time() -> None:
    async def check() -> list[bool]:
        loop = asyncio.get_running_loop()
        taken, refused, unanswered = loop.create_future(), loop.create_future(), loop.create_future()
        taken.set_result(None)
        refused.set_exception(ConnectionError("broker away"))
        return await delivered_in_time([taken, refused, unanswered], timeout=0.05)

    assert asyncio.run(check()) == [True, False, False]


def test_a_batch_tried_again_counts_its_events_once() -> None:
    service = service_with()
    event = decode_event(
        b'{"event_id":"e1","type":"page.viewed","customer_id":"c1","occurred_at":"2026-11-20T02:00:00Z",'
        b'"product_id":"p1"}'
    )
    assert not isinstance(event, Rejection)

    def batch() -> None:
        service.on_event("t.events", PARTITION, 0, b"{}", 0.0, frozenset(), event)
        service.on_event("t.events", PARTITION, 1, b"{}", 0.0, frozenset(), event)  # the same event again
        service.on_event("t.events", PARTITION, 2, b"[", 0.0, frozenset(), Rejection("body", "malformed JSON"))

    def counted(result: str) -> float:
        return service.metrics.get("engagement_events_total", result=result)

    batch()
    service.drop_batch()  # it failed (Redis away, say): nothing of it counts
    assert counted("accepted") == counted("duplicate") == counted("rejected") == 0
    batch()
    asyncio.run(service.flush())
    assert (counted("accepted"), counted("duplicate"), counted("rejected")) == (1, 1, 1)


def test_a_state_that_would_grow_past_the_limit_is_not_written_and_its_events_go_to_the_dead_letters() -> None:
    letters: list[bytes] = []

    async def recording(topic: str, key: bytes, value: bytes, partition: int | None) -> Any:
        if topic.endswith("dead-letter"):
            letters.append(value)
        return await produce(topic, key, value, partition)

    engine = engine_for(allowed_lateness=30.0)
    table = Table()
    service = WorkerService(engine, table, recording, None, standard_metrics(), TopicNames("t."))  # type: ignore[arg-type]
    now = 1.8e9
    items = [{"product_id": f"p{i}", "name": "x" * 500, "quantity": 1} for i in range(110)]
    for n in range(80):
        fields = {"event_id": f"c{n}", "type": "cart.updated", "customer_id": "v", "cart_id": f"k{n}"}
        raw = json.dumps({**fields, "occurred_at": "2027-01-15T08:00:00Z", "items": items}).encode()
        item = decode_event(raw)
        assert not isinstance(item, Rejection)
        service.on_event("t.cart", PARTITION, n, raw, now, frozenset(), item)
    asyncio.run(service.flush())
    assert table.rows == {}  # never written: it could not be read back
    assert len(letters) == 80
    assert all(json.loads(letter)["reason"] == TOO_LARGE.reason for letter in letters)
