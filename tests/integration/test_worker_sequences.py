"""A moment written without code on a worker (real Kafka and Redis): declared events produced to
the input topics (a family of its own goes with the orders), decided as `run` decides them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.processes import wait_for
from tests.integration.test_run_sequences import fast_pickups, pickups
from tests.integration.workers import Namespace, WorkerProcess, sent

pytestmark = pytest.mark.integration


def test_a_worker_decides_a_sequence_from_declared_events(tmp_path: Path, workers: list[WorkerProcess]) -> None:
    space = Namespace("seq")
    space.create_topics()
    worker = WorkerProcess(space, tmp_path / "w", tmp_path / "sent.jsonl", fast_pickups(tmp_path))
    (tmp_path / "w").mkdir(exist_ok=True)
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    space.produce(pickups(time.time(), "+886912000778", "zh-TW", "7-ELEVEN"))

    def mine() -> list[dict[str, object]]:
        return [d for d in space.decisions() if d["trigger"] == "pickup_fast"]

    wait_for(lambda: len(mine()) >= 3, 60, "the worker's sequence decisions")
    outcomes = sorted((str(d["outcome"]), str(d["reason"])) for d in mine())
    assert outcomes == [("cancel", "stopped"), ("cancel", "stopped"), ("send", "None")]
    wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= 1, 30, "the send")
    (message,) = sent(tmp_path / "sent.jsonl")
    assert "7-ELEVEN" in str(message["body"])
