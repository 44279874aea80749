"""Nothing fails silently: supervised tasks, a timer that cannot be decided, and ingest that keeps
no trace of what it could not commit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from faust.types import Message

from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.decode import Rejection, decode_event
from engagement.embedded.service import EmbeddedService
from engagement.embedded.store import EmbeddedStore
from engagement.events import Event
from engagement.live.api_keys import KeyRing
from engagement.live.http import Api, make_app
from engagement.live.ingest import Taken
from engagement.live.metrics import Metrics, standard_metrics
from engagement.live.supervisor import Supervisor
from engagement.providers.console import ConsoleProvider
from engagement.worker.app import keep_unacknowledged
from tests.scenario import Events, engine_for, only, replay


async def test_a_failing_task_is_logged_counted_restarted_and_shown_by_health(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics, backoff=0.001, unhealthy_after=3)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) <= 4:
            raise ValueError(f"bad formula, round {len(runs)}")
        await asyncio.sleep(3600)

    supervisor.start("timers", flaky)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(runs) >= 5:
            break
    assert len(runs) == 5  # restarted after each failure
    assert metrics.get("engagement_task_failures_total", task="timers") == 4
    assert "Traceback" in caplog.text
    assert "ValueError: bad formula, round 4" in caplog.text
    reason = supervisor.health()
    assert reason is not None
    assert "task timers failed 4 times in a row: ValueError: bad formula, round 4" in reason
    await supervisor.stop()


async def test_healthz_answers_503_with_the_reason() -> None:
    class NoIngest:
        async def ingest(self, events: list[Event]) -> Taken:
            return Taken()

    trouble = ["task sender failed 3 times in a row: RuntimeError: boom"]
    app = make_app(NoIngest(), Metrics(), KeyRing.of({}), Api(health=lambda: trouble[0] if trouble else None))
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/healthz")
        assert answer.status == 503
        assert (await answer.json())["reason"] == trouble[0]
        trouble.clear()
        assert (await client.get("/healthz")).status == 200


def test_a_timer_that_cannot_be_decided_is_suppressed_and_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_for()
    render = engine._render

    def broken_for_one(spec: Any, state: CustomerState, *args: Any) -> Any:
        if state.customer_id == "c1":
            raise TypeError("min() expected 1 argument, got 0")
        return render(spec, state, *args)

    monkeypatch.setattr(engine, "_render", broken_for_one)
    ev = Events()
    ev.profile(customer="c1")
    ev.profile(customer="c2")
    ev.cart(0, customer="c1")
    ev.cart(0, customer="c2")
    ev.view(200, customer="c3")
    decisions = only(replay(ev, engine), "cart_idle")
    assert sorted((d.customer_id, d.outcome, d.reason) for d in decisions) == [
        ("c1", "suppress", "internal_error"),
        ("c2", "send", None),
    ]


def events_for(*customers: str, prefix: str = "e") -> list[Event]:
    out: list[Event] = []
    for n, customer in enumerate(customers):
        line = {
            "event_id": f"{prefix}{n}",
            "type": "page.viewed",
            "customer_id": customer,
            "occurred_at": "2026-11-20T02:00:00Z",
            "product_id": "p1",
        }
        item = decode_event(json.dumps(line))
        assert not isinstance(item, Rejection)
        out.append(item)
    return out


def service_at(tmp_path: Path, engine: Engine) -> EmbeddedService:
    return EmbeddedService(engine, EmbeddedStore(tmp_path), ConsoleProvider(), standard_metrics(), clock=lambda: 1.8e9)


async def test_a_customer_whose_events_fail_is_left_out_and_the_others_are_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for()
    service = service_at(tmp_path, engine)
    admit = engine.admit

    def failing_for_bob(state: CustomerState, *args: Any) -> bool:
        if state.customer_id == "bob":
            state.recent_ids = b"half-done"  # a change made before the failure
            raise RuntimeError("a bug")
        return admit(state, *args)

    monkeypatch.setattr(engine, "admit", failing_for_bob)
    batch = events_for("alice", "bob", "carol", "bob")
    taken = await service.ingest(batch)
    assert [n for n, _ in taken.refused] == [1, 3]
    assert "send them again" in taken.refused[0][1].reason
    assert service.store.load_state("bob") is None  # nothing of bob in memory or on disk
    assert service.store.load_state("alice") is not None
    monkeypatch.setattr(engine, "admit", admit)
    again = await service.ingest(batch)
    assert again.refused == []
    assert again.duplicates == 2  # alice and carol were taken the first time; bob now is
    service.store.close()


async def test_a_batch_that_cannot_be_committed_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_at(tmp_path, engine_for())
    write = service.store.write
    calls = [0]

    def disk_full(*args: Any) -> None:
        calls[0] += 1
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(service.store, "write", disk_full)
    batch = events_for("alice", "bob", "alice")
    watermark = service.watermark.max_seen
    for _ in range(2):
        with pytest.raises(sqlite3.OperationalError):
            await service.ingest(batch)
    assert service.watermark.max_seen == watermark
    monkeypatch.setattr(service.store, "write", write)
    taken = await service.ingest(batch)
    assert (taken.duplicates, taken.refused) == (0, [])  # all three taken now, none a "duplicate"
    assert service.store.load_state("bob") is not None
    service.store.close()


async def test_work_that_must_not_be_skipped_is_undone_and_tried_again_until_it_goes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics, backoff=0.001, unhealthy_after=3)
    tries: list[int] = []
    undone: list[int] = []

    async def batch() -> None:
        tries.append(1)
        if len(tries) <= 3:
            raise ConnectionError(f"redis down, try {len(tries)}")

    async def watch_health() -> str | None:
        while len(tries) < 3:
            await asyncio.sleep(0)
        return supervisor.health()

    watching = asyncio.create_task(watch_health())
    await supervisor.until_done("batch", batch, lambda: undone.append(1))
    assert len(tries) == 4
    assert len(undone) == 3
    assert metrics.get("engagement_task_failures_total", task="batch") == 3
    assert "task batch failed (3 in a row); trying it again" in caplog.text
    reason = await watching
    assert reason is not None
    assert "task batch failed" in reason
    assert supervisor.health() is None  # and healthy once it went through


async def test_work_cancelled_in_the_middle_is_undone_and_the_cancellation_goes_on() -> None:
    supervisor = Supervisor(Metrics(), backoff=0.001)
    undone: list[int] = []
    started = asyncio.Event()

    async def batch() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(supervisor.until_done("batch", batch, lambda: undone.append(1)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert undone == [1]


def test_a_batch_left_unfinished_is_not_acknowledged_by_faust() -> None:
    """faust's stream acknowledges a batch when its body ends, however it ends; a message counts
    as acknowledged (its offset may be committed) when its last reference is given back."""

    class Event:
        def __init__(self, offset: int) -> None:
            self.message = Message("t", 0, offset, 0.0, 0, None, b"k", b"v", None)
            self.message.incref()  # the stream's reference, which its acknowledgement gives back

    finished, unfinished = [Event(1), Event(2)], [Event(3), Event(4)]
    keep_unacknowledged(unfinished)
    for event in finished + unfinished:
        event.message.ack(None)  # type: ignore[arg-type]  # faust's Message.ack leaves the consumer to the stream
    assert [e.message.acked for e in finished + unfinished] == [True, True, False, False]
