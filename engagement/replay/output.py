"""Decisions and rejects as JSON lines (CONTRACT.md §3), byte-identical for the same input."""

from __future__ import annotations

import json

from engagement.core.decisions import Decision, Handoff, Message
from engagement.timefmt import rfc3339

_text = json.encoder.encode_basestring  # a JSON string literal, as json.dumps(ensure_ascii=False) writes it
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def decision_record(decision: Decision) -> dict[str, object]:
    return {
        "trigger": decision.trigger,
        "customer_id": decision.customer_id,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "at": rfc3339(decision.at),
        "due_at": rfc3339(decision.due_at),
        "deadline": rfc3339(decision.deadline),
        "key": decision.key,
        "event_id": decision.event_id,
        "config_version": decision.config_version,
        "message": message_record(decision.message) if decision.message is not None else None,
        **({"handoff": handoff_record(decision.handoff)} if decision.handoff is not None else {}),
        **({"channels": dict(decision.channels)} if decision.channels else {}),
    }


def handoff_record(handoff: Handoff) -> dict[str, object]:
    """What a hand-off carries beside its message (present only on `handoff` decisions)."""
    return {
        "reply_text": handoff.reply_text,
        "reply_button": handoff.reply_button,
        "received_at": rfc3339(handoff.received_at),
        "sent_text": handoff.sent_text,
        "sent_key": handoff.sent_key,
        "context": dict(handoff.context),
        "channel": handoff.channel,
    }


def message_record(message: Message) -> dict[str, object]:
    """The message's fields in their order (what `dataclasses.asdict` gives, without its deep copy)."""
    template = message.template
    return {
        "to": message.to,
        "locale": message.locale,
        "category": message.category,
        "body": message.body,
        "template": None
        if template is None
        else {
            "name": template.name,
            "language": template.language,
            "parameters": template.parameters,
            "buttons": template.buttons,
        },
        "replies": message.replies,
        "channel": message.channel,
        **({"flex": message.flex} if message.flex is not None else {}),
        **(
            {"fallbacks": [message_record(m) for m in message.fallbacks], "fallback_after": message.fallback_after}
            if message.fallbacks
            else {}
        ),
    }


def decision_line(decision: Decision) -> str:
    """`decision_record` as one compact JSON line, written out field by field: a decision line is
    made for every decision, and this is about twice as fast as `json.dumps` of the record."""
    d = decision
    reason = "null" if d.reason is None else _text(d.reason)
    message = "null" if d.message is None else _compact(message_record(d.message))
    handoff = "" if d.handoff is None else f',"handoff":{_compact(handoff_record(d.handoff))}'
    if d.channels:
        handoff += f',"channels":{_compact(dict(d.channels))}'
    return (
        f'{{"trigger":{_text(d.trigger)},"customer_id":{_text(d.customer_id)},"outcome":{_text(d.outcome)},'
        f'"reason":{reason},"at":"{rfc3339(d.at)}","due_at":"{rfc3339(d.due_at)}",'
        f'"deadline":"{rfc3339(d.deadline)}","key":{_text(d.key)},"event_id":{_text(d.event_id)},'
        f'"config_version":{_text(d.config_version)},"message":{message}{handoff}}}\n'
    )


def reject_line(line_no: int, field: str, reason: str, raw: bytes) -> str:
    snippet = raw[:200].decode("utf-8", errors="replace").rstrip("\n")
    record = {"line": line_no, "field": field, "reason": reason, "input": snippet}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
