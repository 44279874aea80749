"""LINE's webhook (`POST /v1/webhooks/line`), for `run` and the worker.

`x-line-signature` must be Base64(HMAC-SHA256(channel secret, raw body)); else 401, before the
body is parsed. LINE waits 2 s for the answer, so the handling is what a reply to WhatsApp costs:
one lookup per event and one ingest.

- `message` (text or anything else) and `postback` (a quick-reply button: its data) become
  `message.replied` events on channel `line`, for the customer who holds the LINE user id;
- `unfollow` (the customer blocked the account) makes LINE unreachable for them, `follow` makes
  it reachable again (`message.failed` with reason `unreachable` / `reachable`, channel `line`);
- a "not me" answer (a login alert's button, or the words) is reported to the security team;
- every event is taken once (its event id is `line-<webhookEventId>`, which the engine takes once):
  a redelivery or a replayed request changes nothing; events older than a week, from groups or
  rooms, or of other types are counted and left.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import from_json

from engagement.decode import rejection_from
from engagement.events import EVENT_ADAPTER, Event
from engagement.limits import Limits
from engagement.live.guard import WEBHOOK_MAX_BYTES, problem, read_body
from engagement.live.metrics import Metrics
from engagement.live.security_reports import SecurityReport
from engagement.live.whatsapp_webhook import StatusUpdate, WebhookPort, same_text
from engagement.settings import Settings

log = logging.getLogger("engagement.line")

STALE_SECONDS = 7 * 86_400.0  # an event older than this is not taken (a replay of an old capture)
MAX_EVENTS = 500  # a request with more is refused (LINE sends a few at a time)
MAX_STAMP = 4_102_444_800_000  # milliseconds: 2100-01-01, the events' own bound
_USER = re.compile(r"^U[0-9a-f]{32}\Z")
_EVENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}\Z")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
KINDS = frozenset({"message", "postback", "follow", "unfollow"})


@dataclass(frozen=True, slots=True)
class LineWebhookSettings:
    channel_secret: str
    port: WebhookPort
    limits: Limits


def line_webhook_settings(settings: Settings, port: WebhookPort) -> LineWebhookSettings | None:
    """LINE's webhook is served once the channel secret is set."""
    secret = settings.line_channel_secret.get_secret_value()
    return LineWebhookSettings(secret, port, settings.http_limits()) if secret else None


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header or not header.isascii():
        return False
    return same_text(signature(secret, body), header)


@dataclass(frozen=True, slots=True)
class LineEvent:
    event_id: str
    kind: str
    user_id: str
    timestamp: float
    text: str | None = None
    data: str | None = None


def parse(payload: Any) -> tuple[list[LineEvent], int]:
    """The events we act on, and how many others the request held (counted, not acted on)."""
    raw = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(raw, list):
        return [], 0
    taken: list[LineEvent] = []
    for item in raw:
        parsed = _event(item) if isinstance(item, dict) else None
        if parsed is not None:
            taken.append(parsed)
    return taken, len(raw) - len(taken)


def _event(item: dict[str, Any]) -> LineEvent | None:
    kind, source = item.get("type"), item.get("source")
    event_id, stamp = item.get("webhookEventId"), item.get("timestamp")
    if kind not in KINDS or not isinstance(source, dict) or source.get("type") != "user":
        return None
    user = source.get("userId")
    if not isinstance(user, str) or not _USER.match(user) or not isinstance(event_id, str):
        return None
    if not _EVENT_ID.match(event_id) or not isinstance(stamp, int) or isinstance(stamp, bool):
        return None
    if not 0 <= stamp < MAX_STAMP:
        return None
    at = stamp / 1000.0
    if kind == "message":
        message = item.get("message")
        text = message.get("text") if isinstance(message, dict) and message.get("type") == "text" else None
        said = _CONTROLS.sub("", text)[:4096] if isinstance(text, str) and text else None
        return LineEvent(event_id, "message", user, at, text=said)
    if kind == "postback":
        postback = item.get("postback")
        data = postback.get("data") if isinstance(postback, dict) else None
        tapped = _CONTROLS.sub("", data)[:1024] if isinstance(data, str) and data else None
        return LineEvent(event_id, "postback", user, at, data=tapped)
    return LineEvent(event_id, str(kind), user, at)


def event_of(line: LineEvent, customer_id: str) -> Event | None:
    """The engine's event for a LINE event of `customer_id` (None when it cannot be one)."""
    when = datetime.fromtimestamp(line.timestamp, UTC)
    record: dict[str, Any]
    if line.kind in ("message", "postback"):
        record = {"type": "message.replied", "text": line.text, "button_payload": line.data, "channel": "line"}
    else:
        reason = "reachable" if line.kind == "follow" else "unreachable"
        record = {"type": "message.failed", "key": f"line-{line.kind}-{line.event_id}", "reason": reason}
        record["channel"] = "line"
    try:
        return EVENT_ADAPTER.validate_python(
            {"event_id": f"line-{line.event_id}", "customer_id": customer_id, "occurred_at": when, **record}
        )
    except ValidationError as exc:
        log.warning("a LINE event could not be read: %s", rejection_from(exc))
        return None


async def handle(port: WebhookPort, events: list[LineEvent], metrics: Metrics, now: float) -> None:
    """Each event to its customer, the batch to the engine in one ingest (which takes an event id
    once: a redelivery is a duplicate there); then each "not me" reported, once, once taken."""
    out: list[Event] = []
    not_me: list[tuple[LineEvent, str]] = []
    for line in events:
        if not now - STALE_SECONDS <= line.timestamp <= now + 300:
            metrics.inc("engagement_line_events_total", result="stale")
            continue
        customer = await port.customer_for_line(line.user_id)
        if customer is None:
            metrics.inc("engagement_line_events_total", result="unknown_sender")
            continue
        event = event_of(line, customer)
        if event is None:
            metrics.inc("engagement_line_events_total", result="unreadable")
            continue
        out.append(event)
        said = {s.strip().casefold() for s in (line.text, line.data) if s is not None}
        if said & port.not_me_words():
            not_me.append((line, customer))
    if not out:
        return
    taken = await port.ingest(out)
    metrics.inc("engagement_line_events_total", taken.duplicates, result="repeated")
    metrics.inc("engagement_line_events_total", len(out) - taken.duplicates - len(taken.refused), result="taken")
    for line, customer in not_me:
        seen = StatusUpdate(f"line-{line.event_id}", "not_me", line.timestamp, "", None)
        if await port.record_statuses([seen]):  # LINE delivers again: reported once
            metrics.inc("engagement_security_reports_total", result="reported")
            await port.report_security(SecurityReport(customer, "", f"line-{line.event_id}", None, line.timestamp))


def add_line_webhook(app: web.Application, settings: LineWebhookSettings, metrics: Metrics) -> None:
    async def receive(request: web.Request) -> web.Response:
        """Size first, then the signature, and only then is the body parsed."""
        body = await read_body(request, WEBHOOK_MAX_BYTES, settings.limits.body_seconds)
        if isinstance(body, web.Response):
            metrics.inc("engagement_line_webhooks_total", result="bad_body")
            return body
        if not signature_valid(settings.channel_secret, body, request.headers.get("x-line-signature")):
            metrics.inc("engagement_line_webhooks_total", result="bad_signature")
            return problem(401, "bad signature: x-line-signature must be the HMAC-SHA256 of the body")
        try:
            payload = from_json(body)
        except ValueError as exc:
            metrics.inc("engagement_line_webhooks_total", result="bad_body")
            return problem(400, f"malformed JSON ({str(exc).splitlines()[0][:200]})")
        events, others = parse(payload)
        if len(events) + others > MAX_EVENTS:
            metrics.inc("engagement_line_webhooks_total", result="too_many_events")
            return problem(413, f"at most {MAX_EVENTS} events per request")
        metrics.inc("engagement_line_webhooks_total", result="accepted")
        if others:
            metrics.inc("engagement_line_events_total", others, result="ignored")
        await handle(settings.port, events, metrics, time.time())
        return web.Response(text="ok")

    app.router.add_post("/v1/webhooks/line", receive)
