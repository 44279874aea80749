"""A shop on Shopify plugs in with webhooks alone: a checkout with a phone, left alone, gets the cart
reminder, through `run` and through a worker on Kafka and Redis; the order that follows a second
checkout cancels its reminder, and a redelivered webhook changes nothing."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement.sources.shopify import signature
from engagement.timefmt import rfc3339
from tests.integration.processes import running, wait_for
from tests.integration.workers import Namespace, WorkerProcess, sent

pytestmark = pytest.mark.integration

SECRET = "shpss_integration_secret"  # noqa: S105 (a test fixture)
ENV = {"ENGAGEMENT_SHOPIFY_SECRET": SECRET}


def post(url: str, topic: str, body: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature(SECRET, raw),
        "X-Shopify-Webhook-Id": webhook_id or hashlib.sha256(raw).hexdigest()[:32],
        "X-Shopify-Shop-Domain": "example-tw.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "Content-Type": "application/json",
    }
    answer = httpx.post(f"{url}/v1/sources/shopify", content=raw, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def customer(customer_id: int, phone: str, at: float) -> dict[str, Any]:
    return {"id": customer_id, "first_name": "美玲", "last_name": "林", "phone": phone, "state": "enabled",
            "created_at": rfc3339(at), "updated_at": rfc3339(at),
            "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
            "whatsapp_marketing_consent": {"state": "subscribed", "opt_in_level": "confirmed_opt_in"}}  # fmt: skip


def checkout(token: str, customer_id: int, phone: str, at: float) -> dict[str, Any]:
    return {"id": abs(hash(token)) % 10**9, "token": token, "phone": phone, "currency": "TWD", "completed_at": None,
            "created_at": rfc3339(at), "updated_at": rfc3339(at), "total_price": "1200.00",
            "abandoned_checkout_url": f"https://shop.example.tw/checkouts/{token}/recover?key=k",
            "line_items": [{"product_id": 632910392, "variant_id": 39072856, "title": "保溫瓶 500ml", "quantity": 2,
                            "price": "600.00"}],
            "customer": {"id": customer_id, "first_name": "美玲", "last_name": "林", "phone": None}}  # fmt: skip


def order(order_id: int, token: str, customer_id: int, at: float) -> dict[str, Any]:
    return {"id": order_id, "checkout_token": token, "currency": "TWD", "total_price": "1200.00",
            "created_at": rfc3339(at), "financial_status": "paid",
            "line_items": [{"product_id": 632910392, "title": "保溫瓶 500ml", "quantity": 2, "price": "600.00"}],
            "customer": {"id": customer_id}}  # fmt: skip


def shop_traffic(url: str, now: float) -> None:
    """Two customers check out; the second then pays. The first checkout is posted twice."""
    post(url, "customers/create", customer(1001, "+886912300001", now - 60))
    post(url, "customers/create", customer(1002, "+886912300002", now - 60))
    first = checkout("ck-left-alone", 1001, "+886912300001", now)
    assert post(url, "checkouts/create", first, webhook_id="wh-1")["accepted"] == 2
    again = post(url, "checkouts/create", first, webhook_id="wh-1")
    assert again["accepted"] == 0
    post(url, "checkouts/create", checkout("ck-bought", 1002, "+886912300002", now))
    post(url, "orders/create", order(5001, "ck-bought", 1002, now + 1))


def reminders(messages: list[dict[str, object]]) -> list[dict[str, object]]:
    return [m for m in messages if m.get("trigger") == "cart_idle"]


def test_a_shopify_checkout_left_alone_gets_the_cart_reminder_through_run(tmp_path: Path) -> None:
    with running(tmp_path, ENV) as run:
        shop_traffic(run.url, time.time())
        wait_for(lambda: reminders(run.sent()), 60, "the cart reminder")
        time.sleep(2)  # room for a wrong second reminder to show
        (reminder,) = reminders(run.sent())
        assert reminder["to"] == "+886912300001"
        assert "保溫瓶" in json.dumps(reminder, ensure_ascii=False)
        cancelled = [d for d in run.decisions() if d["trigger"] == "cart_idle" and d["customer_id"] == "1002"]
        assert cancelled
        assert all(d["outcome"] != "send" for d in cancelled)


def test_the_same_through_a_worker_on_kafka(tmp_path: Path, workers: list[WorkerProcess]) -> None:
    space = Namespace("src")
    space.create_topics()
    (tmp_path / "w").mkdir()
    worker = WorkerProcess(space, tmp_path / "w", tmp_path / "sent.jsonl", ENV)
    workers.append(worker)
    worker.start(wait_for_partitions=4)
    shop_traffic(worker.url, time.time())
    wait_for(lambda: reminders(sent(tmp_path / "sent.jsonl")), 90, "the worker's cart reminder")
    time.sleep(2)
    (reminder,) = reminders(sent(tmp_path / "sent.jsonl"))
    assert reminder["to"] == "+886912300001"
    decided = [d for d in space.decisions() if d["trigger"] == "cart_idle"]
    assert {d["customer_id"] for d in decided if d["outcome"] == "send"} == {"1001"}
