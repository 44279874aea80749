"""Helpers to write scenarios: events as dicts at minute offsets, run through the real engine."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engagement.config.loader import default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.configured import TriggerSet
from engagement.core.decisions import Decision
from engagement.core.engine import Engine, EngineSettings
from engagement.decode import Rejection, decode_event
from engagement.replay.runner import Replayer
from engagement.timefmt import rfc3339 as _rfc3339

# 10:00 in Taipei, inside marketing hours.
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def at(minutes: float = 0, base: datetime = T0) -> str:
    return (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


class Events:
    """Builds events with unique ids; times are minutes after `base`."""

    def __init__(self, base: datetime = T0) -> None:
        self.base = base
        self.items: list[dict[str, Any]] = []

    def add(self, minutes: float, type_: str, customer: str = "c1", **fields: Any) -> dict[str, Any]:
        event = {
            "event_id": f"e{len(self.items) + 1}",
            "type": type_,
            "customer_id": customer,
            "occurred_at": at(minutes, self.base),
            **fields,
        }
        self.items.append(event)
        return event

    def profile(self, minutes: float = -1, customer: str = "c1", **fields: Any) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "name": "Mei",
            "phone": "+886912345678",
            "locale": "zh-TW",
            "timezone": "Asia/Taipei",
            "whatsapp_opt_in": True,
        }
        defaults.update(fields)
        return self.add(minutes, "customer.updated", customer, **{k: v for k, v in defaults.items() if v is not None})

    def cart(self, minutes: float, customer: str = "c1", items: int = 1, cart_id: str = "k1") -> dict[str, Any]:
        lines = [{"product_id": f"p{i}", "name": f"Item {i}", "quantity": 1, "unit_price": 100.0} for i in range(items)]
        return self.add(minutes, "cart.updated", customer, cart_id=cart_id, items=lines, currency="TWD")

    def order(self, minutes: float, customer: str = "c1") -> dict[str, Any]:
        line = [{"product_id": "p0", "quantity": 1, "unit_price": 100.0}]
        return self.add(minutes, "order.placed", customer, order_id="o1", items=line, total=100.0, currency="TWD")

    def view(self, minutes: float, customer: str = "c1", product: str = "p1") -> dict[str, Any]:
        return self.add(minutes, "page.viewed", customer, product_id=product, product_name=f"Product {product}")

    def lines(self) -> list[bytes]:
        return [json.dumps(e, ensure_ascii=False).encode() for e in self.items]


def engine_for(trigger_set: TriggerSet | None = None, **settings: Any) -> Engine:
    triggers = trigger_set or load_triggers(default_triggers_dir())
    return Engine(triggers, load_messages(default_messages_dir()), EngineSettings(**settings))


def replay(
    events: Events | Iterable[bytes], engine: Engine | None = None, until: float | None = None
) -> list[Decision]:
    engine = engine or engine_for()
    out: list[Decision] = []
    replayer = Replayer(engine, out.append)
    for raw in events.lines() if isinstance(events, Events) else events:
        item = decode_event(raw, engine.event_catalogue)
        assert not isinstance(item, Rejection), item
        replayer.feed(item)
    replayer.finish(until)
    return out


def custom_triggers(tmp: Path, overrides: dict[str, str]) -> TriggerSet:
    """The shipped triggers with some files replaced or added (name -> YAML text)."""
    for source in default_triggers_dir().glob("*.yaml"):
        (tmp / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    for name, text in overrides.items():
        (tmp / name).write_text(text, encoding="utf-8")
    return load_triggers(tmp)


def only(decisions: list[Decision], trigger: str) -> list[Decision]:
    return [d for d in decisions if d.trigger == trigger]


def minutes_after_t0(value: float, base: datetime = T0) -> float:
    return (value - base.timestamp()) / 60


def filled_carts(customers: int, start: float, name: str = "Name") -> list[str]:
    """JSON lines: customers c-0, c-1, ... ten seconds apart from `start` (epoch seconds), each a
    profile (`name` and a number, opted in) and, a second later, a cart holding a scarf."""
    lines = []
    for n in range(customers):
        customer, t = f"c-{n}", start + n * 10
        lines.append(json.dumps({"event_id": f"p{n}", "type": "customer.updated", "customer_id": customer,
                                 "occurred_at": _rfc3339(t), "name": f"{name} {n}", "phone": f"+8869{n:08d}",
                                 "whatsapp_opt_in": True}))  # fmt: skip
        lines.append(json.dumps({"event_id": f"c{n}", "type": "cart.updated", "customer_id": customer,
                                 "occurred_at": _rfc3339(t + 1), "cart_id": f"k{n}",
                                 "items": [{"product_id": "p", "name": "Scarf", "quantity": 1}]}))  # fmt: skip
    return lines
