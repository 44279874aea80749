"""The provider port: what a sender hands a provider, what comes back, and the typed errors.

ProviderError                 any failure to hand a message over
├── PermanentError            the provider refused it; retrying cannot help
│   ├── RecipientUnreachableError   not reachable on this channel (for a while)
│   ├── MarketingRefusedError       the recipient gets no marketing now (`opted_out`: for good)
│   ├── SendingHaltedError          the account cannot send at all (blocked, token, quality):
│                                   stop sending and alert
│   └── ChannelUnavailableError     this channel cannot carry it now (not set up, quota spent)
├── ThrottledError            too many requests; retry after `retry_after` seconds, for this
│                             recipient only or for the whole sender (`scope`)
└── TransientError            a network or server fault; retrying may help
    └── OutcomeUnknownError   the request may have reached the provider (a read timeout):
                              never resent blindly
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    """One parameter of an approved template. `kind`: text, currency (`amount` and `currency`,
    with `text` as the fallback), date_time (`text` is what is shown), or for a header image,
    video or document (`text` is its URL). `name` for templates with named parameters; `None`
    for positional ones."""

    text: str
    kind: str = "text"
    name: str | None = None
    amount: float | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateButton:
    """A button parameter: `sub_type` quick_reply (a payload) or url (a suffix to the approved URL)."""

    sub_type: str
    index: int
    value: str


@dataclass(frozen=True, slots=True)
class TemplateSend:
    """An approved template and the values for it (provider-neutral)."""

    name: str
    language: str
    body: tuple[TemplateParameter, ...] = ()
    header: tuple[TemplateParameter, ...] = ()
    buttons: tuple[TemplateButton, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message to hand over. Without `template` it is free-form text (`body`, with up to 3
    reply buttons: an interactive message), which WhatsApp accepts only inside the 24 h service
    window; proactive sends carry a template."""

    key: str
    trigger: str
    customer_id: str
    to: str
    locale: str
    category: str
    body: str
    template: TemplateSend | None = None
    replies: tuple[tuple[str, str], ...] = ()  # (id, title) reply buttons of a free-form message
    handoff: dict[str, Any] | None = None  # category "handoff": a reply for people, not a message to send
    channel: str = "whatsapp"  # whatsapp, line or sms: `to` is the number, or the LINE user id
    flex: str | None = None  # LINE: a Flex bubble (JSON text), `body` its alternative text
    fallbacks: tuple[OutboundMessage, ...] = ()  # the same message on the next channels, in order
    fallback_after: float = 0.0  # seconds without a delivery report before the next channel
    tried: tuple[tuple[str, str], ...] = ()  # (channel, why it moved on) of the channels tried before

    def next_channel(self, why: str) -> OutboundMessage | None:
        """The same send on the next channel (None when this is the last), remembering this one."""
        if not self.fallbacks:
            return None
        following = self.fallbacks[0]
        return replace(
            following,
            fallbacks=self.fallbacks[1:],
            fallback_after=self.fallback_after,
            tried=(*self.tried, (self.channel, why)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, for the stores that queue a send (`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutboundMessage:
        template = data.get("template")
        if template is not None:
            template = TemplateSend(
                template["name"],
                template["language"],
                tuple(TemplateParameter(**p) for p in template.get("body", ())),
                tuple(TemplateParameter(**p) for p in template.get("header", ())),
                tuple(TemplateButton(**b) for b in template.get("buttons", ())),
            )
        fields = {k: data[k] for k in ("key", "trigger", "customer_id", "to", "locale", "category", "body")}
        replies = tuple((str(i), str(t)) for i, t in data.get("replies", ()))
        handoff = data.get("handoff")
        flex = data.get("flex")
        return cls(
            **fields,
            template=template,
            replies=replies,
            handoff=handoff if isinstance(handoff, dict) else None,
            channel=str(data.get("channel", "whatsapp")),
            flex=flex if isinstance(flex, str) else None,
            fallbacks=tuple(cls.from_dict(f) for f in data.get("fallbacks", ())),
            fallback_after=float(data.get("fallback_after", 0.0)),
            tried=tuple((str(c), str(w)) for c, w in data.get("tried", ())),
        )


@dataclass(frozen=True, slots=True)
class SendReceipt:
    provider_message_id: str
    status: str | None = None  # the provider's own word, e.g. accepted, held_for_quality_assessment


class ProviderError(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class PermanentError(ProviderError):
    pass


class RecipientUnreachableError(PermanentError):
    pass


class MarketingRefusedError(PermanentError):
    def __init__(self, message: str, opted_out: bool, code: str | None = None) -> None:
        super().__init__(message, code)
        self.opted_out = opted_out


class SendingHaltedError(PermanentError):
    pass


class ChannelUnavailableError(PermanentError):
    """This channel cannot carry the send now (not configured, or its monthly quota is spent):
    the send moves to its next channel."""


class ThrottledError(ProviderError):
    def __init__(self, message: str, retry_after: float, code: str | None = None, scope: str = "sender") -> None:
        super().__init__(message, code)
        self.retry_after = retry_after
        self.scope = scope  # "recipient" or "sender"


class TransientError(ProviderError):
    pass


class OutcomeUnknownError(TransientError):
    pass


class Provider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendReceipt: ...

    async def close(self) -> None: ...


class SendLog(Protocol):
    """A provider that keeps what it sent on this machine (the file provider): erasable and pruned."""

    def erase(self, customer_id: str) -> int:
        """Erase the number, name and text of every logged send to this customer; how many."""
        ...

    def prune(self, before: float) -> int:
        """Delete the sends logged before `before` (seconds since the epoch); how many."""
        ...
