"""A sample customer's events per trigger kind: what `messages preview` and `messages lint` fill
messages from when no customer is given. Times sit at 11:00 in Taipei, inside marketing hours."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from engagement.config.event_catalogue import EventCatalogue
from engagement.config.loader import default_triggers_dir, load_triggers
from engagement.core.engine import EngineSettings
from engagement.core.specs import SequenceTrigger

SAMPLE_CUSTOMER = "c-sample"
SAMPLE_LINK_DOMAIN = "example.com"  # the sample customers' links (a domain kept for examples, RFC 2606)


def for_samples(settings: EngineSettings) -> EngineSettings:
    """Engine settings for checking messages on sample customers: their links count as the shop's
    own (a recorded customer's links still need ENGAGEMENT_LINK_DOMAINS, as live)."""
    if SAMPLE_LINK_DOMAIN in settings.link_domains:
        return settings
    return replace(settings, link_domains=(*settings.link_domains, SAMPLE_LINK_DOMAIN))


_START = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (_START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _event(n: int, minutes: float, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"sample-{n:02d}",
        "type": kind,
        "customer_id": SAMPLE_CUSTOMER,
        "occurred_at": _at(minutes),
        **fields,
    }


def profile(minutes: float = -60 * 24 * 30) -> dict[str, Any]:
    return _event(
        0,
        minutes,
        "customer.updated",
        name="王小明",
        phone="+886912345678",
        locale="zh-TW",
        timezone="Asia/Taipei",
        whatsapp_opt_in=True,
        line_user_id="U4af4980629" + "0" * 22,
        line_opt_in=True,
        sms_opt_in=True,
    )


def _items() -> list[dict[str, Any]]:
    return [
        {"product_id": "p-101", "name": "白色帆布鞋", "quantity": 1, "unit_price": 1280},
        {"product_id": "p-205", "name": "棉質T恤", "quantity": 2, "unit_price": 390},
    ]


def sample_events(kind: str, spec: object = None, catalogue: EventCatalogue | None = None) -> list[dict[str, Any]]:
    """A customer for whom a trigger of `kind` sends (with the shipped default windows or longer);
    for a sequence trigger (`spec`), its shipped example's customer, else one whose start event
    has a value of each field the event catalogue gives it."""
    if isinstance(spec, SequenceTrigger):
        example = spec.id if spec.id in _SEQUENCES else _example_like(spec)
        return [profile(), *(_SEQUENCES[example]() if example is not None else _start_of(spec, catalogue))]
    if kind == "cart_idle":
        cart = {
            "cart_id": "cart-1",
            "items": _items(),
            "currency": "TWD",
            "cart_url": "https://shop.example.com/cart/1",
        }
        return [profile(), _event(1, 0, "cart.updated", **cart)]
    if kind == "browse_abandonment":
        view = {"product_id": "p-330", "product_name": "經典皮革短靴", "session_id": "s-1"}
        return [
            profile(),
            _event(1, 0, "page.viewed", **view),
            _event(2, 3, "page.viewed", **view),
            _event(3, 6, "page.left", product_id="p-330", session_id="s-1"),
        ]
    if kind == "logistics_delay":
        order = {"order_id": "o-20260115-0042", "items": _items(), "total": 2060, "currency": "TWD", "shipping_fee": 80,
                 "order_url": "https://shop.example.com/orders/o-20260115-0042"}  # fmt: skip
        shipment = {"order_id": "o-20260115-0042", "shipment_id": "sh-1"}
        return [
            profile(),
            _event(1, -60 * 24 * 3, "order.placed", **order),
            _event(
                2,
                -60 * 24 * 3 + 60,
                "shipment.dispatched",
                **shipment,
                carrier="黑貓宅急便",
                tracking_number="TW123456789",
                tracking_url="https://track.example.com/TW123456789",
                promised_delivery_at=_at(-60 * 24),
            ),
            _event(3, 0, "shipment.status_changed", **shipment, status="delayed", new_eta=_at(60 * 24 * 2)),
        ]
    if kind == "anomalous_login":
        home = {"device_id": "d-phone", "country": "TW", "city": "Taipei", "latitude": 25.03, "longitude": 121.56}
        away = {"device_id": "d-new", "country": "JP", "city": "Osaka", "latitude": 34.69, "longitude": 135.5}
        return [profile(), _event(1, -60 * 24 * 2, "login.succeeded", **home), _event(2, 0, "login.succeeded", **away)]
    raise ValueError(f"no sample for trigger kind {kind!r}")


def _order(n: int, minutes: float, **payment: Any) -> dict[str, Any]:
    order = {"order_id": "o-20260115-0042", "items": _items(), "total": 2060, "currency": "TWD", **payment}
    return _event(n, minutes, "order.placed", **order)


_SEQUENCES: dict[str, Any] = {
    "cod_confirmation": lambda: [_order(1, 0, payment_method="cod")],
    "atm_payment_reminder": lambda: [_order(1, 0, payment_method="atm", payment_deadline=_at(60 * 24))],
    "store_pickup_reminder": lambda: [
        _event(
            1,
            0,
            "shipment.arrived_at_store",
            order_id="o-20260115-0042",
            shipment_id="sh-1",
            store_name="7-ELEVEN 台北車站門市",
            pickup_deadline=_at(60 * 24 * 7),
        ),
    ],
    "review_request": lambda: [
        _order(1, -60 * 24 * 3),
        _event(2, 0, "shipment.delivered", order_id="o-20260115-0042", shipment_id="sh-1"),
    ],
}
_SAMPLE_VALUES = {"string": "sample", "number": 1000, "bool": True}


@lru_cache(maxsize=1)
def _shipped_sequences() -> tuple[SequenceTrigger, ...]:
    shipped = load_triggers(default_triggers_dir())
    return tuple(s for s in shipped.triggers if isinstance(s, SequenceTrigger))


def _example_like(spec: SequenceTrigger) -> str | None:
    """The shipped example a trigger was made from (the same start event and condition)."""
    for example in _shipped_sequences():
        if (example.start, example.where) == (spec.start, spec.where) and example.id in _SEQUENCES:
            return example.id
    return None


def _start_of(spec: SequenceTrigger, catalogue: EventCatalogue | None) -> list[dict[str, Any]]:
    """A start event of the trigger's type with a value for each declared field (times 3 days on)."""
    found = catalogue.declared.get(spec.start) if catalogue is not None else None
    fields = (
        {f.name: _at(60 * 24 * 3) if f.type == "time" else _SAMPLE_VALUES[f.type] for f in found.fields}
        if found
        else {}
    )
    return [_event(1, 0, spec.start, **fields)]
