"""Segment (and RudderStack) e-commerce spec v2 events (REACH.md §2) mapped to contract events.

- `Product Viewed` -> `page.viewed`; the view ends with the customer's next event (a `page.left`
  then) or after 30 min without one;
- `Product Added`, `Product Removed`, `Cart Viewed` -> `cart.updated` with the whole cart, kept per
  `cart_id` (`Cart Viewed`'s products replace it);
- `Order Completed` -> `order.placed` (`total`, else `revenue`, else the products' sum);
- `identify` -> `customer.updated`: traits `name` (or `first_name` `last_name`), `context.locale`,
  `context.timezone`; with `identify_sets_contact`, traits `phone`, `whatsapp_opt_in`, `sms_opt_in`,
  `line_opt_in`, `line_user_id` too.

`customer_id` is `userId`, else `anon-` and the `anonymousId` (a browser chooses that one); identify
sets the phone, opt-ins and LINE id only with `segment.identify_sets_contact: true` in
`_sources.yaml` (server-side sources: a browser's write key is public); `timestamp` (else
`originalTimestamp`) is the event time; `messageId` names the events, so a retried event is a
duplicate, and a cart change already applied is not applied twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from engagement.config.source_options import SourceOptions
from engagement.sources.mapping import (
    MAX_ITEMS,
    Mapped,
    MappedEvent,
    SourceMemory,
    Unmappable,
    amount,
    canonical,
    currency,
    event_id,
    ident,
    left,
    moment,
    obj,
    phone,
    quantity,
    seconds_of,
    text,
)

VISIT_SECONDS = 30 * 60  # a product view without a next event ends after this long
CART_DAYS = 30  # how long a cart is kept without a change
APPLIED_KEPT = 64  # message ids of the latest changes applied to a customer's carts
MAX_CARTS = 8  # carts kept per customer (the oldest goes)
MAX_BATCH = 4000  # Segment's largest batch
ANONYMOUS = "anon-"  # the prefix of a customer known only by Segment's anonymousId
CONTACT_TRAITS = ("phone", "whatsapp_opt_in", "sms_opt_in", "line_opt_in", "line_user_id")
CART_EVENTS = frozenset({"Product Added", "Product Removed", "Cart Viewed"})
READ = "identify, Product Viewed, Product Added, Product Removed, Cart Viewed, Order Completed"


@dataclass(frozen=True, slots=True)
class SegmentEvent:
    """One Segment event's envelope, checked."""

    kind: str  # track, identify, page, screen, ...
    name: str  # the track event's name ("" for other calls)
    customer_id: str
    at: str
    message_id: str
    body: dict[str, Any]


def envelope(item: object, options: SourceOptions) -> SegmentEvent:
    body = options.renamed("segment", obj(item, "body"))
    customer_id = ident(body.get("userId"), "userId", required=False)
    anonymous = ident(body.get("anonymousId"), "anonymousId", required=False)
    if customer_id is None and anonymous is not None:
        customer_id = f"{ANONYMOUS}{anonymous}"[:128]  # never one of the shop's own customer ids
    if customer_id is None:
        raise Unmappable("userId", "required field is missing (nor is there an anonymousId)")
    at = moment(body.get("timestamp") or body.get("originalTimestamp"), "timestamp")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise Unmappable("type", "required field is missing (track, identify, page, ...)")
    name = ""
    if kind == "track":
        raw = body.get("event")
        if not isinstance(raw, str) or not raw:
            raise Unmappable("event", "a track call names its event")
        name = options.renamed_event("segment", raw)
    message = body.get("messageId")
    message_id = message if isinstance(message, str) and message else "sha-" + canonical(body)
    return SegmentEvent(kind, name, customer_id, at or "", message_id, body)


async def map_event(event: SegmentEvent, options: SourceOptions, memory: SourceMemory) -> Mapped:
    mapped = Mapped()
    index = 0

    def add(fields: dict[str, Any], origin: dict[str, str]) -> None:
        nonlocal index
        fields = {"event_id": event_id("segment", event.message_id, index), "customer_id": event.customer_id,
                  "occurred_at": event.at, **fields}  # fmt: skip
        index += 1
        mapped.events.append(MappedEvent(fields, origin))

    await _end_visit(event, memory, add)
    props = event.body.get("properties") or {}
    if not isinstance(props, dict):
        raise Unmappable("properties", "expected a JSON object")
    if event.kind == "identify":
        _identify(event, add, options.identify_sets_contact, mapped)
    elif event.name == "Product Viewed":
        product = ident(props.get("product_id") or props.get("sku"), "properties.product_id")
        viewed: dict[str, Any] = {"type": "page.viewed", "product_id": product}
        for key, where, limit in (("product_name", "name", 500), ("url", "url", 2048)):
            value = text(props.get(where), f"properties.{where}", limit)
            if value:
                viewed[key] = value
        add(viewed, {"product_id": "properties.product_id", "product_name": "properties.name", "url": "properties.url"})
        view = {"product_id": product, "at": seconds_of(event.at)}
        await memory.remember(f"segment:view:{event.customer_id}", event.customer_id, json.dumps(view), VISIT_SECONDS)
    elif event.name in CART_EVENTS:
        await _cart(event, props, memory, add)
    elif event.name == "Order Completed":
        _order(event, props, options, add, mapped)
        await memory.drop(f"segment:carts:{event.customer_id}")
    elif not mapped.events:
        what = f"track {event.name!r}" if event.kind == "track" else f"a {event.kind} call"
        return left(f"{what} is not an event the mapping reads ({READ})")
    return mapped


async def _end_visit(event: SegmentEvent, memory: SourceMemory, add: Any) -> None:
    """The customer's next event ends the product view before it (within 30 minutes)."""
    key = f"segment:view:{event.customer_id}"
    raw = await memory.recall(key)
    if raw is None:
        return
    view = json.loads(raw)
    t = seconds_of(event.at)
    if t < view["at"]:
        return  # an event from before the view, arriving late: the view goes on
    if t - view["at"] <= VISIT_SECONDS and event.name != "Product Viewed":
        add({"type": "page.left", "product_id": view["product_id"]}, {})
    if event.name != "Product Viewed":
        await memory.drop(key)


def _identify(event: SegmentEvent, add: Any, contact: bool, mapped: Mapped) -> None:
    """`contact`: whether identify may set where and whether the customer is messaged. A browser
    sends identify calls with the source's public write key, so anyone could name any userId with
    their own number: only a shop whose Segment sources are server-side turns it on."""
    traits = event.body.get("traits") or {}
    context = event.body.get("context") or {}
    if not isinstance(traits, dict) or not isinstance(context, dict):
        raise Unmappable("traits", "expected a JSON object")
    update: dict[str, Any] = {"type": "customer.updated"}
    origin: dict[str, str] = {}
    given = [key for key in CONTACT_TRAITS if traits.get(key) is not None]
    if given and not contact:
        mapped.notes.append(
            f"traits {', '.join(given)}: left out; set segment.identify_sets_contact in _sources.yaml when your "
            "Segment sources are server-side"
        )
        traits = {k: v for k, v in traits.items() if k not in CONTACT_TRAITS}
    number = phone(traits.get("phone"), "traits.phone")
    if number:
        update["phone"], origin["phone"] = number, "traits.phone"
    name = text(traits.get("name"), "traits.name", 200) or " ".join(
        p
        for p in (
            text(traits.get("first_name"), "traits.first_name"),
            text(traits.get("last_name"), "traits.last_name"),
        )
        if p
    )
    if name:
        update["name"] = name[:200]
    for key in ("whatsapp_opt_in", "sms_opt_in", "line_opt_in", "marketing_opt_out", "line_user_id"):
        if traits.get(key) is not None:
            update[key], origin[key] = traits[key], f"traits.{key}"
    for key in ("locale", "timezone"):
        if context.get(key):
            update[key], origin[key] = context[key], f"context.{key}"
    if len(update) > 1:
        add(update, origin)


def _line(product: object, where: str) -> dict[str, Any]:
    product = obj(product, where)
    line: dict[str, Any] = {
        "product_id": ident(product.get("product_id") or product.get("sku"), f"{where}.product_id"),
        "quantity": quantity(product.get("quantity"), f"{where}.quantity"),
    }
    name = text(product.get("name"), f"{where}.name")
    price = amount(product.get("price"), f"{where}.price", required=False)
    if name:
        line["name"] = name
    if price is not None:
        line["unit_price"] = price
    return line


async def _cart(event: SegmentEvent, props: dict[str, Any], memory: SourceMemory, add: Any) -> None:
    cart_id = ident(props.get("cart_id"), "properties.cart_id", required=False) or "segment"
    key = f"segment:carts:{event.customer_id}"
    raw = await memory.recall(key)
    kept: dict[str, Any] = json.loads(raw) if raw else {"carts": {}, "applied": []}
    carts: dict[str, list[dict[str, Any]]] = kept["carts"]
    items = list(carts.get(cart_id, []))
    applied = hashlib.sha256(event.message_id.encode()).hexdigest()[:16]
    if applied not in kept["applied"]:
        if event.name == "Cart Viewed":
            products = props.get("products") or []
            if not isinstance(products, list):
                raise Unmappable("properties.products", "expected a list of products")
            items = [_line(p, f"properties.products.{i}") for i, p in enumerate(products[:MAX_ITEMS])]
        else:
            line = _line(props, "properties")
            same = next((i for i, old in enumerate(items) if old["product_id"] == line["product_id"]), None)
            if event.name == "Product Added":
                if same is None:
                    items = [*items, line][:MAX_ITEMS]
                else:
                    items[same] = {
                        **items[same],
                        **line,
                        "quantity": min(items[same]["quantity"] + line["quantity"], 100_000),
                    }
            elif same is not None:
                left_over = items[same]["quantity"] - line["quantity"] if props.get("quantity") is not None else 0
                items = [
                    *items[:same],
                    *([{**items[same], "quantity": left_over}] if left_over > 0 else []),
                    *items[same + 1 :],
                ]
        carts.pop(cart_id, None)
        carts[cart_id] = items  # the latest cart last; the oldest go beyond MAX_CARTS
        kept["carts"] = dict(list(carts.items())[-MAX_CARTS:])
        kept["applied"] = [*kept["applied"], applied][-APPLIED_KEPT:]
        await memory.remember(key, event.customer_id, json.dumps(kept), CART_DAYS * 86_400)
    update: dict[str, Any] = {"type": "cart.updated", "cart_id": cart_id, "items": items}
    if props.get("currency"):
        update["currency"] = currency(props["currency"], "properties.currency")
    add(update, {"cart_id": "properties.cart_id", "items": "properties.products"})


def _order(event: SegmentEvent, props: dict[str, Any], options: SourceOptions, add: Any, mapped: Mapped) -> None:
    products = props.get("products") or []
    if not isinstance(products, list):
        raise Unmappable("properties.products", "expected a list of products")
    items = [_line(p, f"properties.products.{i}") for i, p in enumerate(products[:MAX_ITEMS])]
    total = None
    for key in ("total", "revenue", "value"):
        total = amount(props.get(key), f"properties.{key}", required=False)
        if total is not None:
            break
    if total is None:
        total = round(sum(i.get("unit_price", 0.0) * i["quantity"] for i in items), 4)
    given = props.get("currency") or (options.currencies[0] if options.currencies else None)
    if given is None:
        raise Unmappable("properties.currency", "required field is missing (or set shop.currencies in _sources.yaml)")
    code = currency(given, "properties.currency")
    placed: dict[str, Any] = {
        "type": "order.placed",
        "order_id": ident(props.get("order_id"), "properties.order_id"),
        "items": items,
        "total": total,
        "currency": code,
    }
    add(placed, {"order_id": "properties.order_id", "items": "properties.products", "total": "properties.total"})
    options.check_currency(code, mapped.notes)
