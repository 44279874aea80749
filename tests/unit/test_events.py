"""The event contract: every event type decodes, every kind of bad input is rejected naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from engagement.decode import Rejection, decode_event, decode_item
from engagement.events import EVENT_TYPES, MAX_EVENT_BYTES, CartUpdated

BASE = {"event_id": "e1", "customer_id": "c1", "occurred_at": "2026-11-20T10:00:00+08:00"}

VALID: dict[str, dict[str, Any]] = {
    "customer.updated": {"name": "Mei", "phone": "+886912345678", "locale": "zh-TW", "timezone": "Asia/Taipei"},
    "page.viewed": {"product_id": "p1"},
    "page.left": {},
    "cart.updated": {"cart_id": "k", "items": [{"product_id": "p", "quantity": 2, "unit_price": 9.5}]},
    "order.placed": {"order_id": "o", "items": [], "total": 10, "currency": "TWD"},
    "shipment.dispatched": {"order_id": "o", "shipment_id": "s", "promised_delivery_at": "2026-11-21T10:00:00Z"},
    "shipment.status_changed": {"order_id": "o", "shipment_id": "s", "status": "delayed"},
    "shipment.delivered": {"order_id": "o", "shipment_id": "s"},
    "login.succeeded": {"device_id": "d", "country": "TW", "latitude": 25.0, "longitude": 121.5},
    "login.failed": {},
    "message.replied": {"text": "STOP"},
    "message.failed": {"key": "cart_idle-7e96", "reason": "opted_out", "code": "131050"},
    "conversation.resolved": {},
}


def test_every_contract_type_has_a_valid_example() -> None:
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_", sorted(VALID))
def test_valid_event_decodes(type_: str) -> None:
    event = decode_event(json.dumps({**BASE, "type": type_, **VALID[type_]}).encode())
    assert not isinstance(event, Rejection), event
    assert event.type == type_
    assert event.occurred_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


BAD = [
    ("malformed JSON", b'{"event_id": "e1", ', "body", "malformed JSON"),
    ("not an object", b"[1, 2]", "body", "JSON object"),
    ("no type", json.dumps(BASE).encode(), "type", "missing"),
    ("unknown type", json.dumps({**BASE, "type": "wish.added"}).encode(), "type", "unknown event type"),
    ("missing field", json.dumps({**BASE, "type": "page.viewed"}).encode(), "product_id", "missing"),
    ("missing envelope", json.dumps({"type": "page.left", "event_id": "e"}).encode(), "customer_id", "missing"),
    (
        "naive timestamp",
        json.dumps({**BASE, "occurred_at": "2026-11-20T10:00:00", "type": "page.left"}).encode(),
        "occurred_at",
        "naive",
    ),
    (
        "epoch number as time",
        json.dumps({**BASE, "occurred_at": 1763604000, "type": "page.left"}).encode(),
        "occurred_at",
        "datetime",
    ),
    (
        "mistyped nested field",
        json.dumps(
            {**BASE, "type": "cart.updated", "cart_id": "k", "items": [{"product_id": "p", "quantity": "2"}]}
        ).encode(),
        "items.0.quantity",
        "integer",
    ),
    (
        "zero quantity",
        json.dumps(
            {**BASE, "type": "cart.updated", "cart_id": "k", "items": [{"product_id": "p", "quantity": 0}]}
        ).encode(),
        "items.0.quantity",
        "greater than or equal",
    ),
    ("bad phone", json.dumps({**BASE, "type": "customer.updated", "phone": "0912345678"}).encode(), "phone", "pattern"),
    (
        "bad zone",
        json.dumps({**BASE, "type": "customer.updated", "timezone": "Mars/Base"}).encode(),
        "timezone",
        "zone",
    ),
    (
        "bad status",
        json.dumps(
            {**BASE, **VALID["shipment.delivered"], "type": "shipment.status_changed", "status": "lost"}
        ).encode(),
        "status",
        "Input should be",
    ),
    ("empty id", json.dumps({**BASE, "event_id": "", "type": "page.left"}).encode(), "event_id", "at least 1"),
    (
        "bool as string",
        json.dumps({**BASE, "type": "customer.updated", "whatsapp_opt_in": "yes"}).encode(),
        "whatsapp_opt_in",
        "boolean",
    ),
    (
        "latitude out of range",
        json.dumps({**BASE, "type": "login.succeeded", "latitude": 91}).encode(),
        "latitude",
        "less than",
    ),
]


@pytest.mark.parametrize(("label", "raw", "field", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_naming_the_field(label: str, raw: bytes, field: str, says: str) -> None:
    result = decode_event(raw)
    assert isinstance(result, Rejection), label
    assert result.field == field
    assert says.lower() in result.reason.lower()


def test_oversized_payload_is_rejected_before_parsing() -> None:
    raw = json.dumps({**BASE, "type": "page.viewed", "product_id": "p", "url": "x" * MAX_EVENT_BYTES}).encode()
    result = decode_event(raw)
    assert isinstance(result, Rejection)
    assert result.field == "body"
    assert "exceeds" in result.reason


def test_unknown_extra_fields_are_ignored_for_forward_compatibility() -> None:
    event = decode_event(json.dumps({**BASE, "type": "page.left", "experiment": "b"}).encode())
    assert not isinstance(event, Rejection)


def test_items_posted_as_parsed_json_use_the_same_rules() -> None:
    ok = decode_item({**BASE, "type": "cart.updated", "cart_id": "k", "items": []})
    assert isinstance(ok, CartUpdated)
    bad = decode_item({**BASE, "type": "cart.updated", "cart_id": "k"})
    assert isinstance(bad, Rejection)
    assert bad.field == "items"
