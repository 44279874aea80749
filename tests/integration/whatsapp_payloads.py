"""Signed WhatsApp webhook bodies for the tests (shapes of Meta's webhook payloads)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

SECRET = "app-secret-for-tests"  # noqa: S105 (a test fixture)
ENV = {"ENGAGEMENT_WHATSAPP_APP_SECRET": SECRET, "ENGAGEMENT_WHATSAPP_VERIFY_TOKEN": "verify-me"}
PHONE = "+886912345678"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def webhook(value: dict[str, object]) -> bytes:
    change = {"field": "messages", "value": {"messaging_product": "whatsapp", **value}}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}).encode()


def status(message_id: str, kind: str, errors: list[dict[str, object]] | None = None) -> dict[str, object]:
    item: dict[str, object] = {
        "id": message_id,
        "status": kind,
        "timestamp": str(int(time.time())),
        "recipient_id": PHONE[1:],
        "biz_opaque_callback_data": "cart_idle-abc",
    }
    if errors:
        item["errors"] = errors
    return item
