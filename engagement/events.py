"""The public event contract (CONTRACT.md §1): pydantic models discriminated on `type`."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
)

MAX_EVENT_BYTES = 64 * 1024

Id = Annotated[str, Field(min_length=1, max_length=128)]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Money = Annotated[float, Field(ge=0)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]


class _Event(BaseModel):
    """Envelope shared by every event."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    event_id: Id
    customer_id: Id
    occurred_at: AwareDatetime


class CustomerUpdated(_Event):
    type: Literal["customer.updated"]
    name: Annotated[str, Field(max_length=200)] | None = None
    phone: Phone | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    whatsapp_opt_in: bool | None = None
    marketing_opt_out: bool | None = None
    tier: Annotated[str, Field(max_length=64)] | None = None


class PageViewed(_Event):
    type: Literal["page.viewed"]
    product_id: Id
    product_name: Annotated[str, Field(max_length=500)] | None = None
    url: Annotated[str, Field(max_length=2048)] | None = None
    session_id: Id | None = None


class PageLeft(_Event):
    type: Literal["page.left"]
    product_id: Id | None = None
    session_id: Id | None = None


class LineItem(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    product_id: Id
    name: Annotated[str, Field(max_length=500)] | None = None
    quantity: Annotated[int, Field(ge=1)]
    unit_price: Money | None = None


class CartUpdated(_Event):
    type: Literal["cart.updated"]
    cart_id: Id
    items: Annotated[list[LineItem], Field(max_length=500)]
    currency: Currency | None = None


class OrderPlaced(_Event):
    type: Literal["order.placed"]
    order_id: Id
    cart_id: Id | None = None
    items: Annotated[list[LineItem], Field(max_length=500)]
    total: Money
    currency: Currency
    shipping_fee: Money | None = None


class ShipmentDispatched(_Event):
    type: Literal["shipment.dispatched"]
    order_id: Id
    shipment_id: Id
    carrier: Annotated[str, Field(max_length=200)] | None = None
    tracking_number: Annotated[str, Field(max_length=200)] | None = None
    tracking_url: Annotated[str, Field(max_length=2048)] | None = None
    promised_delivery_at: AwareDatetime


class ShipmentStatusChanged(_Event):
    type: Literal["shipment.status_changed"]
    order_id: Id
    shipment_id: Id
    status: Literal["in_transit", "delayed", "exception", "out_for_delivery"]
    new_eta: AwareDatetime | None = None


class ShipmentDelivered(_Event):
    type: Literal["shipment.delivered"]
    order_id: Id
    shipment_id: Id


class _Login(_Event):
    ip: Annotated[str, Field(max_length=64)] | None = None
    device_id: Id | None = None
    user_agent: Annotated[str, Field(max_length=1000)] | None = None
    country: Country | None = None
    city: Annotated[str, Field(max_length=200)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None


class LoginSucceeded(_Login):
    type: Literal["login.succeeded"]


class LoginFailed(_Login):
    type: Literal["login.failed"]


class MessageReplied(_Event):
    type: Literal["message.replied"]
    text: Annotated[str, Field(max_length=4096)] | None = None
    button_payload: Annotated[str, Field(max_length=1024)] | None = None


class MessageFailed(_Event):
    """A send the provider refused in a way the engine must remember (the senders emit it): the
    customer stopped marketing (`opted_out`), WhatsApp holds back marketing to them for now
    (`marketing_paused`), or the number cannot receive WhatsApp messages (`unreachable`)."""

    type: Literal["message.failed"]
    key: Annotated[str, Field(max_length=256)]
    reason: Literal["opted_out", "marketing_paused", "unreachable"]
    code: Annotated[str, Field(max_length=64)] | None = None


Event = Annotated[
    CustomerUpdated
    | PageViewed
    | PageLeft
    | CartUpdated
    | OrderPlaced
    | ShipmentDispatched
    | ShipmentStatusChanged
    | ShipmentDelivered
    | LoginSucceeded
    | LoginFailed
    | MessageReplied
    | MessageFailed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[str, ...] = (
    "customer.updated",
    "page.viewed",
    "page.left",
    "cart.updated",
    "order.placed",
    "shipment.dispatched",
    "shipment.status_changed",
    "shipment.delivered",
    "login.succeeded",
    "login.failed",
    "message.replied",
    "message.failed",
)


def events_json_schema() -> dict[str, object]:
    """JSON Schema of one event, for backend teams."""
    schema = EVENT_ADAPTER.json_schema()
    schema["title"] = "engagement event"
    schema["description"] = (
        "One event as emitted by a shop backend. Timestamps are RFC 3339 with an offset; "
        f"a serialized event is at most {MAX_EVENT_BYTES} bytes."
    )
    return schema
