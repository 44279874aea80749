"""What the provider says back reaches the engine, in `engagement run` against the fake Graph API:
131050 (opted out), 131026 (unreachable) and a failed status with 131049 (marketing paused)
suppress the customer's next message with the matching reason, and a send whose outcome was
unknown (a read timeout) is settled by its status webhook, never sent twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement.timefmt import rfc3339
from tests.integration.fake_graph import FakeGraph, Received, error, slow
from tests.integration.processes import RunProcess, free_port, until
from tests.integration.whatsapp_payloads import ENV, signed, webhook
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration

PHONES = {"c-stop": "+886912400001", "c-gone": "+886912400002", "c-paused": "+886912400003", "c-slow": "+886912400004"}
ANSWERS = {"c-stop": error(131050), "c-gone": error(131026), "c-slow": slow(3.0)}


def profile(cid: str, t: float) -> dict[str, Any]:
    return {"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid, "occurred_at": rfc3339(t),
            "phone": PHONES[cid], "locale": "en", "whatsapp_opt_in": True}  # fmt: skip


def cart(cid: str, n: int, t: float) -> dict[str, Any]:
    return {"event_id": f"{cid}-c{n}", "type": "cart.updated", "customer_id": cid, "occurred_at": rfc3339(t),
            "cart_id": f"{cid}-k{n}", "items": [{"product_id": "p1", "name": "Mug", "quantity": 1}]}  # fmt: skip


def emptied(cid: str, t: float) -> dict[str, Any]:
    return {"event_id": f"{cid}-e", "type": "cart.updated", "customer_id": cid, "occurred_at": rfc3339(t),
            "cart_id": f"{cid}-k1", "items": []}  # fmt: skip


def login(cid: str, n: int, t: float, device: str, country: str) -> dict[str, Any]:
    return {"event_id": f"{cid}-l{n}", "type": "login.succeeded", "customer_id": cid, "occurred_at": rfc3339(t),
            "device_id": device, "country": country}  # fmt: skip


def post(run: RunProcess, events: list[dict[str, Any]]) -> None:
    run.post_lines([json.dumps(e, ensure_ascii=False) for e in events])


def decided(run: RunProcess, cid: str, trigger: str) -> list[dict[str, object]]:
    return [d for d in run.decisions() if d["customer_id"] == cid and d["trigger"] == trigger]


async def test_provider_refusals_reach_the_engine_and_unknown_sends_are_reconciled(
    tmp_path: Path, graph: FakeGraph
) -> None:
    calls: Counter[str] = Counter()

    def by_recipient(request: Received) -> Any:
        customer = next(c for c, phone in PHONES.items() if phone.lstrip("+") == str(request.body["to"]).lstrip("+"))
        calls[customer] += 1
        answer = ANSWERS.get(customer)
        return None if answer is None else answer(request)

    graph.default = by_recipient
    env = {
        **ENV,
        "ENGAGEMENT_PROVIDER": "whatsapp",
        "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
        "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
        "ENGAGEMENT_WHATSAPP_TIMEOUT": "1s",
    }
    run = RunProcess(tmp_path, free_port(), env)
    await asyncio.to_thread(run.start)
    try:
        now = time.time()
        first = [profile(c, now - 120) for c in PHONES]
        first += [cart("c-stop", 1, now), cart("c-paused", 1, now)]  # demo cart reminders: 10 s idle
        first += [login(c, 1, now - 60, "d-home", "TW") for c in ("c-gone", "c-slow")]
        first += [login(c, 2, now, "d-new", "JP") for c in ("c-gone", "c-slow")]  # anomalous: alerts at once
        await asyncio.to_thread(post, run, first)

        # the cart reminder to c-paused is accepted; then Meta reports it failed with 131049
        await until(lambda: [d for d in decided(run, "c-paused", "cart_idle") if d["outcome"] == "send"], 40, "a send")
        [paused_send] = decided(run, "c-paused", "cart_idle")
        failed = {"id": "wamid.paused", "status": "failed", "timestamp": str(int(time.time())),
                  "recipient_id": PHONES["c-paused"][1:], "biz_opaque_callback_data": paused_send["key"],
                  "errors": [{"code": 131049, "title": "healthy ecosystem engagement"}]}  # fmt: skip
        body = webhook({"statuses": [failed]})
        answer = await asyncio.to_thread(
            httpx.post, f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body)
        )
        assert answer.status_code == 200

        # the alert to c-slow timed out: its outcome is unknown until the status webhook says delivered
        await until(lambda: calls["c-slow"] == 1 and _metric(run, 'result="unknown"') == 1, 30, "the timeout")
        [slow_send] = decided(run, "c-slow", "anomalous_login")
        delivered = {"id": "wamid.slow", "status": "delivered", "timestamp": str(int(time.time())),
                     "recipient_id": PHONES["c-slow"][1:], "biz_opaque_callback_data": slow_send["key"]}  # fmt: skip
        body = webhook({"statuses": [delivered]})
        await asyncio.to_thread(httpx.post, f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body))
        await until(lambda: _metric(run, 'result="reconciled"') == 1, 10, "the reconciliation")

        await until(lambda: calls["c-stop"] == 1 and calls["c-gone"] == 1, 40, "the refused sends")
        await asyncio.sleep(1.0)  # the refusals are ingested as message.failed events
        later = time.time()
        second = [emptied(c, later - 1) for c in ("c-stop", "c-paused")]  # a new cart episode begins
        second += [cart(c, 2, later) for c in ("c-stop", "c-paused")]
        second += [login("c-gone", 3, later, "d-other", "US")]
        await asyncio.to_thread(post, run, second)
        await until(lambda: len(decided(run, "c-stop", "cart_idle")) == 2, 40, "the second cart decisions")
        await until(lambda: len(decided(run, "c-paused", "cart_idle")) == 2, 40, "the second cart decisions")
        outcomes = {
            cid: [(d["outcome"], d["reason"]) for d in decided(run, cid, trigger)]
            for cid, trigger in (("c-stop", "cart_idle"), ("c-paused", "cart_idle"), ("c-gone", "anomalous_login"))
        }
        metrics = await asyncio.to_thread(lambda: httpx.get(f"{run.url}/metrics", timeout=5).text)
    finally:
        await asyncio.to_thread(run.kill)
    assert outcomes["c-stop"] == [("send", None), ("suppress", "marketing_opt_out")]
    assert outcomes["c-paused"] == [("send", None), ("suppress", "marketing_paused")]
    assert outcomes["c-gone"] == [("send", None), ("suppress", "unreachable")]
    assert calls == {"c-stop": 1, "c-gone": 1, "c-paused": 1, "c-slow": 1}  # nothing sent twice
    assert 'engagement_sends_total{result="opted_out"} 1.0' in metrics
    assert 'engagement_sends_total{result="unreachable"} 1.0' in metrics


def _metric(run: RunProcess, label: str) -> float:
    for line in httpx.get(f"{run.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"engagement_sends_total{{{label}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_worker_feeds_an_opt_out_from_the_provider_back_through_kafka(tmp_path: Path, graph: FakeGraph) -> None:
    calls: Counter[str] = Counter()

    def opted_out(request: Received) -> Any:
        calls[str(request.body["to"])] += 1
        return error(131050)(request)

    graph.default = opted_out
    space = Namespace("feedback")
    await asyncio.to_thread(space.create_topics)
    env = {
        "ENGAGEMENT_PROVIDER": "whatsapp",
        "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
        "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
    }
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", env)
    try:
        await asyncio.to_thread(worker.start, 4)
        now = time.time()
        first = [profile("c-stop", now - 120), cart("c-stop", 1, now)]
        await asyncio.to_thread(space.produce, [json.dumps(e) for e in first])
        await until(lambda: sum(calls.values()) == 1, 60, "the refused send")
        await asyncio.sleep(1.5)  # the message.failed event goes through the customers topic
        later = time.time()
        second = [emptied("c-stop", later - 1), cart("c-stop", 2, later)]
        await asyncio.to_thread(space.produce, [json.dumps(e) for e in second])

        def cart_decisions() -> list[tuple[object, object]]:
            return [(d["outcome"], d["reason"]) for d in space.decisions() if d["trigger"] == "cart_idle"]

        await until(lambda: len(cart_decisions()) >= 2, 60, "the second cart decision")
        decisions = await asyncio.to_thread(cart_decisions)
    except BaseException:
        print(worker.log()[-12000:])
        raise
    finally:
        await asyncio.to_thread(worker.kill)
    assert decisions == [("send", None), ("suppress", "marketing_opt_out")]
    assert list(calls.values()) == [1]
