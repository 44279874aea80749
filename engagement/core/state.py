"""Per-customer state kept by the engine: compact slotted records, created only when first needed.

Times are float seconds since the Unix epoch (event time). Sub-records stay `None`
until a customer does something that needs them, which keeps an idle customer small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import ConfigDict

from engagement.core.flat import FlatTimes
from engagement.events import Event


@dataclass(slots=True)
class Profile:
    """`number`: the E.164 phone number without its `+`, as an integer (half the size of the text).

    The fields that decide who may be messaged and where (number, consent, opt-out) keep the event
    time that set them (`*_at`): an older update arriving late, or delivered again, never takes back
    a newer number, a newer opt-out or a newer withdrawal of consent (last writer wins by event time)."""

    name: str | None = None
    number: int | None = None
    locale: str | None = None
    timezone: str | None = None
    opt_in: bool = False
    opt_out: bool = False
    tier: str | None = None
    number_at: float = 0.0
    opt_in_at: float = 0.0
    opt_out_at: float = 0.0
    line_user_id: str | None = None
    line_opt_in: bool = False
    sms_opt_in: bool = False
    sms_opt_out: bool = False  # the customer replied STOP to an SMS (Twilio 21610)
    line_blocked: bool = False  # the customer blocked the LINE account (unfollow)
    channels: tuple[str, ...] = ()  # the customer's preferred order; () = the trigger's
    line_at: float = 0.0  # when the LINE id, consent or block last changed
    sms_at: float = 0.0  # when the SMS consent or opt-out last changed

    @property
    def phone(self) -> str | None:
        return None if self.number is None else f"+{self.number}"


@dataclass(slots=True)
class Timer:
    """A pending decision of one trigger. `due` may move (quiet hours); `first_due` is when it first fell due.
    Its idempotency key derives from (trigger, customer, subject) when it fires: not stored, it is
    the largest string a timer would hold. `version` is one string shared by every timer armed
    under that configuration."""

    trigger_id: str
    due: float
    deadline: float
    event_id: str
    subject: str
    first_due: float
    version: str = ""  # the configuration it was armed under ("" for the current one)


@dataclass(slots=True)
class Visit:
    """A run of browsing events with gaps shorter than the trigger's visit gap."""

    started_at: float
    last_at: float
    event_id: str
    product_id: str | None = None
    product_name: str | None = None
    product_since: float = 0.0
    longest_id: str | None = None
    longest_name: str | None = None
    longest_seconds: float = 0.0
    cancelled: bool = False


@dataclass(slots=True)
class Cart:
    """The customer's current cart and its episode (`episode`: the id of the change that opened it).
    `fired`: the triggers that decided this episode; `closed_at`: when the last of them did."""

    cart_id: str
    episode: str
    changed_at: float
    item_count: int
    total: float
    currency: str | None
    item_names: tuple[str, ...]
    fired: tuple[str, ...] = ()
    closed_at: float = 0.0
    url: str | None = None


@dataclass(slots=True)
class Shipment:
    order_id: str
    event_id: str
    promised_at: float
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    new_eta: float | None = None


@dataclass(slots=True)
class Episode:
    """An open episode of a sequence trigger: the start event's id and its fields (the values its
    reminders' messages and times use)."""

    event_id: str
    started_at: float
    fields: dict[str, str | float | bool]


@dataclass(slots=True)
class LastOrder:
    order_id: str
    at: float
    total: float
    currency: str
    shipping_fee: float | None
    url: str | None = None


@dataclass(slots=True)
class Logins:
    """What the anomaly rules need: where and on what a customer logged in before.
    `places` holds the devices and then the countries, each as flat (name, last seen, ...) pairs,
    split by one `None`: a customer has one or two of each, and one tuple is a fraction of the
    two dicts it replaces (see `devices()` and `countries()`)."""

    successes: int = 0
    last_at: float | None = None
    last_lat: float | None = None
    last_lon: float | None = None
    places: tuple[str | float | None, ...] = ()
    failures: tuple[float, ...] = ()

    def devices(self) -> FlatTimes:
        places = self.places
        return places[: places.index(None)] if places else ()  # type: ignore[return-value]

    def countries(self) -> FlatTimes:
        places = self.places
        return places[places.index(None) + 1 :] if places else ()  # type: ignore[return-value]

    def remember(self, devices: FlatTimes, countries: FlatTimes) -> None:
        self.places = (*devices, None, *countries)


@dataclass(slots=True)
class Ledger:
    """Sends and replies, for cooldowns, frequency caps and pacing."""

    last_sent: FlatTimes = ()  # trigger id -> when it last sent
    marketing: tuple[float, ...] = ()
    business: tuple[float, ...] = ()
    last_reply_at: float | None = None
    last_send_at: float | None = None
    unreachable_until: float | None = None  # the provider could not reach the number on WhatsApp
    sms_unreachable_until: float | None = None  # the number cannot take SMS (Twilio 21614)
    marketing_paused_until: float | None = None  # WhatsApp holds back marketing to this customer


@dataclass(slots=True)
class SentNote:
    """A recent send, for the answers to a reply to it: what the customer read, and the values it
    was filled with (its cart, order or shipment)."""

    key: str
    trigger: str
    at: float
    locale: str
    text: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Conversation:
    """Replies and what answered them: the recent sends a reply may answer, the times of the
    automatic answers and forwarded replies of the last hour, and an open hand-off."""

    sent: tuple[SentNote, ...] = ()
    answered: tuple[float, ...] = ()
    forwarded: tuple[float, ...] = ()
    handoff_at: float | None = None  # automatic answers pause until resolved or a day passes


@dataclass(slots=True)
class CustomerState:
    """Stored by `engagement.state_codec` as typed, versioned JSON (never pickled)."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    customer_id: str
    recent_ids: bytes = b""
    profile: Profile | None = None
    pending: list[tuple[float, str, Event]] | None = None
    timers: list[Timer] | None = None
    visits: dict[str, Visit] | None = None
    cart: Cart | None = None
    shipments: dict[str, Shipment] | None = None
    done_shipments: tuple[str, ...] = ()
    last_order: LastOrder | None = None
    logins: Logins | None = None
    ledger: Ledger | None = None
    conversation: Conversation | None = None
    episodes: dict[str, Episode] | None = None  # "trigger\x1fkey" -> the sequence episode open for it
    done_episodes: tuple[str, ...] = ()  # the latest closed ones, with their start events (`kinds.sequence`)
    cursor: float = 0.0

    def next_timer(self) -> float | None:
        """When the earliest pending timer falls due."""
        timers = self.timers
        if not timers:
            return None
        if len(timers) == 1:
            return timers[0].due
        return min(t.due for t in timers)

    def wake_at(self) -> float | None:
        """The earliest event time at which this customer needs the engine again."""
        due = self.next_timer()
        if self.pending:
            first = self.pending[0][0]
            return first if due is None or first < due else due
        return due
