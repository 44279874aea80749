"""Bounded input (CONTRACT.md §1): absurd values, control characters, future times, deep or huge bodies."""

from __future__ import annotations

import json
import time

import pytest

from engagement.decode import Rejection, decode_event
from engagement.live.ingest import MAX_ITEMS, parse_body
from engagement.timefmt import rfc3339

ENVELOPE = '"event_id":"e1","customer_id":"c1","occurred_at":"2026-11-20T10:00:00Z"'
ORDER = '"type":"order.placed","order_id":"o","items":[],"currency":"TWD"'


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("{" + ENVELOPE + "," + ORDER + ',"total":Infinity}', "total", "finite"),
        ("{" + ENVELOPE + "," + ORDER + ',"total":NaN}', "total", "finite"),
        ("{" + ENVELOPE + "," + ORDER + ',"total":1e400}', "total", "finite"),
        ("{" + ENVELOPE + "," + ORDER + ',"total":-5}', "total", "greater than or equal to 0"),
        ("{" + ENVELOPE + "," + ORDER + ',"total":1e15}', "total", "less than or equal"),
        (
            "{"
            + ENVELOPE
            + ',"type":"cart.updated","cart_id":"k","items":[{"product_id":"p","quantity":'
            + "1"
            + "0" * 40
            + "}]}",
            "items.0.quantity",
            "less than or equal to 100000",
        ),
        (
            '{"event_id":"e1","customer_id":"c\\u0000","occurred_at":"2026-11-20T10:00:00Z","type":"page.left"}',
            "customer_id",
            "control characters",
        ),
        (
            "{" + ENVELOPE + ',"type":"customer.updated","name":"Alice\\nURGENT: verify at http://x.example"}',
            "name",
            "control characters",
        ),
        (
            "{" + ENVELOPE + ',"type":"page.viewed","product_id":"p","product_name":"a\\tb"}',
            "product_name",
            "control characters",
        ),
        (
            '{"event_id":"e1","customer_id":"c","occurred_at":"9999-12-31T00:00:00Z","type":"page.left"}',
            "occurred_at",
            "between 1970 and 2100",
        ),
        ("{" + ENVELOPE + ',"type":"customer.updated","phone":"0912345678"}', "phone", "pattern"),
        ("{" + ENVELOPE + ',"type":"login.succeeded","latitude":Infinity}', "latitude", "finite"),
    ],
)
def test_absurd_values_are_rejected_naming_the_field(body: str, field: str, reason: str) -> None:
    item = decode_event(body)
    assert isinstance(item, Rejection), item
    assert item.field == field
    assert reason in item.reason


def test_a_customer_reply_may_have_line_breaks() -> None:
    item = decode_event("{" + ENVELOPE + ',"type":"message.replied","text":"yes\\nplease"}')
    assert not isinstance(item, Rejection)


def page_left(at: float, n: int = 0) -> str:
    return json.dumps({"event_id": f"e{n}", "customer_id": "c", "type": "page.left", "occurred_at": rfc3339(at)})


def test_live_ingest_rejects_events_from_the_future() -> None:
    now = time.time()
    body = f"[{page_left(now - 60, 1)}, {page_left(now + 200, 2)}, {page_left(now + 400, 3)}]".encode()
    batch = parse_body("application/json", body, now, 300.0)
    assert [i for i, _ in batch.events] == [0, 1]
    assert [(i, r.field) for i, r in batch.rejected] == [(2, "occurred_at")]
    assert "in the future" in batch.rejected[0][1].reason


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/json", b"[" * 100_000 + b"]" * 100_000, "malformed JSON"),
        ("application/json", b'[{"a":' * 20_000 + b"1" + b"}]" * 20_000, "malformed JSON"),
        ("application/json", b"", "empty"),
        ("application/x-ndjson", b"\n\n", "empty"),
        ("application/json", b"[" + b"{}," * MAX_ITEMS + b"{}]", "at most"),
        ("application/json", b"{" * 100_000, "exceeds"),
        ("application/json", b'{"a":' * 5_000, "malformed JSON"),
        ("application/json", b"\xff\xfe[1]", "malformed JSON"),
    ],
)
def test_malformed_deep_or_huge_bodies_are_rejections_not_errors(content_type: str, body: bytes, reason: str) -> None:
    batch = parse_body(content_type, body, time.time(), 300.0)
    assert batch.events == []
    assert batch.rejected[0][1].field == "body"
    assert reason in batch.rejected[0][1].reason
