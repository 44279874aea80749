"""The hand-off as the people side receives it (CONTRACT.md §5, outbound webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote

from engagement.providers.base import OutboundMessage
from engagement.timefmt import rfc3339


def handoff_body(message: OutboundMessage, console_url: str) -> dict[str, Any]:
    """`id` is stable per inbound message: a receiver drops a repeat by it."""
    record = message.handoff or {}
    received = record.get("received_at")
    page = f"{console_url.rstrip('/')}/#/customers/{quote(message.customer_id, safe='')}" if console_url else None
    return {
        "id": record.get("id", message.key),
        "customer_id": message.customer_id,
        "phone": message.to,
        "locale": message.locale,
        "channel": record.get("channel", "whatsapp"),
        "trigger": record.get("trigger"),
        "decision_key": record.get("decision_key"),
        "message": record.get("message"),
        "reply": record.get("reply", {"text": message.body, "button": None}),
        "reason": record.get("reason"),
        "received_at": rfc3339(float(received)) if isinstance(received, int | float) else None,
        "context": record.get("context", {}),
        "console_url": page,
    }


def signed(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """`X-Engagement-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Engagement-Timestamp": str(timestamp),
        "X-Engagement-Signature": f"sha256={digest}",
    }


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
