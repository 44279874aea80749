"""The console's customer page: who the customer is to engagement (consent and opt-outs, tier,
locale and time zone, the timers still pending) and what happened to them (events, decisions,
sends, provider statuses) in readable lines, phone numbers masked. An admin key may reveal the
number; each reveal is logged with the key's name. A customer is found by id, or by phone number
with an admin key (logged as a reveal is)."""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from engagement.core.answers import HANDOFF_PAUSE
from engagement.core.profile import latest_phone
from engagement.core.state import CustomerState
from engagement.decode import customer_id_problem
from engagement.live.api_keys import ApiKey
from engagement.live.guard import API_KEY, Handler, problem
from engagement.privacy import mask_phone, mask_phones
from engagement.timefmt import parse_rfc3339

log = logging.getLogger("engagement.console")

StateOf = Callable[[str], Awaitable[CustomerState | None]]
OwnerOf = Callable[[str], Awaitable[str | None]]
Timeline = Callable[[str], Awaitable[dict[str, list[Any]]]]
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")


def profile_of(state: CustomerState | None, default_zone: str) -> dict[str, Any] | None:
    """What the customer's state says of them, for the page (the number masked)."""
    if state is None:
        return None
    profile, ledger = state.profile, state.ledger
    phone = latest_phone(state)
    zone = (profile.timezone if profile else None) or default_zone
    return {
        "name": mask_phones(profile.name) if profile and profile.name else None,
        "phone": mask_phone(phone) if phone else None,
        "locale": profile.locale if profile else None,
        "timezone": zone,
        "timezone_given": bool(profile and profile.timezone),
        "tier": profile.tier if profile else None,
        "channels": [
            {
                "channel": "whatsapp",
                "consent": bool(profile and profile.opt_in),
                "marketing_opt_out": bool(profile and profile.opt_out),
                "unreachable_until": ledger.unreachable_until if ledger else None,
                "marketing_paused_until": ledger.marketing_paused_until if ledger else None,
            }
        ],
        "last_reply_at": ledger.last_reply_at if ledger else None,
        "pending": [
            {"trigger": t.trigger_id, "due": t.due, "deadline": t.deadline, "since": t.first_due}
            for t in sorted(state.timers or (), key=lambda t: t.due)
        ],
        "waiting_events": len(state.pending or ()),
        "conversation": _conversation(state),
    }


def _conversation(state: CustomerState) -> dict[str, Any]:
    """Replies and answers: a hand-off still open (automatic answers pause until it is resolved or
    a day passes), the automatic answers of the last hour, the sends a reply may answer."""
    conversation = state.conversation
    if conversation is None:
        return {"handoff_at": None, "handoff_until": None, "answers": [], "recent_sends": []}
    until = conversation.handoff_at + HANDOFF_PAUSE if conversation.handoff_at is not None else None
    return {
        "handoff_at": conversation.handoff_at,
        "handoff_until": until,
        "answers": list(conversation.answered),
        "recent_sends": [{"trigger": n.trigger, "at": n.at, "key": n.key} for n in conversation.sent],
    }


def timeline_of(found: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Events, decisions, sends and statuses of one customer, oldest first (at one time, an event
    before the decision it caused), each with epoch seconds and a readable line; numbers masked."""
    items: list[dict[str, Any]] = []
    for line in found.get("events", []):
        event = json.loads(line)
        at = _epoch(event.get("occurred_at"))
        text = mask_phones(_event_text(event))  # a number in a name, an item, a device: masked too
        items.append({"at": at, "order": 0, "what": "event", "type": event.get("type"), "text": text})
    statuses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for status in found.get("statuses", []):
        statuses[str(status.get("key"))].append(status)
    sends = {send["key"]: send for send in found.get("sends", [])}
    deliveries = {str(d.get("key")): d for d in found.get("deliveries", [])}
    for line in found.get("decisions", []):
        decision = json.loads(line)
        key = str(decision.get("key"))
        seen = [{"status": s.get("status"), "at": s.get("at")} for s in statuses.get(key, [])]
        items.append({
            "at": _epoch(decision.get("at")), "order": 1, "what": "decision", "type": decision.get("trigger"),
            "outcome": decision.get("outcome"), "reason": decision.get("reason"), "text": _decision_text(decision),
            "send": (sends.get(key) or {}).get("status"), "statuses": seen, "delivery": _delivery(deliveries.get(key)),
        })  # fmt: skip
    items.sort(key=lambda item: (item["at"], item["order"]))
    return items


def _delivery(delivery: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where a send went, when it is more than "on WhatsApp": the channels it moved on from (with
    why), the channel of its latest call, the channels that reported it delivered."""
    if delivery is None:
        return None
    tried, delivered, channel = delivery.get("tried") or [], delivery.get("delivered") or [], delivery.get("channel")
    if not tried and channel in (None, "whatsapp") and delivered in ([], ["whatsapp"]):
        return None
    return {"channel": channel, "tried": tried, "delivered": delivered}


def _epoch(value: object) -> float:
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        return 0.0


def _event_text(event: dict[str, Any]) -> str:
    kind = str(event.get("type", ""))
    if kind == "cart.updated":
        items = [i for i in event.get("items", []) if isinstance(i, dict)]
        if not items:
            return "cart emptied"
        names = ", ".join(f"{i.get('name') or i.get('product_id')} ×{i.get('quantity', 1)}" for i in items[:3])
        more = f" and {len(items) - 3} more" if len(items) > 3 else ""
        return f"cart {event.get('cart_id', '')}: {names}{more}"
    if kind == "order.placed":
        return f"order {event.get('order_id', '')}: {event.get('total', '')} {event.get('currency', '')}".strip()
    if kind.startswith("page."):
        return str(event.get("product_name") or event.get("product_id") or "")
    if kind.startswith("shipment."):
        status = event.get("status", "")
        return f"order {event.get('order_id', '')}, shipment {event.get('shipment_id', '')} {status}".strip()
    if kind.startswith("login."):
        return ", ".join(str(event[k]) for k in ("device_id", "country", "city") if event.get(k))
    if kind == "customer.updated":
        return _profile_text(event)
    if kind == "message.replied":
        return mask_phones(str(event.get("button_payload") or event.get("text") or ""))[:200]
    skip = {"event_id", "type", "customer_id", "occurred_at"}
    shown = {k: ("(a number)" if k == "phone" else v) for k, v in event.items() if k not in skip}
    return ", ".join(f"{k}: {v}" for k, v in shown.items())[:300]


_PROFILE_WORDS = (
    ("name", "name"), ("phone", "number"), ("locale", "locale"), ("timezone", "time zone"),
    ("whatsapp_opt_in", "WhatsApp consent"), ("marketing_opt_out", "marketing opt-out"), ("tier", "tier"),
)  # fmt: skip


def _profile_text(event: dict[str, Any]) -> str:
    parts = []
    for field, words in _PROFILE_WORDS:
        if field not in event:
            continue
        value = event[field]
        shown = "set" if field == "phone" else ("yes" if value is True else "no" if value is False else str(value))
        parts.append(f"{words} {shown}")
    return ", ".join(parts) or "profile updated"


def _decision_text(decision: dict[str, Any]) -> str:
    message = decision.get("message")
    if not isinstance(message, dict):
        return ""
    if message.get("erased"):
        return "(erased)"
    if decision.get("outcome") == "handoff":
        return "the reply went to people, with what we had sent and its context"
    template = message.get("template")
    body = str(message.get("body") or "")
    sent_as = f"template {template.get('name')}: " if isinstance(template, dict) else ""
    return mask_phones(f"{sent_as}{body}")[:400]


class CustomerRoutes:
    def __init__(
        self, state_of: StateOf, owner_of: OwnerOf, timeline: Timeline, default_zone: Callable[[], str]
    ) -> None:
        self.state_of, self.owner_of, self.timeline, self.default_zone = state_of, owner_of, timeline, default_zone

    async def find(self, request: web.Request) -> web.StreamResponse:
        """`?phone=+886...`: the customer who holds that number now. Admin only, and logged: who
        holds a number tells the number of a masked profile (a million guesses at most)."""
        phone = request.query.get("phone", "").replace(" ", "").replace("-", "")
        if not _E164.match(phone):
            return problem(400, "phone: an E.164 number such as +886912345678")
        customer = await self.owner_of(phone)
        key: ApiKey = request[API_KEY]
        log.warning("console: %s looked up who holds the number %s: %s", key.name, mask_phone(phone),
                    f"customer {customer}" if customer else "nobody")  # fmt: skip
        if customer is None:
            return problem(404, "no customer holds that number")
        return web.json_response({"customer_id": customer})

    async def customer(self, request: web.Request) -> web.StreamResponse:
        customer_id = request.match_info["customer_id"]
        bad = customer_id_problem(customer_id)
        if bad is not None:
            return problem(400, f"customer_id: {bad}")
        found, state = await self.timeline(customer_id), await self.state_of(customer_id)
        profile = profile_of(state, self.default_zone())
        if profile is None and not any(found.values()):
            return problem(404, f"nothing recorded for customer {customer_id!r}")
        return web.json_response({"customer_id": customer_id, "profile": profile, "items": timeline_of(found)})

    async def reveal(self, request: web.Request) -> web.StreamResponse:
        """The customer's whole number, for an admin key; logged with the key's name."""
        customer_id = request.match_info["customer_id"]
        bad = customer_id_problem(customer_id)
        if bad is not None:
            return problem(400, f"customer_id: {bad}")
        state = await self.state_of(customer_id)
        phone = latest_phone(state) if state is not None else None
        if phone is None:
            return problem(404, "no number known for this customer")
        key: ApiKey = request[API_KEY]
        log.warning("console: %s revealed the phone number of customer %s", key.name, customer_id)
        return web.json_response({"customer_id": customer_id, "phone": phone})


def add_customers(routes: CustomerRoutes, route: Callable[[str, str, str | None, Handler], None]) -> None:
    route("GET", "/console/api/customers", "admin", routes.find)
    route("GET", "/console/api/customers/{customer_id}", "read", routes.customer)
    route("POST", "/console/api/customers/{customer_id}/reveal", "admin", routes.reveal)


def local_time(t: float, zone: str) -> str:
    """`2026-11-20 10:00` in `zone` (for logs and tests; the page formats times itself)."""
    return datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
