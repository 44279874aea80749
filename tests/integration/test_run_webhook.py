"""The WhatsApp webhook of `engagement run`: the handshake, signed and forged callbacks, statuses
recorded once, and a STOP reply that opts the customer out of the cart reminder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from engagement.timefmt import rfc3339
from tests.integration.processes import running, wait_for
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
