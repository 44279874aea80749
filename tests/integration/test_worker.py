"""`engagement worker` as real processes on the real Kafka broker and Redis: the same decisions as
replay, and no timer lost and no message sent twice across kill -9, rebalances and Redis restarts."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from engagement.timefmt import rfc3339
from tests.integration.expected import distinct, replayed, sent_keys
from tests.integration.processes import DEMO_STREAM, retimed_lines, wait_for
from tests.integration.whatsapp_payloads import ENV, PHONE, signed, status, webhook
from tests.integration.workers import Namespace, RedisServer, WorkerProcess, sent

pytestmark = pytest.mark.integration


@pytest.fixture
def space() -> Namespace:
    namespace = Namespace("w")
    namespace.create_topics()
    return namespace


def sent_once(path: Path) -> list[str]:
    keys = [str(m["key"]) for m in sent(path)]
    repeated = [key for key, count in Counter(keys).items() if count > 1]
    assert not repeated, f"sent more than once: {repeated}"
    return sorted(keys)


def accepted(workers: list[WorkerProcess]) -> float:
    return sum(w.metric("engagement_events_total", result="accepted") for w in workers if w.proc is not None)


def test_worker_decides_like_replay(tmp_path: Path, space: Namespace, workers: list[WorkerProcess]) -> None:
    start = time.time() - 5
    lines = retimed_lines(DEMO_STREAM, start, space.app_id)
    expected = replayed(lines, start + 120)
    workers.append(WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl"))
    workers[0].start(wait_for_partitions=4)
    space.produce(lines)
    wait_for(lambda: len(distinct(space.decisions())) >= len(expected), 60, "the worker's decisions")
    time.sleep(1.0)
    assert distinct(space.decisions()) == distinct(expected)
    wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= len(sent_keys(expected)), 30, "the sends")
    time.sleep(1.0)
    assert sent_once(tmp_path / "sent.jsonl") == sent_keys(expected)


def test_kill_9_mid_stream_loses_no_timer_and_sends_nothing_twice(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess]
) -> None:
    start = time.time() + 3
    lines = retimed_lines(DEMO_STREAM, start, space.app_id)
    expected = replayed(lines, start + 120)
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl")
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    space.produce(lines[:10])  # arms the cart and logistics timers
    wait_for(lambda: accepted(workers) >= 10, 30, "the first events")
    worker.kill()
    worker.start(wait_for_partitions=4)  # same state directory, same group
    space.produce(lines[10:])
    wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= 1, 60, "a first send")
    worker.kill()  # again, with sends made and some still due
    worker.start(wait_for_partitions=4)
    every_send_once(tmp_path, space, expected)


def test_two_workers_one_killed_its_timers_fire_once_on_the_other(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess]
) -> None:
    expected = fail_over(tmp_path, space, workers, lead=12, module="engagement")
    every_send_once(tmp_path, space, expected)


def test_a_table_restore_that_loses_its_messages_is_read_again(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess]
) -> None:
    """Both workers lose the first seconds of each changelog partition they read: the survivor's
    restore of the victim's partitions stalls, is read again, and the victim's timers fire once."""
    expected = fail_over(tmp_path, space, workers, lead=30, module="tests.integration.lossy_restore_worker")
    survivor = next(w for w in workers if w.proc is not None)
    assert "lossy restore:" in survivor.log()
    assert survivor.metric("engagement_changelog_rereads_total") >= 1
    every_send_once(tmp_path, space, expected)


def fail_over(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess], lead: float, module: str
) -> list[dict[str, object]]:
    """Two workers split the partitions and take the demo stream, whose timers fall due `lead`
    seconds from now; the one holding more timers is killed and the other takes every partition.
    Returns the decisions replay gives for the stream."""
    first = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", module=module)
    second = WorkerProcess(space, tmp_path / "w2", tmp_path / "sent.jsonl", module=module)
    workers.extend([first, second])
    first.start(wait_for_partitions=4)
    second.start(wait_for_partitions=1)
    wait_for(lambda: first.assigned() + second.assigned() == 4, 60, "the partitions split between two workers")
    start = time.time() + lead
    lines = retimed_lines(DEMO_STREAM, start, space.app_id)
    expected = replayed(lines, start + 120)
    space.produce(lines)
    wait_for(lambda: accepted(workers) >= len(lines), 30, "the events")
    wait_for(lambda: sum(w.metric("engagement_pending_timers") for w in workers) > 0, 10, "the timers armed")
    victim = max(workers, key=lambda w: w.metric("engagement_pending_timers"))
    survivor = first if victim is second else second
    assert victim.metric("engagement_pending_timers") > 0
    victim.kill()
    survivor.wait_assigned(4, 60)
    return expected


def every_send_once(tmp_path: Path, space: Namespace, expected: list[dict[str, object]]) -> None:
    """Every send replay decided is made exactly once, and the decisions are replay's."""
    wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= len(sent_keys(expected)), 60, "every send")
    time.sleep(2.0)
    assert sent_once(tmp_path / "sent.jsonl") == sent_keys(expected)
    assert distinct(space.decisions()) == distinct(expected)


def test_checkout_in_the_backlog_cancels_the_cart_message(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess]
) -> None:
    start = time.time() + 1
    demo = {json.loads(line)["event_id"].rsplit("-", 1)[-1]: line for line in retimed_lines(DEMO_STREAM, start, "b")}
    profile, cart, order = demo["03"], demo["11"], demo["15"]  # cart at +4 s (idle 10 s), order at +9 s
    later_view = json.dumps(
        {
            "event_id": "b-later",
            "type": "page.viewed",
            "customer_id": "c-cai",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 20)),
            "product_id": "p-31",
        }
    )
    lines = [profile, cart, order, later_view]
    expected = replayed(lines, start + 120)
    assert [(d["trigger"], d["outcome"], d["reason"]) for d in expected] == [("cart_idle", "cancel", "converted")]
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl")
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    space.produce([profile, cart])
    wait_for(lambda: accepted(workers) >= 2, 30, "the cart")
    worker.kill()
    space.produce([later_view, order])  # the later page view is on another topic and may be read first
    wait_for(lambda: time.time() > start + 16, 30, "the cart timer's due time to pass")
    worker.start(wait_for_partitions=4)
    wait_for(lambda: len(distinct(space.decisions())) >= 1, 60, "the cart decision")
    time.sleep(3.0)
    assert distinct(space.decisions()) == distinct(expected)
    assert sent(tmp_path / "sent.jsonl") == []


def test_redis_restart_pauses_sends_and_duplicates_none(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess]
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", {"ENGAGEMENT_REDIS_URL": redis.url})
        workers.append(worker)
        worker.start(wait_for_partitions=4)
        start = time.time() + 2
        lines = retimed_lines(DEMO_STREAM, start, space.app_id)
        expected = replayed(lines, start + 120)
        space.produce(lines)
        wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= 1, 60, "a first send")
        redis.stop()
        during = len(sent(tmp_path / "sent.jsonl"))
        time.sleep(6.0)
        assert len(sent(tmp_path / "sent.jsonl")) == during  # nothing is sent without the claim store
        redis.start()
        wait_for(lambda: len(sent(tmp_path / "sent.jsonl")) >= len(sent_keys(expected)), 60, "every send")
        time.sleep(2.0)
        assert sent_once(tmp_path / "sent.jsonl") == sent_keys(expected)
        assert distinct(space.decisions()) == distinct(expected)
    finally:
        redis.stop()


def test_malformed_messages_go_to_the_dead_letter_topic_and_processing_goes_on(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess]
) -> None:
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl")
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    space.produce_raw(space.names.orders, b"c-x", b"\xff not json")
    space.produce_raw(
        space.names.for_event("login.succeeded"), b"c-x", b'{"event_id": "x1", "type": "login.succeeded"}'
    )
    lines = retimed_lines(DEMO_STREAM, time.time() - 5, space.app_id)
    space.produce(lines)
    wait_for(lambda: len(space.read(space.names.dead_letter)) >= 2, 30, "two dead letters")
    letters = sorted((json.loads(v) for v in space.read(space.names.dead_letter)), key=lambda d: str(d["topic"]))
    assert [d["topic"] for d in letters] == [space.names.for_event("login.succeeded"), space.names.orders]
    assert all(isinstance(d["partition"], int) and isinstance(d["offset"], int) for d in letters)
    assert letters[0]["field"] == "customer_id"
    assert letters[0]["reason"]
    assert letters[1]["reason"]
    expected = replayed(lines, time.time() + 120)
    wait_for(lambda: len(distinct(space.decisions())) >= len(expected), 60, "the decisions after the bad input")
    assert distinct(space.decisions()) == distinct(expected)


def test_whatsapp_webhook_on_the_worker(tmp_path: Path, space: Namespace, workers: list[WorkerProcess]) -> None:
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", ENV)
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    profile = {
        "event_id": f"{space.app_id}-p",
        "type": "customer.updated",
        "customer_id": "c-wh",
        "occurred_at": rfc3339(time.time() - 60),
        "phone": PHONE,
        "whatsapp_opt_in": True,
    }
    posted = httpx.post(
        f"{worker.url}/v1/events",
        content=json.dumps(profile),
        headers={"Content-Type": "application/json", **worker.headers},
    )
    assert posted.status_code == 202
    wait_for(lambda: accepted(workers) >= 1, 30, "the profile")
    assert worker.metric("engagement_http_ingested_total", result="accepted") == 1  # taken over HTTP once
    assert worker.metric("engagement_events_total", result="accepted") == 1  # and processed once
    time.sleep(0.5)  # the batch's phone index is written with the batch
    url = f"{worker.url}/v1/webhooks/whatsapp"
    statuses = webhook({"statuses": [status("wamid.W", "read")]})
    assert httpx.post(url, content=statuses, headers=signed(statuses)).status_code == 200
    assert httpx.post(url, content=statuses, headers=signed(statuses)).status_code == 200
    assert httpx.post(url, content=statuses, headers=signed(statuses, "forged")).status_code == 401
    assert worker.metric("engagement_whatsapp_statuses_total", status="read") == 1
    stop = {"from": PHONE[1:], "id": "wamid.IN", "timestamp": str(int(time.time())), "type": "text"}
    inbound = webhook({"messages": [{**stop, "text": {"body": "退訂"}}]})
    assert httpx.post(url, content=inbound, headers=signed(inbound)).status_code == 200
    replies = [json.loads(v) for v in space.read(space.names.for_event("message.replied"))]
    replies = [r for r in replies if r["type"] == "message.replied"]
    assert [(r["customer_id"], r["text"]) for r in replies] == [("c-wh", "退訂")]
