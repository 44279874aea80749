"""Shopify webhooks (REACH.md §1) mapped to contract events.

- `orders/create` -> `order.placed` (and `customer.updated` with the order's phone and name);
- `checkouts/create`, `checkouts/update` -> `customer.updated` (phone, name, SMS consent) and
  `cart.updated` (the checkout token as `cart_id`, `abandoned_checkout_url` as `cart_url`); a
  completed checkout maps to nothing;
- `fulfillments/create`, `fulfillments/update`, `fulfillment_events/create` -> by shipment status:
  `shipment.dispatched` (`estimated_delivery_at` as the promise), `shipment.status_changed`
  (`new_eta`), `shipment.delivered`, `shipment.arrived_at_store` (ready for pickup),
  `shipment.picked_up`;
- `customers/create`, `customers/update` -> `customer.updated` (phone, name, SMS and WhatsApp
  marketing consent).

`customer_id` is Shopify's `customer.id`. A fulfillment carries no customer: the order's customer is
remembered from `orders/create` (120 days); a fulfillment of an order not seen (a guest's, or one
from before the shop was connected) is left, like a guest checkout or order, answered 200 with why.
A phone that is no number is left out with a note; the rest of the delivery is taken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from engagement.config.source_options import SourceOptions
from engagement.sources.mapping import (
    MAX_ITEMS,
    Mapped,
    MappedEvent,
    SourceMemory,
    Unmappable,
    amount,
    currency,
    event_id,
    get,
    ident,
    left,
    moment,
    obj,
    phone,
    quantity,
    text,
)

ORDER_DAYS = 120  # how long an order's customer is remembered for its fulfillments
CONSENT = {"subscribed": True, "not_subscribed": False, "unsubscribed": False, "redacted": False, "pending": False}
STATUS = {
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delayed": "delayed",
    "failure": "exception",
    "attempted_delivery": "exception",
}
DISPATCHED = frozenset({None, "confirmed", "label_printed", "label_purchased", "carrier_picked_up"})


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed(secrets: list[str], body: bytes, header: str | None) -> bool:
    """Whether `header` is the body's HMAC with one of the secrets (the current and, while it is
    being rotated, the previous one)."""
    if not header or not header.isascii():
        return False
    presented = header.strip().encode()
    return any(hmac.compare_digest(signature(s, body).encode(), presented) for s in secrets if s)


class Delivery:
    """One webhook delivery being mapped: its topic and id (the body's digest: the signed part),
    and where its events go."""

    def __init__(self, topic: str, delivery_id: str, options: SourceOptions, memory: SourceMemory) -> None:
        self.topic, self.delivery_id, self.options, self.memory = topic, delivery_id, options, memory
        self.mapped = Mapped()

    def add(self, event: dict[str, Any], origin: dict[str, str]) -> None:
        event["event_id"] = event_id("shopify", self.delivery_id, len(self.mapped.events))
        self.mapped.events.append(MappedEvent(event, origin))


Mapper = Callable[[Delivery, dict[str, Any]], Awaitable[Mapped]]


async def map_delivery(
    topic: str, payload: object, delivery_id: str, options: SourceOptions, memory: SourceMemory
) -> Mapped:
    """Never raises but `Unmappable`, naming the payload's field."""
    mapper = TOPICS.get(topic)
    if mapper is None:
        return left(f"topic {topic!r} is not one engagement uses ({', '.join(TOPICS)})")
    return await mapper(Delivery(topic, delivery_id, options, memory), obj(payload, "body"))


def _profile(delivery: Delivery, customer: dict[str, Any], at: str, extra_phone: object = None) -> None:
    """A `customer.updated` from a customer object (and a phone the order or checkout carries)."""
    customer_id = ident(customer.get("id"), "customer.id")
    update: dict[str, Any] = {"type": "customer.updated", "customer_id": customer_id, "occurred_at": at}
    origin: dict[str, str] = {}
    number = _phone(delivery, customer.get("phone"), "customer.phone") or _phone(delivery, extra_phone, "phone")
    if number:
        update["phone"], origin["phone"] = number, "customer.phone"
    name = " ".join(p for p in (text(customer.get("first_name"), "customer.first_name"),
                                 text(customer.get("last_name"), "customer.last_name")) if p)  # fmt: skip
    if name:
        update["name"] = name[:200]
    for key, consent in (("sms_opt_in", "sms_marketing_consent"), ("whatsapp_opt_in", "whatsapp_marketing_consent")):
        state = get(customer, f"{consent}.state")
        if isinstance(state, str) and state in CONSENT:
            update[key], origin[key] = CONSENT[state], f"customer.{consent}.state"
    if len(update) > 3:
        delivery.add(update, origin)


def _phone(delivery: Delivery, value: object, where: str) -> str | None:
    """A phone number the shop stored (a national one read with `shop.calling_code`); one that is
    no number is left out, with a note, and the rest of the delivery taken."""
    try:
        return phone(value, where, delivery.options.calling_code)
    except Unmappable as exc:
        delivery.mapped.notes.append(f"{exc.field}: {exc.reason}; left out")
        return None


def _items(lines: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(lines, list):
        raise Unmappable(where, "expected a list of line items")
    items = []
    for i, given in enumerate(lines[:MAX_ITEMS]):
        line = obj(given, f"{where}.{i}")
        product = line.get("product_id") or line.get("variant_id") or line.get("sku") or line.get("id")
        item: dict[str, Any] = {
            "product_id": ident(product, f"{where}.{i}.product_id"),
            "quantity": quantity(line.get("quantity"), f"{where}.{i}.quantity"),
        }
        name = text(line.get("title") or line.get("name"), f"{where}.{i}.title")
        price = amount(line.get("price"), f"{where}.{i}.price", required=False)
        if name:
            item["name"] = name
        if price is not None:
            item["unit_price"] = price
        items.append(item)
    return items


async def _order(delivery: Delivery, order: dict[str, Any]) -> Mapped:
    if "order_number" not in order and "financial_status" not in order:
        raise Unmappable("order_number", "not an order (the topic says orders/create; the body is something else)")
    customer = order.get("customer")
    if not isinstance(customer, dict) or customer.get("id") in (None, ""):
        return left("a guest order (no customer.id): no customer to remember it for")
    customer_id = ident(customer["id"], "customer.id") or ""
    at = moment(order.get("created_at") or order.get("processed_at"), "created_at")
    order_id = ident(order.get("id"), "id")
    money = currency(order.get("currency"), "currency")
    _profile(delivery, customer, at or "", order.get("phone"))
    placed: dict[str, Any] = {
        "type": "order.placed",
        "customer_id": customer_id,
        "occurred_at": at,
        "order_id": order_id,
        "items": _items(order.get("line_items", []), "line_items"),
        "total": amount(order.get("total_price"), "total_price"),
        "currency": money,
    }
    token = ident(order.get("checkout_token"), "checkout_token", required=False)
    if token:
        placed["cart_id"] = token
    url = text(order.get("order_status_url"), "order_status_url", 2048)
    if url:
        placed["order_url"] = url
    delivery.add(placed, {"items": "line_items", "total": "total_price", "order_url": "order_status_url"})
    delivery.options.check_currency(money, delivery.mapped.notes)
    await delivery.memory.remember(f"shopify:order:{order_id}", customer_id, customer_id, ORDER_DAYS * 86_400)
    return delivery.mapped


async def _checkout(delivery: Delivery, checkout: dict[str, Any]) -> Mapped:
    if "order_number" in checkout or not checkout.get("token"):
        raise Unmappable("token", "not a checkout (the topic says checkouts/...; the body has no checkout token)")
    if checkout.get("completed_at"):
        return left("the checkout is completed: its order arrives as orders/create")
    customer = checkout.get("customer")
    if not isinstance(customer, dict) or customer.get("id") in (None, ""):
        return left("a guest checkout (no customer.id): no customer to keep a cart for")
    lines = checkout.get("line_items")
    if not lines:
        return left("a checkout without line items")
    customer_id = ident(customer["id"], "customer.id")
    at = moment(checkout.get("updated_at") or checkout.get("created_at"), "updated_at")
    given = checkout.get("phone") or checkout.get("sms_marketing_phone") or get(checkout, "shipping_address.phone")
    _profile(delivery, customer, at or "", given)
    if checkout.get("buyer_accepts_sms_marketing") is True and delivery.mapped.events:
        delivery.mapped.events[0].event.setdefault("sms_opt_in", True)
    if not any("phone" in event.event for event in delivery.mapped.events):
        delivery.mapped.notes.append(
            "phone: the checkout has none; the reminder reaches the customer only through a phone or LINE id on file"
        )
    cart: dict[str, Any] = {
        "type": "cart.updated",
        "customer_id": customer_id,
        "occurred_at": at,
        "cart_id": ident(checkout.get("token") or checkout.get("cart_token"), "token"),
        "items": _items(lines, "line_items"),
    }
    if checkout.get("currency"):
        cart["currency"] = currency(checkout["currency"], "currency")
    url = text(checkout.get("abandoned_checkout_url"), "abandoned_checkout_url", 2048)
    if url:
        cart["cart_url"] = url
    delivery.add(cart, {"items": "line_items", "cart_id": "token", "cart_url": "abandoned_checkout_url"})
    return delivery.mapped


async def _customer(delivery: Delivery, customer: dict[str, Any]) -> Mapped:
    at = moment(customer.get("updated_at") or customer.get("created_at"), "updated_at")
    _profile(delivery, customer, at or "")
    for event in delivery.mapped.events:  # the customer object is the body here, not `customer`
        event.origin = {k: v.removeprefix("customer.") for k, v in event.origin.items()}
    return delivery.mapped if delivery.mapped.events else left("no phone, name or consent to update")


async def _fulfillment(delivery: Delivery, fulfillment: dict[str, Any]) -> Mapped:
    at = moment(fulfillment.get("updated_at") or fulfillment.get("created_at"), "updated_at")
    shipment_id = ident(fulfillment.get("id"), "id")
    return await _shipment(delivery, fulfillment, at or "", shipment_id or "", fulfillment.get("shipment_status"))


async def _fulfillment_event(delivery: Delivery, event: dict[str, Any]) -> Mapped:
    at = moment(event.get("happened_at") or event.get("created_at"), "happened_at")
    shipment_id = ident(event.get("fulfillment_id"), "fulfillment_id")
    return await _shipment(delivery, event, at or "", shipment_id or "", event.get("status"))


async def _shipment(delivery: Delivery, body: dict[str, Any], at: str, shipment_id: str, status: object) -> Mapped:
    if body.get("status") in ("cancelled", "error", "failure") and "shipment_status" in body:
        return left(f"the fulfillment is {body['status']}")
    order_id = ident(body.get("order_id"), "order_id")
    customer_id = await delivery.memory.recall(f"shopify:order:{order_id}")
    if customer_id is None:
        return left(
            "order_id: an order engagement has not seen (a guest order, or one from before the shop was "
            "connected): no customer to tell"
        )
    status = status.lower() if isinstance(status, str) else None
    eta = moment(body.get("estimated_delivery_at"), "estimated_delivery_at", required=False)
    base = {"customer_id": customer_id, "occurred_at": at, "order_id": order_id, "shipment_id": shipment_id}
    origin = {"shipment_id": "id", "promised_delivery_at": "estimated_delivery_at", "new_eta": "estimated_delivery_at"}
    if status in DISPATCHED:
        if eta is None:
            return left("estimated_delivery_at: none given, and a shipment without a promised date cannot be late")
        event = {**base, "type": "shipment.dispatched", "promised_delivery_at": eta}
        for field, key in (("carrier", "tracking_company"), ("tracking_number", "tracking_number"),
                           ("tracking_url", "tracking_url")):  # fmt: skip
            value = text(body.get(key), key, 2048 if field == "tracking_url" else 200)
            if value:
                event[field] = value
                origin[field] = key
        delivery.add(event, origin)
    elif status == "delivered":
        delivery.add({**base, "type": "shipment.delivered"}, origin)
    elif status in STATUS:
        event = {**base, "type": "shipment.status_changed", "status": STATUS[status]}
        if eta is not None:
            event["new_eta"] = eta
        delivery.add(event, origin)
    elif status == "ready_for_pickup":
        deadline = datetime.fromisoformat(at) + timedelta(days=delivery.options.pickup_days)
        delivery.add({**base, "type": "shipment.arrived_at_store", "pickup_deadline": deadline.isoformat()}, origin)
    elif status == "picked_up":
        delivery.add({**base, "type": "shipment.picked_up"}, origin)
    else:
        return left(f"shipment status {status!r} means nothing to the triggers")
    return delivery.mapped


TOPICS: dict[str, Mapper] = {
    "orders/create": _order,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "fulfillments/create": _fulfillment,
    "fulfillments/update": _fulfillment,
    "fulfillment_events/create": _fulfillment_event,
    "customers/create": _customer,
    "customers/update": _customer,
}
