"""What the engine decides, as data: one `Decision` per fired timer or cancellation, and the `Step` a call returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engagement.core.state import CustomerState

Outcome = Literal["send", "suppress", "cancel", "answer", "handoff", "ignore"]
# answer, handoff, ignore: what became of a customer's reply (see `core.answers`)

# Policy reasons (CONTRACT.md §2), in the order the chain applies them.
NO_CONSENT = "no_consent"
UNREACHABLE = "unreachable"  # the provider said the number cannot receive messages (7 days)
MARKETING_OPT_OUT = "marketing_opt_out"
MARKETING_PAUSED = "marketing_paused"  # WhatsApp held back marketing to this customer (24 h)
HOLDOUT = "holdout"
COOLDOWN = "cooldown"
FREQUENCY_CAP = "frequency_cap"
QUIET_HOURS = "quiet_hours"
DEADLINE_MISSED = "deadline_missed"
POLICY_REASONS = (
    NO_CONSENT,
    UNREACHABLE,
    MARKETING_OPT_OUT,
    MARKETING_PAUSED,
    HOLDOUT,
    COOLDOWN,
    FREQUENCY_CAP,
    QUIET_HOURS,
    DEADLINE_MISSED,
)

# Cancellation reasons.
CONVERTED = "converted"
CART_EMPTIED = "cart_emptied"
ADDED_TO_CART = "added_to_cart"
DELIVERED = "delivered"
STOPPED = "stopped"  # a sequence's stop event came before the reminder
RESTARTED = "restarted"  # a sequence's start event started its episode again (`restart: true`)

# Neither a policy nor a cancellation by the customer.
TEMPLATE_ERROR = "template_error"  # the message could not be filled for this customer
TEMPLATE_PAUSED = "template_paused"  # WhatsApp paused or disabled the message's template in that language
INTERNAL_ERROR = "internal_error"  # deciding the timer failed; it is suppressed so that the rest go on
CONFIG_CHANGED = "config_changed"  # a new configuration cancelled the timer (`in_flight: cancel`)
TRIGGER_REMOVED = "trigger_removed"  # the trigger left the configuration, or was disabled


@dataclass(frozen=True, slots=True)
class Message:
    """The rendered message of a `send` decision."""

    to: str
    locale: str
    category: str
    body: str
    template: TemplateUse | None = None
    replies: tuple[tuple[str, str], ...] = ()  # (id, title): reply buttons when sent as free-form
    channel: str = "whatsapp"  # whatsapp, line or sms; `to` is the number, or the LINE user id
    flex: str | None = None  # LINE: a Flex bubble (JSON text), `body` its alternative text
    fallbacks: tuple[Message, ...] = ()  # the same message on the next channels, in order
    fallback_after: float = 0.0  # seconds without a delivery report before the next channel


@dataclass(frozen=True, slots=True)
class TemplateUse:
    """The approved WhatsApp template a send goes out as, with its filled parameters.
    `parameters`: (name, text) pairs, name None for positional ones; `buttons`: (sub_type, index, value)."""

    name: str
    language: str
    parameters: tuple[tuple[str | None, str], ...] = ()
    buttons: tuple[tuple[str, int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Handoff:
    """What people need beside a reply handed to them: the reply, what we had sent (as the
    customer read it) and its key, and the context (the send's cart, order or shipment values)."""

    reply_text: str | None
    reply_button: str | None
    received_at: float
    sent_text: str | None
    sent_key: str | None
    context: tuple[tuple[str, str], ...] = ()
    channel: str = "whatsapp"


@dataclass(frozen=True, slots=True)
class Decision:
    trigger: str
    customer_id: str
    outcome: Outcome
    reason: str | None
    at: float
    due_at: float
    key: str
    event_id: str
    deadline: float
    config_version: str
    message: Message | None = None
    handoff: Handoff | None = None
    channels: tuple[tuple[str, str], ...] = ()  # channels left out of the send, each with its reason


@dataclass(slots=True)
class Step:
    """The result of one engine call: the customer's new state and what was decided.
    `state.wake_at()` tells when the customer needs the engine again."""

    state: CustomerState
    decisions: list[Decision] = field(default_factory=list)
    duplicate: bool = False
