"""SHOPLINE Open API webhooks (shoplineapp.com, REACH.md §3.1) mapped to contract events.

- `order/create` -> `order.placed` (`payment_method` cod or atm from the order's payment type) and
  `customer.updated` with the order's phone and name;
- `order/update` -> `order.confirmed` when the order's status is `confirmed`;
- `order_delivery/update` -> for a convenience-store or store pickup: `arrived` ->
  `shipment.arrived_at_store` (deadline: `arrived_at` + `shop.pickup_days`), `collected` ->
  `shipment.picked_up`, `returned`/`returning`/`expired` -> `shipment.returned`; for a home
  delivery `arrived`/`collected` -> `shipment.delivered`;
- `order_payment/complete` -> `payment.received`;
- `user/create`, `user/update` -> `customer.updated` (name, mobile phone with its calling code, locale);
- `user/sign_in` -> `login.succeeded`.

The body is SHOPLINE's envelope (`topic`, `resource`) or the resource itself, with the topic in
`X-Shopline-Topic`. A delivery or payment names its order; the order's customer is remembered from
`order/create` (120 days); one of an order not seen is left, answered 200 with why. Events about
the same state of the same object get the same id (a delivery's `arrived`, an order's
`confirmed`), so SHOPLINE's re-sends are duplicates.

SHOPLINE's Open API signs nothing: the endpoint is authenticated by a shared token
(`ENGAGEMENT_SHOPLINE_TOKEN`) in the webhook's address, `/v1/sources/shopline?token=...`, since a
SHOPLINE webhook is registered with an address alone (or in an `X-Engagement-Token` header).
"""

from __future__ import annotations

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

ORDER_DAYS = 120
PICKUP_TYPES = frozenset({"pickup", "store_pickup"})
RETURNED = frozenset({"returned", "returning", "expired"})
COD = ("cash_on_delivery", "_cod", "_pay")


class Delivery:
    def __init__(self, options: SourceOptions, memory: SourceMemory) -> None:
        self.options, self.memory, self.mapped = options, memory, Mapped()

    def add(self, identity: str, event: dict[str, Any], origin: dict[str, str] | None = None) -> None:
        """`identity`: what the event is about and in which state (the same for a re-send)."""
        event["event_id"] = event_id("shopline", identity, len(self.mapped.events))
        self.mapped.events.append(MappedEvent(event, origin or {}))


Mapper = Callable[[Delivery, dict[str, Any], str], Awaitable[Mapped]]


async def map_delivery(topic: str, payload: object, delivery_id: str, options: SourceOptions,
                       memory: SourceMemory) -> Mapped:  # fmt: skip
    mapper = TOPICS.get(topic)
    if mapper is None:
        return left(f"topic {topic!r} is not one engagement uses ({', '.join(TOPICS)})")
    return await mapper(Delivery(options, memory), obj(payload, "resource"), delivery_id)


def topic_and_resource(body: object, header_topic: str | None) -> tuple[str, object]:
    """SHOPLINE's envelope `{topic, resource}`, or a bare resource with the topic in the header."""
    if isinstance(body, dict) and isinstance(body.get("resource"), dict):
        topic = body.get("topic") or header_topic
        return str(topic or ""), body["resource"]
    return header_topic or "", body


def _title(item: dict[str, Any]) -> str | None:
    titles = item.get("title_translations")
    if isinstance(titles, dict):
        for key in ("zh-hant", "zh-TW", "en", *titles):
            if isinstance(titles.get(key), str) and titles[key]:
                return text(titles[key], "title_translations")
    return text(item.get("title") or item.get("name"), "title")


def _money(value: object, where: str) -> tuple[float | None, str | None]:
    """SHOPLINE's money object (`{cents, dollars, currency_iso}`) or a bare number."""
    if isinstance(value, dict):
        dollars = value.get("dollars")
        if dollars is None and value.get("cents") is not None:
            cents = amount(value["cents"], f"{where}.cents")
            dollars = None if cents is None else cents / 100
        code = value.get("currency_iso")
        return amount(dollars, f"{where}.dollars", required=False), (str(code) if code else None)
    return amount(value, where, required=False), None


async def _order(delivery: Delivery, order: dict[str, Any], _: str) -> Mapped:
    customer_id = ident(order.get("customer_id"), "customer_id", required=False)
    if customer_id is None:
        return left("a guest order (no customer_id): no customer to remember it for")
    order_id = ident(order.get("id"), "id")
    at = moment(order.get("created_at"), "created_at")
    number = phone(order.get("customer_phone"), "customer_phone", delivery.options.calling_code)
    name = text(order.get("customer_name"), "customer_name", 200)
    if number or name:
        update = {"type": "customer.updated", "customer_id": customer_id, "occurred_at": at}
        update.update({k: v for k, v in (("phone", number), ("name", name)) if v})
        delivery.add(f"order:{order_id}:customer", update, {"phone": "customer_phone", "name": "customer_name"})
    items = []
    lines = order.get("subtotal_items") or []
    if not isinstance(lines, list):
        raise Unmappable("subtotal_items", "expected a list of items")
    for i, given in enumerate(lines[:MAX_ITEMS]):
        line = obj(given, f"subtotal_items.{i}")
        item: dict[str, Any] = {
            "product_id": ident(line.get("item_id") or line.get("product_id"), f"subtotal_items.{i}.item_id"),
            "quantity": quantity(line.get("quantity"), f"subtotal_items.{i}.quantity"),
        }
        title = _title(line)
        price, _code = _money(line.get("item_price"), f"subtotal_items.{i}.item_price")
        if title:
            item["name"] = title
        if price is not None:
            item["unit_price"] = price
        items.append(item)
    total, code = _money(order.get("total"), "total")
    if total is None:
        raise Unmappable("total", "required field is missing")
    given = (
        code or order.get("currency_iso") or (delivery.options.currencies[0] if delivery.options.currencies else None)
    )
    if given is None:
        raise Unmappable("total.currency_iso", "required field is missing (or set shop.currencies in _sources.yaml)")
    money = currency(given, "total.currency_iso")
    placed: dict[str, Any] = {"type": "order.placed", "customer_id": customer_id, "occurred_at": at,
                              "order_id": order_id, "items": items, "total": total, "currency": money}  # fmt: skip
    payment = get(order, "order_payment.payment_type")
    if isinstance(payment, str):
        placed["payment_method"] = "cod" if payment.endswith(COD) else "atm" if payment == "bank_transfer" else payment
    delivery.add(f"order:{order_id}", placed, {"items": "subtotal_items"})
    delivery.options.check_currency(money, delivery.mapped.notes)
    await delivery.memory.remember(f"shopline:order:{order_id}", customer_id, customer_id, ORDER_DAYS * 86_400)
    return delivery.mapped


UNKNOWN_ORDER = "order_id: an order engagement has not seen (a guest's, or one from before the shop was connected)"


async def _customer_of(delivery: Delivery, order_id: str, given: object) -> str | None:
    customer_id = ident(given, "customer_id", required=False)
    if customer_id is None:
        customer_id = await delivery.memory.recall(f"shopline:order:{order_id}")
    return customer_id


async def _order_update(delivery: Delivery, order: dict[str, Any], _: str) -> Mapped:
    status = order.get("status")
    if status != "confirmed":
        return left(f"an order update with status {status!r}: only a confirmed order means something to the triggers")
    order_id = ident(order.get("id"), "id") or ""
    customer_id = await _customer_of(delivery, order_id, order.get("customer_id"))
    if customer_id is None:
        return left(UNKNOWN_ORDER)
    at = moment(order.get("updated_at"), "updated_at")
    confirmed = {"type": "order.confirmed", "customer_id": customer_id, "occurred_at": at, "order_id": order_id}
    delivery.add(f"order:{order_id}:confirmed", confirmed)
    return delivery.mapped


async def _delivery(delivery: Delivery, resource: dict[str, Any], _: str) -> Mapped:
    if isinstance(resource.get("order_delivery"), dict):  # the order, with its delivery inside
        order_id = ident(resource.get("id"), "id") or ""
        shipment = resource["order_delivery"]
        prefix = "order_delivery."
        given_customer = resource.get("customer_id")
    else:
        order_id = ident(resource.get("order_id"), "order_id") or ""
        shipment, prefix, given_customer = resource, "", resource.get("customer_id")
    status = shipment.get("status") or shipment.get("delivery_status")
    shipment_id = ident(shipment.get("id"), f"{prefix}id") or ""
    pickup = shipment.get("delivery_type") in PICKUP_TYPES or str(shipment.get("platform", "")).startswith(
        ("tw_711", "tw_fm")
    )
    base: dict[str, Any] = {"order_id": order_id, "shipment_id": shipment_id}
    if status == "arrived" and pickup:
        at = moment(shipment.get("arrived_at") or shipment.get("updated_at"), f"{prefix}arrived_at") or ""
        deadline = datetime.fromisoformat(at) + timedelta(days=delivery.options.pickup_days)
        event = {
            **base,
            "type": "shipment.arrived_at_store",
            "occurred_at": at,
            "pickup_deadline": deadline.isoformat(),
        }
        store = text(shipment.get("store_name") or get(shipment, "delivery_data.location_name"), f"{prefix}store_name")
        if store:
            event["store_name"] = store
    elif status == "collected" and pickup:
        at = moment(shipment.get("collected_at") or shipment.get("updated_at"), f"{prefix}collected_at") or ""
        event = {**base, "type": "shipment.picked_up", "occurred_at": at}
    elif status in ("arrived", "collected"):
        at = moment(shipment.get(f"{status}_at") or shipment.get("updated_at"), f"{prefix}{status}_at") or ""
        event = {**base, "type": "shipment.delivered", "occurred_at": at}
    elif status in RETURNED:
        at = moment(shipment.get("returned_at") or shipment.get("updated_at"), f"{prefix}returned_at") or ""
        event = {**base, "type": "shipment.returned", "occurred_at": at}
    else:
        return left(f"delivery status {status!r} means nothing to the triggers")
    customer_id = await _customer_of(delivery, order_id, given_customer)
    if customer_id is None:
        return left(UNKNOWN_ORDER)
    event["customer_id"] = customer_id
    delivery.add(f"delivery:{shipment_id}:{event['type']}", event, {"shipment_id": f"{prefix}id"})
    return delivery.mapped


async def _payment(delivery: Delivery, resource: dict[str, Any], _: str) -> Mapped:
    inner = resource.get("order_payment")
    payment: dict[str, Any] = inner if isinstance(inner, dict) else resource
    order_id = ident(resource.get("id") if payment is not resource else resource.get("order_id"), "order_id") or ""
    customer_id = await _customer_of(delivery, order_id, resource.get("customer_id"))
    if customer_id is None:
        return left(UNKNOWN_ORDER)
    at = moment(payment.get("paid_at") or payment.get("updated_at"), "paid_at")
    event: dict[str, Any] = {
        "type": "payment.received",
        "customer_id": customer_id,
        "occurred_at": at,
        "order_id": order_id,
    }
    paid, _code = _money(payment.get("total") or payment.get("amount"), "total")
    if paid is not None:
        event["amount"] = paid
    delivery.add(f"payment:{order_id}:complete", event)
    return delivery.mapped


async def _user(delivery: Delivery, user: dict[str, Any], _: str) -> Mapped:
    customer_id = ident(user.get("id"), "id")
    at = moment(user.get("updated_at") or user.get("created_at"), "updated_at")
    code = str(user.get("mobile_phone_country_calling_code") or delivery.options.calling_code)
    update: dict[str, Any] = {"type": "customer.updated", "customer_id": customer_id, "occurred_at": at}
    number = phone(user.get("mobile_phone") or user.get("phone"), "mobile_phone", code)
    if number:
        update["phone"] = number
    name = text(user.get("name"), "name", 200)
    if name:
        update["name"] = name
    locale = user.get("locale_code")
    if isinstance(locale, str) and locale:
        update["locale"] = locale.replace("_", "-")
    if len(update) == 4:
        return left("no phone, name or locale to update")
    delivery.add(f"user:{customer_id}:{at}", update, {"phone": "mobile_phone", "locale": "locale_code"})
    return delivery.mapped


async def _sign_in(delivery: Delivery, user: dict[str, Any], _: str) -> Mapped:
    customer_id = ident(user.get("id"), "id")
    stamp = user.get("current_sign_in_at") or user.get("last_login_at") or user.get("updated_at")
    at = moment(stamp, "current_sign_in_at")
    login: dict[str, Any] = {"type": "login.succeeded", "customer_id": customer_id, "occurred_at": at}
    for field, key in (("ip", "current_sign_in_ip"), ("user_agent", "user_agent")):
        value = text(user.get(key) or user.get(field), key, 300)
        if value:
            login[field] = value
    delivery.add(f"sign_in:{customer_id}:{at}", login, {"ip": "current_sign_in_ip"})
    return delivery.mapped


TOPICS: dict[str, Mapper] = {
    "order/create": _order,
    "order/update": _order_update,
    "order_delivery/update": _delivery,
    "order_payment/complete": _payment,
    "user/create": _user,
    "user/update": _user,
    "user/sign_in": _sign_in,
}
