"""`engagement run` killed with -9 three times while a thousand customers' events stream in and the
provider answers 3 % of calls with 130429 and 3 % with a 500: checked against replay of the same
events, no timer is lost, no acknowledged event is lost, every due send is accepted exactly once
or counted unknown (at most the calls in flight at the kills), and nothing is sent twice."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.chaos.stream import (
    SPAN_SECONDS,
    FaultyGraph,
    Verdict,
    decided,
    feed_at_live_pace,
    mixed_stream,
    replayed,
)
from tests.integration.processes import RunProcess, free_port, wait_for

pytestmark = pytest.mark.integration

KILLS = 3


def test_run_killed_three_times_under_provider_faults(tmp_path: Path) -> None:
    start = time.time() + 5
    events = mixed_stream(f"chaos{int(start)}", start)
    expected = decided(replayed(events, start + SPAN_SECONDS + 60))
    costs: dict[str, int] = {}
    with FaultyGraph() as graph:
        run = RunProcess(tmp_path, free_port(), graph.env())
        run.start()
        killed: list[float] = []
        rng = random.Random(11)

        def send(lines: list[str]) -> bool:
            try:
                return bool(run.post_lines(lines))
            except (httpx.HTTPError, AssertionError):
                return False

        def killer() -> None:
            for moment in sorted(rng.uniform(2, SPAN_SECONDS) for _ in range(KILLS)):
                time.sleep(max(0.0, start + moment - time.time()))
                run.kill(signal.SIGTERM)
                killed.append(time.time())
                run.start()  # back as soon as it answers /healthz

        chaos = threading.Thread(target=killer)
        chaos.start()
        try:
            costs.update(feed_at_live_pace(events, send, start + SPAN_SECONDS + 120))
            chaos.join(timeout=120)
            wait_for(lambda: len({d["key"] for d in run.decisions()}) >= len(expected), 120, "every timer decided")
            wait_for(lambda: not pending_sends(tmp_path), 120, "every send settled")
            live_lines = run.decisions()
        finally:
            chaos.join(timeout=60)
            run.kill(signal.SIGTERM)
    keys = [str(d["key"]) for d in live_lines]
    assert len(keys) == len(set(keys)), "a decision written twice"
    statuses = send_statuses(tmp_path)
    unknown = {key for key, status in statuses.items() if status == "unknown"}
    verdict = Verdict(expected, {str(d["key"]): d for d in live_lines}, graph.accepted, unknown, statuses)
    costs["kill -9"] = len(killed)
    costs.update({f"provider answers {k}": v for k, v in graph.calls.items()})
    print("\nrun under chaos:\n" + verdict.table(costs))
    assert len(killed) == KILLS
    assert verdict.problems(KILLS) == []


def pending_sends(state_dir: Path) -> int:
    with closing(sqlite3.connect(state_dir / "engagement.sqlite3")) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()[0])


def send_statuses(state_dir: Path) -> dict[str, str]:
    with closing(sqlite3.connect(state_dir / "engagement.sqlite3")) as db:
        return {str(k): str(s) for k, s in db.execute("SELECT key, status FROM outbox")}
