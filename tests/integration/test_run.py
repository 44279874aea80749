"""`engagement run` as a real process over real HTTP: same decisions as replay, durable across kill -9."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.expected import comparable, replayed
from tests.integration.processes import (
    DEMO_STREAM,
    RunProcess,
    free_port,
    retimed_lines,
    running,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_run_decides_like_replay(tmp_path: Path) -> None:
    start = time.time() - 5
    lines = retimed_lines(DEMO_STREAM, start, "same")
    expected = replayed(lines, start + 120)
    assert len(expected) == 6
    with running(tmp_path) as run:
        answer = run.post_lines(lines)
        assert answer["accepted"] == len(lines)
        wait_for(lambda: len(run.decisions()) >= len(expected), 40, "the live decisions")
        time.sleep(1.0)
        assert comparable(run.decisions()) == comparable(expected)
        sends = [d["key"] for d in expected if d["outcome"] == "send"]
        wait_for(lambda: len(run.sent()) == len(sends), 30, "the sends")
        assert sorted(str(m["key"]) for m in run.sent()) == sorted(str(k) for k in sends)


def test_kill_9_loses_no_timer_and_sends_nothing_twice(tmp_path: Path) -> None:
    lines = retimed_lines(DEMO_STREAM, time.time() + 2, "crash")
    expected = replayed(lines, time.time() + 120)
    expected_sends = sorted(str(d["key"]) for d in expected if d["outcome"] == "send")
    run = RunProcess(tmp_path, free_port())
    run.start()
    try:
        run.post_lines(lines[:10])  # arms the cart and logistics timers, some seconds ahead
        run.kill(signal.SIGKILL)
        run.start()  # same state directory
        run.post_lines(lines[10:])
        wait_for(lambda: len(run.sent()) >= 1, 30, "a first send")
        run.kill(signal.SIGKILL)  # again, with sends made and some still due
        run.start()
        wait_for(lambda: len(run.sent()) >= len(expected_sends), 60, "every send")
        time.sleep(2.0)
        sent = sorted(str(m["key"]) for m in run.sent())
        assert sent == expected_sends  # each key once, none lost
        assert comparable(run.decisions()) == comparable(expected)
    finally:
        run.kill(signal.SIGTERM)


def test_ingest_reports_each_rejected_item_and_serves_metrics(tmp_path: Path) -> None:
    good = retimed_lines(DEMO_STREAM, time.time(), "http")[0]
    unknown = '{"event_id": "x", "type": "nope", "customer_id": "c", "occurred_at": "2026-11-20T02:00:00Z"}'
    body = f'[{good}, {{"type": "page.viewed"}}, {unknown}]'
    with running(tmp_path) as run:
        response = httpx.post(
            f"{run.url}/v1/events", content=body, headers={"Content-Type": "application/json", **run.headers}
        )
        assert response.status_code == 202
        answer = response.json()
        assert (answer["accepted"], answer["rejected"]) == (1, 2)
        assert [r["index"] for r in answer["rejections"]] == [2, 3]  # 1-based, as replay's line numbers
        assert answer["rejections"][1]["field"] == "type"
        again = run.post_lines([good])
        assert (again["accepted"], again["duplicates"]) == (0, 1)
        broken = httpx.post(
            f"{run.url}/v1/events", content=b"{not json", headers={"Content-Type": "application/json", **run.headers}
        )
        assert broken.status_code == 400  # nothing in it was taken
        assert broken.json()["rejections"][0]["field"] == "body"
        metrics = httpx.get(f"{run.url}/metrics").text
        assert 'engagement_events_total{result="accepted"} 1.0' in metrics
        assert 'engagement_events_total{result="rejected"} 3.0' in metrics
        assert 'engagement_events_total{result="duplicate"} 1.0' in metrics
