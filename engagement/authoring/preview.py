"""`engagement messages preview TRIGGER`: what a customer would receive from a trigger, made by the
engine itself from a customer's events (a sample customer, or a file of one customer's events)."""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engagement.authoring.channel_checks import CHANNEL_NAMES, flex_texts, sms_parts
from engagement.authoring.samples import sample_events
from engagement.config.template_registry import REGISTRY_FILE, Rendered, TemplateRegistry, render
from engagement.core.configured import TriggerSet
from engagement.core.decisions import Decision, Message
from engagement.core.engine import Engine
from engagement.core.specs import TriggerSpec
from engagement.core.state import CustomerState
from engagement.decode import Rejection, decode_event
from engagement.events import CHANNELS, EVENT_ADAPTER, MessageReplied
from engagement.replay.runner import Replayer
from engagement.replay.set_aside import taken_back
from engagement.timefmt import rfc3339

# How long after the last event the clock runs, so that every trigger's timer falls due.
RUN_ON_SECONDS = 3 * 24 * 3600


class PreviewError(Exception):
    """The preview cannot be made (an unknown trigger, an unreadable customer file)."""


@dataclass(frozen=True, slots=True)
class Preview:
    trigger: TriggerSpec
    decisions: list[Decision]
    customer: str
    registry: TemplateRegistry | None = None  # what WhatsApp approved, when synced
    answers: list[tuple[str, Decision]] = field(default_factory=list)  # (the reply, what it gets)


ANY_OTHER_REPLY = "(any other reply)"


def answers_to(engine: Engine, state: CustomerState, sent: Decision) -> list[tuple[str, Decision]]:
    """What each reply the send's message answers would get, a minute after it: each button value
    or keyword of its `answers:`, then any other reply (the `default:`, or people)."""
    spec = engine.all_specs[sent.trigger]
    message = engine.catalog.message_for(spec.id, spec.kind)
    if message is None:
        return []
    replies = [answer.name for answer in message.answers.values()] + [ANY_OTHER_REPLY]
    out: list[tuple[str, Decision]] = []
    for n, said in enumerate(replies):
        content = {"text": "Is this in another colour?"} if said == ANY_OTHER_REPLY else {"button_payload": said}
        event = EVENT_ADAPTER.validate_python({
            "event_id": f"preview-reply-{n}", "type": "message.replied", "customer_id": state.customer_id,
            "occurred_at": datetime.fromtimestamp(sent.at + 60, UTC), "in_reply_to": sent.key, **content,
        })  # fmt: skip
        if not isinstance(event, MessageReplied):
            continue
        out.append((said, engine.answering.decide(copy.deepcopy(state), event, sent.at + 60, sent.at + 60)))
    return out


def read_customer_events(path: Path) -> list[dict[str, Any]]:
    """A JSON array of events, or JSON lines; every event must belong to one customer."""
    text = path.read_text(encoding="utf-8")
    try:
        parsed = json.loads(text)
        events = parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError as whole:
        if text.lstrip().startswith("["):
            raise PreviewError(f"{path}:{whole.lineno}: column {whole.colno}: {whole.msg}") from None
        events = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise PreviewError(f"{path}:{number}: column {exc.colno}: {exc.msg} (one JSON event a line)") from None
    if not events or not all(isinstance(e, dict) for e in events):
        raise PreviewError(f"{path}: no events")
    customers = {e.get("customer_id") for e in events}
    if len(customers) != 1:
        raise PreviewError(f"{path}: events of {len(customers)} customers; give one customer's events")
    return events


def preview(
    engine: Engine,
    trigger_id: str,
    events: Iterable[dict[str, Any]] | None = None,
    locale: str | None = None,
    tier: str | None = None,
    registry: TemplateRegistry | None = None,
    channel: str | None = None,
) -> Preview:
    """The trigger's decisions for the customer (its sample customer by default). `locale` and
    `tier` stand in for the customer's own, as if their profile said so; `channel`, as if the
    trigger sent on that channel first (its message there)."""
    spec = engine.all_specs.get(trigger_id)
    if spec is None:
        raise PreviewError(f"no trigger {trigger_id!r}; triggers: {', '.join(sorted(engine.all_specs))}")
    if channel is not None and channel not in CHANNELS:
        raise PreviewError(f"no channel {channel!r}; channels: {', '.join(CHANNELS)}")
    engine = as_if_enabled(engine, trigger_id, channel)  # a trigger not yet switched on shows what it would send
    _check_stand_ins(engine, spec.id, spec.kind, locale, tier)
    chosen = [
        dict(e) for e in (events if events is not None else sample_events(spec.kind, spec, engine.event_catalogue))
    ]
    for event in chosen:
        if event.get("type") == "customer.updated":
            if locale is not None:
                event["locale"] = locale
            if tier is not None:
                event["tier"] = tier
    decisions: list[Decision] = []
    replayer = Replayer(engine, decisions.append)
    last = float("-inf")
    for number, raw in enumerate(chosen, 1):
        item = decode_event(json.dumps(raw, ensure_ascii=False).encode(), engine.event_catalogue)
        if isinstance(item, Rejection):
            raise PreviewError(f"event {number}: {item.field}: {item.reason}")
        last = max(last, item.occurred_at.timestamp())
        replayer.feed(item)
    replayer.finish(last + RUN_ON_SECONDS)
    customer = str(chosen[0].get("customer_id", ""))
    mine = [d for d in decisions if d.trigger == trigger_id]
    sends = [d for d in mine if d.outcome == "send"]
    state = replayer.states.get(customer)
    if isinstance(state, bytes):
        state = taken_back(state)
    answers = answers_to(engine, state, sends[-1]) if sends and isinstance(state, CustomerState) else []
    return Preview(spec, mine, customer, registry, answers)


def as_if_enabled(engine: Engine, trigger_id: str, channel: str | None = None) -> Engine:
    """The engine with the trigger switched on (itself, when it is on already), sending on
    `channel` first when one is given (then on the trigger's others)."""
    spec = engine.all_specs[trigger_id]
    if spec.enabled and (channel is None or spec.channels[0] == channel):
        return engine
    update: dict[str, object] = {"enabled": True}
    if channel is not None:
        update["channels"] = (channel, *(c for c in spec.channels if c != channel))
    on = tuple(s.model_copy(update=update) if s.id == trigger_id else s for s in engine.all_specs.values())
    triggers = TriggerSet(on, engine.config_version, engine.event_catalogue)
    return Engine(triggers, engine.catalog, engine.settings, engine.config_version)


def _check_stand_ins(engine: Engine, trigger_id: str, kind: str, locale: str | None, tier: str | None) -> None:
    """A locale the message has no wording for (not even through its fallbacks or its language),
    or a tier none of its wordings has, would silently show another text: refused instead."""
    message = engine.catalog.message_for(trigger_id, kind)
    if message is None:
        return
    if locale is not None:
        found = engine.catalog.wording(message, locale)
        default = engine.catalog.locales.default
        if found is None or (found[0] == default and not locale.lower().startswith(default.split("-")[0].lower())):
            known = ", ".join(sorted(message.locales))
            raise PreviewError(f"no wording for locale {locale!r} in {message.source} (it has {known})")
    if tier is not None:
        tiers = {name for wording in message.locales.values() for name in wording.tiers}
        if tier not in tiers:
            known = ", ".join(sorted(tiers)) or "none"
            raise PreviewError(f"no wording for tier {tier!r} in {message.source} (tiers: {known})")


def display_width(text: str) -> int:
    """Columns a terminal gives the text (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def describe(result: Preview) -> list[str]:
    """The preview as the lines the command prints."""
    spec = result.trigger
    lines = [f"{spec.id} ({spec.kind}, {spec.category}) for customer {result.customer}"]
    if not spec.enabled:
        lines.append("  (switched off: what it would send once enabled)")
    if not result.decisions:
        return [*lines, "  no decision: the trigger never fired for this customer"]
    for decision in result.decisions:
        lines.append(
            f"  {decision.outcome}{f' ({decision.reason})' if decision.reason else ''} at {rfc3339(decision.at)}"
        )
        message = decision.message
        if message is None:
            continue
        lines.append(f"  to {message.to}, locale {message.locale}, configuration {decision.config_version}")
        for channel_message in (message, *message.fallbacks):
            lines.extend(_describe_message(result, channel_message, channel_message is not message))
        refused = ", ".join(f"{channel} ({why})" for channel, why in decision.channels)
        if refused:
            lines.append(f"  not on: {refused}")
    return lines


def _describe_message(result: Preview, message: Message, fallback: bool) -> list[str]:
    lines: list[str] = []
    if fallback:
        lines.append(f"  then, if not delivered: on {CHANNEL_NAMES[message.channel]} to {message.to}")
    shown = message.body.splitlines()
    if message.channel == "line":
        lines.append(f"  LINE Flex bubble (alternative text: {message.body})" if message.flex else "  LINE text")
        if message.flex:
            shown = flex_texts(message.flex)
        if message.replies:
            shown.append("  ".join(f"( {label} )" for _, label in message.replies))
    elif message.channel == "sms":
        parts = sms_parts(message.body)
        lines.append(f"  SMS, {parts.count} part{'s' if parts.count != 1 else ''} ({parts.encoding})")
    elif message.template is not None:
        use = message.template
        lines.append(f"  WhatsApp template {use.name!r} ({use.language})")
        for position, (name, text) in enumerate(use.parameters, 1):
            lines.append(f"    {{{{{name or position}}}}} = {text}")
        for sub_type, index, value in use.buttons:
            lines.append(f"    button {index} ({sub_type}): {value}")
        record = result.registry.find(use.name, use.language) if result.registry is not None else None
        if record is not None:
            where = (
                " in the shipped example registry" if result.registry is not None and result.registry.example else ""
            )
            lines.append(f"  as WhatsApp renders the template ({record.status}{where}, {record.category}):")
            shown = _rendered_lines(render(record, use.parameters))
        elif result.registry is not None:
            lines.append(
                f"  WhatsApp has no template {use.name!r} in {use.language}: nothing would be delivered "
                "(submit it, then engagement templates sync); the message file's text:"
            )
        else:
            lines.append(
                f"  the approved template's own text is not known here (no {REGISTRY_FILE}: "
                "engagement templates sync); the message file's text, which WhatsApp does not send:"
            )
    else:
        lines.append("  free-form text (WhatsApp delivers it only inside the 24 h service window)")
    lines.extend(_box(shown))
    return lines


def _rendered_lines(rendered: Rendered) -> list[str]:
    out = [f"*{rendered.header}*"] if rendered.header else []
    out.extend(rendered.body.splitlines())
    if rendered.footer:
        out.append(f"_{rendered.footer}_")
    if rendered.buttons:
        out.append("  ".join(f"[ {label} ]" for label in rendered.buttons))
    return out


def _box(text: list[str]) -> list[str]:
    width = max((display_width(line) for line in text), default=0)
    return ["  ┌" + "─" * (width + 2), *(f"  │ {line}" for line in text), "  └" + "─" * (width + 2)]
