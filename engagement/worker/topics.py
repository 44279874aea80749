"""Kafka topic names (CONTRACT.md §6), optionally behind a prefix, and which topic each event type belongs to.

`ENGAGEMENT_TOPIC_PREFIX` lets several environments (or test runs) share one cluster: with the
prefix `staging.` the orders topic is `staging.engagement.orders`. The default is no prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

_FAMILY_TOPIC = {
    "order": "orders",
    "shipment": "orders",
    "page": "browsing",
    "cart": "cart",
    "login": "logins",
    "customer": "customers",
    "message": "customers",
    "conversation": "customers",
}


@dataclass(frozen=True, slots=True)
class TopicNames:
    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}engagement.{base}"

    @property
    def orders(self) -> str:
        return self._name("orders")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The five input topics, keyed by `customer_id`."""
        return tuple(self._name(base) for base in ("orders", "browsing", "cart", "logins", "customers"))

    @property
    def decisions(self) -> str:
        return self._name("decisions")

    @property
    def dead_letter(self) -> str:
        return self._name("dead-letter")

    @property
    def statuses(self) -> str:
        """The provider's statuses of sends, as the webhook took them (for `engagement report`)."""
        return self._name("statuses")

    @property
    def security(self) -> str:
        return self._name("security")

    @property
    def ticks(self) -> str:
        """Internal: "this customer's timers are due", co-partitioned with the inputs."""
        return self._name("ticks")

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.inputs, self.decisions, self.dead_letter, self.security, self.statuses, self.ticks)

    def for_event(self, event_type: str) -> str:
        """The input topic of an event type; a type the catalogue declares in a family of its own
        (`payment.received`, `review.submitted`) goes with the orders."""
        return self._name(_FAMILY_TOPIC.get(event_type.split(".", 1)[0], "orders"))


def forget_message(customer_id: str) -> bytes:
    """The ticks topic's erasure request for one customer (keyed by the customer id, like a tick)."""
    return json.dumps({"customer_id": customer_id, "forget": True}, ensure_ascii=False).encode()
