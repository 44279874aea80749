"""Marketer-editable trigger specifications: one frozen model per trigger kind, discriminated on `kind`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engagement.core.durations import CronExpr, Duration
from engagement.core.formula import Formula
from engagement.core.personalize import FORMULA_VALUES

Category = Literal["marketing", "utility", "security"]
ChannelName = Literal["whatsapp", "line", "sms"]
FALLBACK_SECONDS = 600.0
SECURITY_FALLBACK_SECONDS = 120.0
InFlight = Literal["keep", "migrate", "cancel"]
TriggerId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessFrequencyCap(_Strict):
    """Counts only `send` decisions of business-initiated (marketing and utility) messages."""

    business_since_reply: Annotated[int, Field(ge=0)] | None = Field(
        default=3, description="business-initiated messages allowed since the customer's last reply; null = no cap"
    )


class MarketingFrequencyCap(BusinessFrequencyCap):
    marketing_per_24h: Annotated[int, Field(ge=0)] | None = Field(
        default=3, description="marketing messages allowed in any rolling 24 h; null = no cap"
    )


class QuietHours(_Strict):
    allowed: CronExpr = Field(
        default="* 9-20 * * *",
        description="minutes in which sending is allowed, as cron in the customer's time zone",
    )


class _Policies(_Strict):
    consent_required: Literal[True] = Field(
        default=True, description="WhatsApp opt-in and a phone number are always required"
    )
    cooldown: Duration | None = Field(
        default=None, description="at most one send of this trigger per customer in this period"
    )
    pacing: Duration = Field(
        default=timedelta(seconds=6), description="minimum gap between two messages to one phone number"
    )


class MarketingPolicies(_Policies):
    holdout_percent: Annotated[float, Field(ge=0, le=100)] = Field(
        default=0.0, description="share of customers (deterministic per customer and trigger) never messaged"
    )
    opt_out_keywords: tuple[str, ...] = Field(
        default=("STOP", "退訂", "取消訂閱"),
        description="more replies that opt the customer out of marketing (STOP, 退訂 and 取消訂閱 always do)",
    )
    frequency_cap: MarketingFrequencyCap = Field(default=MarketingFrequencyCap(), description="how many messages")
    quiet_hours: QuietHours | None = Field(
        default=QuietHours(), description="when marketing may be sent, in the customer's time zone (null: always)"
    )


class UtilityPolicies(_Policies):
    frequency_cap: BusinessFrequencyCap = Field(default=BusinessFrequencyCap(), description="how many messages")
    quiet_hours: QuietHours | None = Field(
        default=None, description="when the message may be sent, in the customer's time zone (null: always)"
    )


class SecurityPolicies(_Policies):
    """Security messages are never capped and do not count towards caps."""

    quiet_hours: QuietHours | None = Field(
        default=None, description="when the message may be sent, in the customer's time zone (null: always)"
    )


POLICIES = "the rules every send of this trigger follows: consent, caps, cooldown, quiet hours, pacing"


class _Trigger(_Strict):
    id: TriggerId = Field(description="the trigger's name: lowercase letters, digits and _ (decisions carry it)")
    enabled: bool = Field(default=True, description="whether the trigger decides anything; off, it arms no timer")
    description: str = Field(default="", description="what the trigger is for, in words (shown in the console)")
    send_within: Duration = Field(description="length of the send window after the trigger fires")
    attribution: Duration = Field(
        default=timedelta(hours=24),
        description="an order this long after a decision is its conversion (engagement report)",
    )
    in_flight: InFlight = Field(
        default="keep",
        description=(
            "what a new configuration does to this trigger's timers armed under an earlier one: keep "
            "(decided with the configuration they were armed under), migrate (decided with the new one) "
            "or cancel (reason config_changed)"
        ),
    )

    channels: Annotated[tuple[ChannelName, ...], Field(min_length=1, max_length=3)] = Field(
        default=("whatsapp",),
        description=(
            "where the message may go, in order of preference (whatsapp, line, sms); a customer's own "
            "order comes first, and a channel refused or silent moves the send to the next"
        ),
    )
    fallback_after: Duration | None = Field(
        default=None,
        description="how long to wait for a delivery report before the next channel (default 10m; security 2m)",
    )

    @model_validator(mode="after")
    def _window_positive(self) -> _Trigger:
        if self.send_within <= timedelta(0):
            raise ValueError("send_within must be longer than 0s")
        if self.attribution <= timedelta(0):
            raise ValueError("attribution must be longer than 0s")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels: each channel at most once")
        if self.fallback_after is not None and self.fallback_after <= timedelta(0):
            raise ValueError("fallback_after must be longer than 0s")
        return self

    def fallback_seconds(self, category: str) -> float:
        """How long a send waits for a delivery report before it moves to the next channel."""
        if self.fallback_after is not None:
            return self.fallback_after.total_seconds()
        return SECURITY_FALLBACK_SECONDS if category == "security" else FALLBACK_SECONDS


CartActivity = Literal["cart.updated", "page.viewed"]
BrowseActivity = Literal["page.viewed", "page.left"]
BrowseCancel = Literal["order.placed", "cart.updated"]


class CartIdleTrigger(_Trigger):
    kind: Literal["cart_idle"]
    category: Literal["marketing"] = "marketing"
    idle: Duration = Field(description="fires this long after the last activity on a non-empty cart")
    activity: tuple[CartActivity, ...] = Field(
        default=("cart.updated", "page.viewed"), description="the events that restart the idle clock"
    )
    policies: MarketingPolicies = Field(default=MarketingPolicies(cooldown=timedelta(hours=24)), description=POLICIES)

    @model_validator(mode="after")
    def _idle_positive(self) -> CartIdleTrigger:
        if self.idle <= timedelta(0):
            raise ValueError("idle must be longer than 0s")
        if "cart.updated" not in self.activity:
            raise ValueError("activity must include cart.updated")
        return self


class BrowseAbandonmentTrigger(_Trigger):
    kind: Literal["browse_abandonment"]
    category: Literal["marketing"] = "marketing"
    visit_gap: Duration = Field(description="a visit ends after this long without browsing; the trigger fires then")
    min_visit: Duration = Field(description="visits shorter than this are ignored")
    activity: tuple[BrowseActivity, ...] = Field(
        default=("page.viewed", "page.left"), description="the events that make up a visit"
    )
    cancel_on: tuple[BrowseCancel, ...] = Field(
        default=("order.placed", "cart.updated"), description="the events that cancel the reminder of a visit"
    )
    policies: MarketingPolicies = Field(default=MarketingPolicies(cooldown=timedelta(hours=24)), description=POLICIES)

    @model_validator(mode="after")
    def _visit_shape(self) -> BrowseAbandonmentTrigger:
        if self.visit_gap <= timedelta(0):
            raise ValueError("visit_gap must be longer than 0s")
        if "page.viewed" not in self.activity:
            raise ValueError("activity must include page.viewed")
        return self


class LogisticsDelayTrigger(_Trigger):
    kind: Literal["logistics_delay"]
    category: Literal["utility"] = "utility"
    delay_threshold: Duration = Field(
        description="a shipment is delayed once it is this late past promised_delivery_at, or a new ETA says so"
    )
    voucher: str | None = Field(
        default="round(shipping_fee + 0.05 * order_total)",
        description=(
            "the delay compensation offered as {{voucher}}, in the order's currency: a formula of "
            "shipping_fee and order_total with + - * / ( ) and min, max, round, floor, ceil; null for none"
        ),
    )
    policies: UtilityPolicies = Field(default=UtilityPolicies(), description=POLICIES)

    @field_validator("voucher")
    @classmethod
    def _voucher_formula(cls, value: str | None) -> str | None:
        if value is not None:
            Formula.parse(value, FORMULA_VALUES)  # raises ValueError naming the problem
        return value


class NewDeviceAndCountry(_Strict):
    enabled: bool = Field(default=True, description="alert when both the device and the country are new")
    lookback: Duration = Field(default=timedelta(days=90), description="how long a device or country stays known")


class ImpossibleTravel(_Strict):
    enabled: bool = Field(default=True, description="alert when two logins are farther apart than a plane flies")
    within: Duration = Field(default=timedelta(hours=24), description="only logins this close in time count")
    min_speed_kmh: Annotated[float, Field(gt=0)] = Field(default=900.0, description="the speed it would take, in km/h")
    min_distance_km: Annotated[float, Field(ge=0)] = Field(
        default=100.0, description="and the distance between the two places, in km"
    )


class FailedLogins(_Strict):
    enabled: bool = Field(default=True, description="alert on a success after many failed logins")
    count: Annotated[int, Field(ge=1)] = Field(default=5, description="failed logins before the success")
    within: Duration = Field(default=timedelta(minutes=10), description="in this long before it")


class AnomalousLoginTrigger(_Trigger):
    kind: Literal["anomalous_login"]
    category: Literal["security"] = "security"
    min_previous_logins: Annotated[int, Field(ge=0)] = Field(
        default=1, description="successful logins a customer needs before one can look anomalous"
    )
    new_device_and_country: NewDeviceAndCountry = NewDeviceAndCountry()
    impossible_travel: ImpossibleTravel = ImpossibleTravel()
    failed_logins: FailedLogins = FailedLogins()
    policies: SecurityPolicies = Field(default=SecurityPolicies(cooldown=timedelta(minutes=10)), description=POLICIES)


MAX_REMINDERS = 10
EventTypeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,3}$")]
FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
_POLICIES_OF: dict[str, type[_Policies]] = {
    "marketing": MarketingPolicies,
    "utility": UtilityPolicies,
    "security": SecurityPolicies,
}


class Reminder(_Strict):
    """One decision of a sequence's episode, at its own time: `after` the start event, or `at` a
    time computed from the start event's fields (`pickup_deadline - 1d`)."""

    after: Duration | None = Field(default=None, description="this long after the start event's occurred_at")
    at: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="a time from the start event's fields, such as pickup_deadline - 1d"
    )

    @model_validator(mode="after")
    def _one_time(self) -> Reminder:
        if (self.after is None) == (self.at is None):
            raise ValueError("a reminder has either after (a duration) or at (a time), not both")
        if self.after is not None and self.after < timedelta(0):
            raise ValueError("after is 0s or longer")
        return self


class SequenceTrigger(_Trigger):
    """Something happened, then something did not, in time: written in YAML, no code. Event types
    and fields are the contract's and the event catalogue's (`triggers/_events.yaml`)."""

    kind: Literal["sequence"]
    category: Category = "utility"
    start: EventTypeName = Field(description="the event that opens an episode")
    where: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="a condition on the start event, such as pickup_deadline > occurred_at"
    )
    key: FieldName | None = Field(
        default=None, description="one episode per value of this field of the start event (default: one per customer)"
    )
    stop: Annotated[tuple[EventTypeName, ...], Field(max_length=8)] = Field(
        default=(), description="events with the same key value that close the episode: its pending reminders cancel"
    )
    restart: bool = Field(
        default=False, description="a start event for an open episode starts it again (else the first one counts)"
    )
    remind: Annotated[tuple[Reminder, ...], Field(min_length=1, max_length=MAX_REMINDERS)] = Field(
        description="one decision per entry, each at its own time"
    )
    policies: MarketingPolicies | UtilityPolicies | SecurityPolicies = Field(
        default=UtilityPolicies(), description=POLICIES
    )

    @model_validator(mode="before")
    @classmethod
    def _policies_of_category(cls, data: object) -> object:
        """The policies the category has (a marketing sequence has holdout and marketing caps)."""
        if not isinstance(data, dict):
            return data
        model = _POLICIES_OF.get(str(data.get("category", "utility")))
        given = data.get("policies")
        if model is None or not (given is None or isinstance(given, dict)):
            return data
        try:
            return {**data, "policies": model.model_validate(given or {})}
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"policies.{where}: {first['msg'].removeprefix('Value error, ')}") from None

    @model_validator(mode="after")
    def _shape(self) -> SequenceTrigger:
        if self.start in self.stop:
            raise ValueError(f"{self.start} both starts and stops the episode: a cycle that never reminds")
        return self


TriggerSpec = Annotated[
    CartIdleTrigger | BrowseAbandonmentTrigger | LogisticsDelayTrigger | AnomalousLoginTrigger | SequenceTrigger,
    Field(discriminator="kind"),
]

TRIGGER_KINDS: tuple[str, ...] = tuple(
    get_args(model.model_fields["kind"].annotation)[0] for model in get_args(get_args(TriggerSpec)[0])
)
"""Every `kind:` a trigger file may have: the tags of the models above."""
