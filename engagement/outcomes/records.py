"""What the report reads, and how it reads it from the lines the runtimes keep.

A decision is kept as `Decided`; the events that can follow one are kept as `Order` and
`Reply`; a provider status as `StatusSeen`. For a browse reminder the report also needs the
product the customer viewed: the `page.viewed` event that armed it (its `event_id`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engagement.core.decisions import Decision
from engagement.decode import decode_event
from engagement.events import MessageReplied, OrderPlaced
from engagement.timefmt import parse_rfc3339


class Decided(NamedTuple):
    key: str
    trigger: str
    customer_id: str
    outcome: str
    reason: str | None
    at: float
    config_version: str
    event_id: str
    due_at: float = 0.0
    channel: str = "whatsapp"  # the channel the decision chose first (a send's)


def decided(decision: Decision) -> Decided:
    return Decided(
        decision.key,
        decision.trigger,
        decision.customer_id,
        decision.outcome,
        decision.reason,
        decision.at,
        decision.config_version,
        decision.event_id,
        decision.due_at,
        decision.message.channel if decision.message is not None else "whatsapp",
    )


def decided_from_line(line: str | bytes) -> Decided | None:
    """A decision line (CONTRACT.md §3) as the report keeps it; None for an erased customer's."""
    record = json.loads(line)
    if record.get("erased"):
        return None
    return Decided(
        str(record["key"]),
        str(record["trigger"]),
        str(record["customer_id"]),
        str(record["outcome"]),
        record.get("reason"),
        parse_rfc3339(record["at"]),
        str(record.get("config_version", "")),
        str(record.get("event_id", "")),
        parse_rfc3339(record["due_at"]) if isinstance(record.get("due_at"), str) else 0.0,
        _channel_of(record.get("message")),
    )


def _channel_of(message: object) -> str:
    channel = message.get("channel") if isinstance(message, dict) else None
    return channel if isinstance(channel, str) else "whatsapp"


@dataclass(frozen=True, slots=True)
class Order:
    customer_id: str
    at: float
    total: float
    products: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Reply:
    customer_id: str
    at: float
    text: str | None = None
    button: str | None = None


class StatusSeen(NamedTuple):
    key: str  # the send's idempotency key
    status: str  # accepted, sent, delivered, read, failed
    code: str | None = None  # the first error code of a failure


@dataclass
class Followed:
    """What followed the decisions: orders, replies, and the products of the page views that armed
    browse reminders (`event_id` -> `product_id`)."""

    orders: list[Order] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    viewed: dict[str, str] = field(default_factory=dict)


def followed_in(lines: Iterable[str | bytes], viewed_ids: frozenset[str] = frozenset()) -> Followed:
    """Orders, replies and the wanted page views among event lines; other lines are not decoded."""
    found = Followed()
    for line in lines:
        raw = line.encode() if isinstance(line, str) else line
        if b"order.placed" in raw:
            event = decode_event(raw)
            if isinstance(event, OrderPlaced):
                products = frozenset(item.product_id for item in event.items)
                found.orders.append(Order(event.customer_id, event.occurred_at.timestamp(), event.total, products))
        elif b"message.replied" in raw:
            event = decode_event(raw)
            if isinstance(event, MessageReplied):
                found.replies.append(
                    Reply(event.customer_id, event.occurred_at.timestamp(), event.text, event.button_payload)
                )
        elif viewed_ids and b"page.viewed" in raw:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            event_id, product = record.get("event_id"), record.get("product_id")
            if event_id in viewed_ids and isinstance(product, str):
                found.viewed[event_id] = product
    return found


def status_seen(record: dict[str, Any]) -> StatusSeen | None:
    """A line of the statuses topic: {"key", "status", "errors": [codes]}; None without a key."""
    key = record.get("key")
    if not isinstance(key, str):
        return None
    errors = record.get("errors") or []
    return StatusSeen(key, str(record.get("status", "")), str(errors[0]) if errors else None)
