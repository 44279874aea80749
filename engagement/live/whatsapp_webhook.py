"""WhatsApp Cloud API webhooks (CONTRACT.md §5, WHATSAPP.md §1.10), shared by `run` and the worker.

- `GET /v1/webhooks/whatsapp`: the handshake; the challenge is echoed when `hub.verify_token` matches.
- `POST /v1/webhooks/whatsapp`: `X-Hub-Signature-256` must be the HMAC-SHA256 of the raw body
  with the app secret (constant-time compare; no secret set means every POST is refused), else 401.
  Statuses (sent, delivered, read, failed with their error codes) are recorded once per
  (message id, status); inbound texts and button taps become `message.replied` events for the
  customer whose phone number wrote (the runtime's phone index).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from engagement.config.template_registry import TemplateUpdate
from engagement.decode import rejection_from
from engagement.events import CONTROL_CHARS, EARLIEST, EVENT_ADAPTER, LATEST, REPLY_CONTROL_CHARS, Event
from engagement.live.ingest import Taken
from engagement.live.security_reports import SecurityReport
from engagement.providers.error_classes import feedback_for
from engagement.providers.whatsapp.error_table import classify

log = logging.getLogger("engagement.webhook")

_EARLIEST, _LATEST = EARLIEST.timestamp(), LATEST.timestamp()
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
_CONTROLS = re.compile(f"[{CONTROL_CHARS}]")
_REPLY_CONTROLS = re.compile(f"[{REPLY_CONTROL_CHARS}]")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    message_id: str
    status: str
    timestamp: float
    recipient: str
    key: str | None  # biz_opaque_callback_data: the send's idempotency key
    error_codes: tuple[int, ...] = ()
    feedback: str | None = None  # what the engine must hear of a failure: opted_out, marketing_paused, unreachable
    channel: str = "whatsapp"  # or sms (Twilio's callbacks for SMS)

    @property
    def outcome(self) -> str | None:
        """The send's final status this tells of: sent (sent, delivered, read), failed, or None."""
        if self.status in ("sent", "delivered", "read"):
            return "sent"
        return "failed" if self.status in ("failed", "undelivered") else None

    @property
    def phone(self) -> str:
        return self.recipient if self.recipient.startswith("+") else f"+{self.recipient}"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    message_id: str
    phone: str  # E.164, with "+"
    timestamp: float
    text: str | None
    button_payload: str | None
    replied_to: str | None = None  # the id of our message this answers (context.id)
    channel: str = "whatsapp"  # or sms (an SMS through Twilio)


@dataclass
class WebhookContent:
    statuses: list[StatusUpdate] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    templates: list[TemplateUpdate] = field(default_factory=list)


ECHO_FIELDS = frozenset({"smb_message_echoes", "message_echoes"})
TEMPLATE_FIELDS = frozenset(
    {"message_template_status_update", "template_category_update", "message_template_quality_update"}
)
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}\Z")
_TEMPLATE_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?\Z")
_TEMPLATE_WORD = re.compile(r"^[A-Z_]{1,64}\Z")


class WebhookPort(Protocol):
    async def record_statuses(self, statuses: list[StatusUpdate]) -> list[StatusUpdate]:
        """Record the statuses not seen before (by message id and status) and return them."""
        ...

    async def customer_for_phone(self, phone: str) -> str | None: ...

    async def customer_for_line(self, line_user_id: str) -> str | None:
        """The customer who holds a LINE user id (None: nobody)."""
        ...

    async def customer_of_send(self, key: str) -> str | None:
        """The customer a send (by its idempotency key) was decided for; None for a key not ours."""
        ...

    async def send_of_message(self, message_id: str) -> str | None:
        """The key of our send the provider knows by `message_id` (a reply's context id)."""
        ...

    def not_me_words(self) -> frozenset[str]:
        """The replies that report a login as not the customer's (casefolded), per the live messages."""
        ...

    async def ingest(self, events: list[Event]) -> Taken: ...

    async def report_security(self, report: SecurityReport) -> None:
        """Publish a "not me" answer to a login alert (topic and/or webhook URL)."""
        ...

    async def reconcile(self, key: str, outcome: str) -> bool:
        """Settle a send whose outcome was unknown (a read timeout, or a sender that died during
        the call) from what a status webhook says; True when it was such a send."""
        ...

    async def delivered(self, key: str, channel: str) -> str | None:
        """A delivery report of the send's call on `channel`: `delivered`, `twice` (the send had
        moved on to another channel meanwhile), or None (not ours, or known already)."""
        ...

    async def refused_on(self, key: str, channel: str) -> bool:
        """The call on `channel` failed after all: a send waiting for its report moves on now."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    verify_token: str
    app_secret: str
    port: WebhookPort
    templates_dir: Path | None = None  # the message directory whose template registry webhooks update


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return same_text(expected, header.removeprefix("sha256="))


def same_text(expected: str, presented: str) -> bool:
    """A constant-time comparison of a secret with what a client sent, whatever its characters
    (`hmac.compare_digest` refuses non-ASCII text)."""
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", errors="replace"))


def handshake(query: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo, or None when the handshake must be refused."""
    if not verify_token or query.get("hub.mode") != "subscribe":
        return None
    if not same_text(verify_token, query.get("hub.verify_token", "")):
        return None
    return query.get("hub.challenge", "")


def parse(payload: Any) -> WebhookContent:
    """Statuses and inbound messages of a webhook body; anything else in it is ignored."""
    content = WebhookContent()
    if not isinstance(payload, dict):
        return content
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            if change.get("field") in TEMPLATE_FIELDS:
                update = _template_update(value)
                if update is not None:
                    content.templates.append(update)
                continue
            for status in _dicts(value.get("statuses")):
                parsed = _status(status)
                if parsed is not None:
                    content.statuses.append(parsed)
            if change.get("field") in ECHO_FIELDS:
                continue  # what our own number sent (from another app): never a customer's reply
            ours = "".join(c for c in str(_dict(value.get("metadata")).get("display_phone_number", "")) if c.isdigit())
            for message in _dicts(value.get("messages")):
                inbound = _inbound(message)
                if inbound is not None and inbound.phone.lstrip("+") != ours:
                    content.inbound.append(inbound)
    return content


def _template_update(value: dict[str, Any]) -> TemplateUpdate | None:
    """A template webhook's change; None when its name, language or values are not plausible."""
    name, language = value.get("message_template_name"), value.get("message_template_language")
    if not isinstance(name, str) or not _TEMPLATE_NAME.match(name):
        return None
    if not isinstance(language, str) or not _TEMPLATE_LANGUAGE.match(language):
        return None

    def word(key: str) -> str | None:
        found = value.get(key)
        return found if isinstance(found, str) and _TEMPLATE_WORD.match(found) else None

    template_id = value.get("message_template_id")
    return TemplateUpdate(
        name,
        language,
        status=word("event"),
        category=word("new_category"),
        quality_score=word("new_quality_score"),
        template_id=str(template_id)[:64] if isinstance(template_id, int | str) else "",
    )


def reply_event(message: InboundMessage, customer_id: str, in_reply_to: str | None = None) -> Event | None:
    """The customer's reply as an event; None when it cannot be one (the webhook is signed, but
    its values are still bounded like any event's)."""
    try:
        return EVENT_ADAPTER.validate_python(
            {
                "event_id": _CONTROLS.sub("", f"wa-{message.message_id}")[:128],
                "type": "message.replied",
                "customer_id": customer_id,
                "occurred_at": datetime.fromtimestamp(message.timestamp, UTC),
                "text": _REPLY_CONTROLS.sub("", message.text)[:4096] if message.text is not None else None,
                "button_payload": (
                    _CONTROLS.sub("", message.button_payload)[:1024] if message.button_payload is not None else None
                ),
                "in_reply_to": in_reply_to,
                "channel": message.channel,
            }
        )
    except ValidationError as exc:
        log.warning("an inbound message could not be read as a reply: %s", rejection_from(exc))
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _seconds(value: Any) -> float:
    """A provider's Unix time, kept inside the range events may carry (else 0)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return seconds if _EARLIEST <= seconds < _LATEST else 0.0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _status(status: dict[str, Any]) -> StatusUpdate | None:
    message_id, kind = status.get("id"), status.get("status")
    if not isinstance(message_id, str) or not isinstance(kind, str):
        return None
    codes = tuple(e["code"] for e in _dicts(status.get("errors")) if isinstance(e.get("code"), int))
    key = status.get("biz_opaque_callback_data")
    return StatusUpdate(
        message_id,
        kind,
        _seconds(status.get("timestamp")),
        str(status.get("recipient_id", "")),
        key if isinstance(key, str) else None,
        codes,
        feedback_for(classify(c, 400) for c in codes),
    )


def _inbound(message: dict[str, Any]) -> InboundMessage | None:
    message_id, sender = message.get("id"), message.get("from")
    if not isinstance(message_id, str) or not isinstance(sender, str):
        return None
    text = payload = None
    kind = message.get("type")
    if kind == "text":
        text = _dict(message.get("text")).get("body")
    elif kind == "button":
        button = _dict(message.get("button"))
        payload, text = button.get("payload"), button.get("text")
    elif kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get("button_reply")) or _dict(interactive.get("list_reply"))
        payload, text = reply.get("id"), reply.get("title")
    else:
        return None
    phone = sender if sender.startswith("+") else f"+{sender}"
    if not _PHONE.match(phone):
        return None
    context = message.get("context")
    replied_to = context.get("id") if isinstance(context, dict) else None
    return InboundMessage(
        message_id,
        phone,
        _seconds(message.get("timestamp")),
        text if isinstance(text, str) else None,
        payload if isinstance(payload, str) else None,
        replied_to if isinstance(replied_to, str) else None,
    )
