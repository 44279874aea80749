"""The WhatsApp webhook of `engagement run`: the handshake, signed and forged callbacks, statuses
recorded once, and a STOP reply that opts the customer out of the cart reminder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import TemplateRecord, load_registry, write_registry
from engagement.timefmt import rfc3339
from tests.integration.processes import DEMO_TRIGGERS, running, wait_for
from tests.integration.whatsapp_payloads import ENV, PHONE, signed, status, webhook

pytestmark = pytest.mark.integration


def metric(url: str, line_start: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_handshake_and_signatures(tmp_path: Path) -> None:
    with running(tmp_path, ENV) as run:
        url = f"{run.url}/v1/webhooks/whatsapp"
        ok = httpx.get(
            url, params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
        )
        assert (ok.status_code, ok.text) == (200, "1158201444")
        wrong = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
        assert wrong.status_code == 403
        body = webhook({"statuses": [status("wamid.A", "delivered")]})
        assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
        assert httpx.post(url, content=body, headers=signed(body)).status_code == 200  # Meta redelivers
        assert httpx.post(url, content=body, headers=signed(body, "forged")).status_code == 401
        assert httpx.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
        tampered = body.replace(b"delivered", b"read")
        assert httpx.post(url, content=tampered, headers=signed(body)).status_code == 401
        failed = webhook({"statuses": [status("wamid.B", "failed", [{"code": 131026, "title": "Undeliverable"}])]})
        assert httpx.post(url, content=failed, headers=signed(failed)).status_code == 200
        assert metric(run.url, 'engagement_whatsapp_statuses_total{status="delivered"}') == 1
        assert metric(run.url, 'engagement_whatsapp_statuses_total{status="failed"}') == 1
        assert metric(run.url, 'engagement_whatsapp_failures_total{code="131026"}') == 1
        assert metric(run.url, 'engagement_whatsapp_webhooks_total{result="bad_signature"}') == 3


def test_a_stop_reply_opts_the_customer_out_of_the_cart_reminder(tmp_path: Path) -> None:
    now = time.time()
    profile = {
        "event_id": "wh-p",
        "type": "customer.updated",
        "customer_id": "c-wh",
        "occurred_at": rfc3339(now - 60),
        "phone": PHONE,
        "locale": "en",
        "whatsapp_opt_in": True,
    }
    cart = {
        "event_id": "wh-c",
        "type": "cart.updated",
        "customer_id": "c-wh",
        "occurred_at": rfc3339(now + 2),
        "cart_id": "cart-wh",
        "items": [{"product_id": "p-1", "name": "Linen shirt", "quantity": 1, "unit_price": 1280}],
    }
    with running(tmp_path, ENV) as run:
        run.post_lines([json.dumps(profile)])
        url = f"{run.url}/v1/webhooks/whatsapp"
        stop = {
            "from": PHONE[1:],
            "id": "wamid.IN1",
            "timestamp": str(int(now)),
            "type": "text",
            "text": {"body": "STOP"},
        }
        body = webhook({"contacts": [{"wa_id": PHONE[1:], "profile": {"name": "W"}}], "messages": [stop]})
        assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
        run.post_lines([json.dumps(cart)])
        wait_for(lambda: any(d["trigger"] == "cart_idle" for d in run.decisions()), 40, "the cart decision")
        (decision,) = [d for d in run.decisions() if d["trigger"] == "cart_idle"]
        assert (decision["outcome"], decision["reason"]) == ("suppress", "marketing_opt_out")
        assert metric(run.url, 'engagement_whatsapp_inbound_total{result="reply"}') == 1


def template_webhook(field: str, value: dict[str, object]) -> bytes:
    change = {"field": field, "value": value}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}).encode()


def test_a_paused_template_suppresses_its_sends_and_is_never_attempted(tmp_path: Path) -> None:
    """Meta pauses cart_reminder in en_US: the registry takes it, the configuration reloads, and the
    next cart reminder in English is suppressed with `template_paused`, with no provider call."""
    messages = tmp_path / "messages"
    shutil.copytree(default_messages_dir(), messages)
    approved = [
        TemplateRecord(name="cart_reminder", language=lang, status="APPROVED", category="MARKETING")
        for lang in ("zh_TW", "en_US")
    ]
    write_registry(messages, "test", "", approved)
    now = time.time()
    profile = {
        "event_id": "tp-p",
        "type": "customer.updated",
        "customer_id": "c-tp",
        "occurred_at": rfc3339(now - 60),
        "phone": PHONE,
        "locale": "en",
        "whatsapp_opt_in": True,
    }
    cart = {
        "event_id": "tp-c",
        "type": "cart.updated",
        "customer_id": "c-tp",
        "occurred_at": rfc3339(now + 1),
        "cart_id": "cart-tp",
        "items": [{"product_id": "p-1", "name": "Linen shirt", "quantity": 1, "unit_price": 1280}],
    }
    env = {**ENV, "ENGAGEMENT_MESSAGES_DIR": str(messages), "ENGAGEMENT_CONFIG_POLL": "200ms"}
    with running(tmp_path / "state", env) as run:
        url = f"{run.url}/v1/webhooks/whatsapp"
        paused = template_webhook(
            "message_template_status_update",
            {
                "event": "PAUSED",
                "message_template_id": 594425479261596,
                "message_template_name": "cart_reminder",
                "message_template_language": "en_US",
                "reason": "LOW_QUALITY",
            },
        )
        assert httpx.post(url, content=paused, headers=signed(paused)).status_code == 200
        quality = template_webhook(
            "message_template_quality_update",
            {
                "previous_quality_score": "GREEN",
                "new_quality_score": "RED",
                "message_template_id": 594425479261596,
                "message_template_name": "cart_reminder",
                "message_template_language": "en_US",
            },
        )
        assert httpx.post(url, content=quality, headers=signed(quality)).status_code == 200
        registry = load_registry(messages)
        assert registry is not None
        record = registry.find("cart_reminder", "en_US")
        assert record is not None
        assert (record.status, record.quality_score) == ("PAUSED", "RED")
        assert metric(run.url, 'engagement_template_updates_total{result="applied"}') == 2
        wait_for(lambda: metric(run.url, 'engagement_config_reloads_total{result="applied"}') >= 1, 20, "the reload")
        run.post_lines([json.dumps(profile), json.dumps(cart)])
        wait_for(lambda: any(d["trigger"] == "cart_idle" for d in run.decisions()), 40, "the cart decision")
        (decision,) = [d for d in run.decisions() if d["trigger"] == "cart_idle"]
        assert (decision["outcome"], decision["reason"]) == ("suppress", "template_paused")
        assert run.sent() == []
        counted = 'engagement_decisions_total{outcome="suppress",reason="template_paused",trigger="cart_idle"}'
        assert metric(run.url, counted) == 1


def test_report_of_run_counts_the_send_its_delivery_and_the_order_that_followed(tmp_path: Path) -> None:
    """GET /v1/report while run runs, and `engagement report` of its store after: the same figures."""
    now = time.time()
    profile = {"event_id": "rp-p", "type": "customer.updated", "customer_id": "c-rp", "occurred_at": rfc3339(now - 60),
               "phone": PHONE, "locale": "en", "whatsapp_opt_in": True}  # fmt: skip
    cart = {"event_id": "rp-c", "type": "cart.updated", "customer_id": "c-rp", "occurred_at": rfc3339(now + 1),
            "cart_id": "cart-rp", "items": [{"product_id": "p-1", "quantity": 1, "unit_price": 1280}]}  # fmt: skip
    with running(tmp_path, ENV) as run:
        run.post_lines([json.dumps(profile), json.dumps(cart)])
        wait_for(lambda: any(d["outcome"] == "send" for d in run.decisions()), 40, "the cart reminder")
        (send,) = [d for d in run.decisions() if d["outcome"] == "send"]
        delivered = status("wamid.RP", "delivered")
        delivered["biz_opaque_callback_data"] = send["key"]
        body = webhook({"statuses": [delivered]})
        assert httpx.post(f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body)).status_code == 200
        order = {"event_id": "rp-o", "type": "order.placed", "customer_id": "c-rp", "occurred_at": rfc3339(time.time()),
                 "order_id": "o-rp", "items": [], "total": 1280.0, "currency": "TWD"}  # fmt: skip
        run.post_lines([json.dumps(order)])
        answer = httpx.get(f"{run.url}/v1/report", headers=run.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        live = {row["trigger"]: row for row in answer.json()}
        assert httpx.get(f"{run.url}/v1/report", timeout=30).status_code == 401
    cart_row = live["cart_idle"]
    assert (cart_row["sent"], cart_row["delivered"], cart_row["conversions"], cart_row["revenue"]) == (1, 1, 1, 1280.0)
    stored = subprocess.run(
        [sys.executable, "-m", "engagement", "report", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **run.env, "ENGAGEMENT_TRIGGERS_DIR": str(DEMO_TRIGGERS)},
        timeout=120,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr
    assert {row["trigger"]: row for row in json.loads(stored.stdout)} == live
