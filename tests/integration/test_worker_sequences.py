"""A moment written without code on a worker (real Kafka and Redis): declared events produced to
the input topics (a family of its own goes with the orders), decided as `run` decides them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engagement.timefmt import rfc3339
from tests.integration.processes import wait_for
from tests.integration.test_run_sequences import event, fast_pickups
from tests.integration.workers import Namespace, WorkerProcess, sent

pytestmark = pytest.mark.integration


def test_a_worker_decides_a_sequence_from_declared_events(tmp_path: Path, workers: list[WorkerProcess]) -> None:
    space = Namespace("seq")
    space.create_topics()
    worker = WorkerProcess(space, tmp_path / "w", tmp_path / "sent.jsonl", fast_pickups(tmp_path))
    (tmp_path / "w").mkdir(exist_ok=True)
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    now = time.time()
    week = rfc3339(now + 7 * 86_400)
    space.produce([
        event(1, "customer.updated", now - 60, phone="+886912000778", whatsapp_opt_in=True, locale="zh-TW",
              timezone="Asia/Taipei", name="Mei"),
        event(2, "shipment.arrived_at_store", now, order_id="o1", shipment_id="s1", store_name="7-ELEVEN",
              pickup_deadline=week),
        event(3, "shipment.arrived_at_store", now, order_id="o2", shipment_id="s2", pickup_deadline=week),
        event(4, "shipment.picked_up", now + 1, order_id="o2", shipment_id="s2"),
    ])  # fmt: skip

    def mine() -> list[dict[str, object]]:
        return [d for d in space.decisions() if d["trigger"] == "pickup_fast"]

    wait_for(lambda: len(mine()) >= 3, 60, "the worker's sequence decisions")
    outcomes = sorted((str(d["outcome"]), str(d["reason"])) for d in mine())
    assert outcomes == [("cancel", "stopped"), ("cancel", "stopped"), ("send", "None")]
    wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= 1, 30, "the send")
    (message,) = sent(tmp_path / "sent.jsonl")
    assert "7-ELEVEN" in str(message["body"])
