"""The public event contract (CONTRACT.md §1): pydantic models discriminated on `type`."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
)

MAX_EVENT_BYTES = 64 * 1024
MAX_AMOUNT = 1e12  # an order total, price or fee above this is a bug upstream, not a sale
MAX_QUANTITY = 100_000

CONTROL_CHARS = r"\x00-\x1f\x7f"  # C0 and DEL, as a regex character range
REPLY_CONTROL_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # the same but tab, line feed, carriage return
NO_CONTROLS = f"^[^{CONTROL_CHARS}]*$"
"""Text fields carry no control characters (C0 and DEL): no NUL, no line breaks, no escapes."""
REPLY_TEXT = f"^[^{REPLY_CONTROL_CHARS}]*$"
"""A customer's own reply may have line breaks and tabs, and no other control character."""


def Text(max_length: int, min_length: int = 0) -> Any:
    """A string of at most `max_length` characters without control characters."""
    return Field(min_length=min_length, max_length=max_length, pattern=NO_CONTROLS)


Id = Annotated[str, Text(128, min_length=1)]
CUSTOMER_ID_PATTERN = (
    f"^(?:[^.{CONTROL_CHARS}][^{CONTROL_CHARS}]*|\\.[^.{CONTROL_CHARS}][^{CONTROL_CHARS}]*|\\.\\.[^{CONTROL_CHARS}]+)$"
)
CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=CUSTOMER_ID_PATTERN)]
"""An id without control characters, and not `.` or `..` (a customer id names paths: the console's
and the erasure's URLs)."""
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
Channel = Literal["whatsapp", "line", "sms"]
CHANNELS: tuple[Channel, ...] = ("whatsapp", "line", "sms")
LineUserId = Annotated[str, Field(pattern=r"^U[0-9a-f]{32}$")]
"""A LINE user id as the Messaging API gives it: `U` and 32 hexadecimal digits."""
Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Money = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


MOMENT_RANGE = "out of range: a time must be between 1970 and 2100"

# Checked by pydantic-core itself: a Python validator here cost a third of decoding an event.
Moment = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]


class _Event(BaseModel):
    """Envelope shared by every event. Fields beyond a type's are dropped when it is decoded, but
    for those the event catalogue adds to it (`engagement.decode`), which are kept as extras."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    event_id: Id
    customer_id: CustomerId
    occurred_at: Moment


class CustomerUpdated(_Event):
    type: Literal["customer.updated"]
    name: Annotated[str, Text(200)] | None = None
    phone: Phone | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    whatsapp_opt_in: bool | None = None
    marketing_opt_out: bool | None = None
    tier: Annotated[str, Text(64)] | None = None
    line_user_id: LineUserId | None = None
    line_opt_in: bool | None = None
    sms_opt_in: bool | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=3)] | None = None

    @field_validator("channels")
    @classmethod
    def _each_channel_once(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each channel at most once")
        return value


class PageViewed(_Event):
    type: Literal["page.viewed"]
    product_id: Id
    product_name: Annotated[str, Text(500)] | None = None
    url: Annotated[str, Text(2048)] | None = None
    session_id: Id | None = None


class PageLeft(_Event):
    type: Literal["page.left"]
    product_id: Id | None = None
    session_id: Id | None = None


class LineItem(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    product_id: Id
    name: Annotated[str, Text(500)] | None = None
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    unit_price: Money | None = None


class CartUpdated(_Event):
    type: Literal["cart.updated"]
    cart_id: Id
    items: Annotated[list[LineItem], Field(max_length=500)]
    currency: Currency | None = None
    cart_url: Annotated[str, Text(2048)] | None = None  # where the customer finds this cart (answers use it)


class OrderPlaced(_Event):
    type: Literal["order.placed"]
    order_id: Id
    cart_id: Id | None = None
    items: Annotated[list[LineItem], Field(max_length=500)]
    total: Money
    currency: Currency
    shipping_fee: Money | None = None
    order_url: Annotated[str, Text(2048)] | None = None  # the order's page (answers use it)


class ShipmentDispatched(_Event):
    type: Literal["shipment.dispatched"]
    order_id: Id
    shipment_id: Id
    carrier: Annotated[str, Text(200)] | None = None
    tracking_number: Annotated[str, Text(200)] | None = None
    tracking_url: Annotated[str, Text(2048)] | None = None
    promised_delivery_at: Moment


class ShipmentStatusChanged(_Event):
    type: Literal["shipment.status_changed"]
    order_id: Id
    shipment_id: Id
    status: Literal["in_transit", "delayed", "exception", "out_for_delivery"]
    new_eta: Moment | None = None


class ShipmentDelivered(_Event):
    type: Literal["shipment.delivered"]
    order_id: Id
    shipment_id: Id


class _Login(_Event):
    ip: Annotated[str, Text(64)] | None = None
    device_id: Id | None = None
    user_agent: Annotated[str, Text(1000)] | None = None
    country: Country | None = None
    city: Annotated[str, Text(200)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None


class LoginSucceeded(_Login):
    type: Literal["login.succeeded"]


class LoginFailed(_Login):
    type: Literal["login.failed"]


class MessageReplied(_Event):
    type: Literal["message.replied"]
    text: Annotated[str, Field(max_length=4096, pattern=REPLY_TEXT)] | None = None
    button_payload: Annotated[str, Text(1024)] | None = None
    in_reply_to: Annotated[str, Text(256)] | None = None  # the key of our send it answers (the webhook finds it)
    channel: Channel = "whatsapp"


class ConversationResolved(_Event):
    """The people side is done with a hand-off (`POST /v1/conversations/{customer_id}/resolve`):
    automatic answers resume."""

    type: Literal["conversation.resolved"]


class MessageFailed(_Event):
    """A send the provider refused in a way the engine must remember (the senders emit it): the
    customer stopped marketing (`opted_out`), WhatsApp holds back marketing to them for now
    (`marketing_paused`), or the number cannot receive WhatsApp messages (`unreachable`). `channel`
    says where: on SMS `opted_out` is the SMS opt-out (Twilio 21610); on LINE `unreachable` is a
    customer who blocked the account and `reachable` one who followed it again."""

    type: Literal["message.failed"]
    key: Annotated[str, Text(256)]
    reason: Literal["opted_out", "marketing_paused", "unreachable", "reachable"]
    code: Annotated[str, Text(64)] | None = None
    channel: Channel = "whatsapp"


ContractEvent = Annotated[
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
    | MessageFailed
    | ConversationResolved,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[ContractEvent] = TypeAdapter(ContractEvent)

DECLARED_TYPE = r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,3}$"


class DeclaredEvent(_Event):
    """An event of a type the event catalogue (`triggers/_events.yaml`) declares; its declared
    fields are extras, checked against the catalogue when it is decoded."""

    type: Annotated[str, Field(pattern=DECLARED_TYPE)]


Event = Annotated[ContractEvent | DeclaredEvent, Field(union_mode="left_to_right")]
"""Any event: a contract one, else one of a type the event catalogue declares."""

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
    "conversation.resolved",
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
