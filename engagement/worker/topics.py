"""Kafka topic names (CONTRACT.md §6) and which topic each event type belongs to."""

from __future__ import annotations

ORDERS = "engagement.orders"
BROWSING = "engagement.browsing"
CART = "engagement.cart"
LOGINS = "engagement.logins"
CUSTOMERS = "engagement.customers"
DECISIONS = "engagement.decisions"
DEAD_LETTER = "engagement.dead-letter"
SECURITY = "engagement.security"
TICKS = "engagement.ticks"  # internal: "your timers are due", co-partitioned with the inputs

INPUT_TOPICS = (ORDERS, BROWSING, CART, LOGINS, CUSTOMERS)


def topic_for(event_type: str) -> str:
    family = event_type.split(".", 1)[0]
    return {
        "order": ORDERS,
        "shipment": ORDERS,
        "page": BROWSING,
        "cart": CART,
        "login": LOGINS,
        "customer": CUSTOMERS,
        "message": CUSTOMERS,
    }[family]


OUTPUTS_AND_INPUTS = (*INPUT_TOPICS, DECISIONS, DEAD_LETTER, SECURITY, TICKS)
