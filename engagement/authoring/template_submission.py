"""What `engagement templates submit` asks WhatsApp to approve, and what `messages test` sends.

A locale's `text` becomes the template's body: each placeholder is replaced by the parameter
that carries the same value (`{{customer_name|您好}}` -> `{{1}}` when the first parameter is
`{{customer_name|...}}`; by name for named parameters), and the sample customer's values are the
example Meta's reviewers see. Quick-reply buttons are submitted with their labels.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from engagement.authoring.preview import PreviewError, preview
from engagement.core.catalog import MessageSpec, Wording
from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.text_template import PLACEHOLDER
from engagement.live.sender import outbound_for
from engagement.providers.base import OutboundMessage

CATEGORIES = {"marketing": "MARKETING", "utility": "UTILITY", "security": "UTILITY"}
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}\Z")


class SubmissionError(ValueError):
    """The message file cannot become a template as it stands; the message says what to change."""


def submissions(engine: Engine, trigger_id: str, locale: str | None = None) -> list[tuple[str, str | None]]:
    """(locale, tier) of every template the trigger's message is sent as: each language's, then
    each tier's own (a tier without a template of its own has none to submit)."""
    spec = engine.all_specs.get(trigger_id)
    message = engine.catalog.message_for(spec.id, spec.kind) if spec is not None else None
    if message is None:
        return [(locale or "", None)]
    return [
        (v.locale, v.tier)
        for v in message.variants()
        if v.template is not None and (locale is None or v.locale == locale)
    ] or [(locale or "", None)]


def template_payload(engine: Engine, trigger_id: str, locale: str, tier: str | None = None) -> dict[str, Any]:
    """The template submission of one language (and tier) of a trigger's message."""
    message, wording = _message_and_wording(engine, trigger_id, locale)
    assert message.template is not None  # noqa: S101 (checked above)
    variant = message.variant(locale, wording, tier)
    if tier is not None and variant.tier != tier:
        raise SubmissionError(f"{message.source}: the {locale} tier {tier!r} has no template of its own")
    parameters = variant.parameters
    named = any(name is not None for name, _ in parameters)
    carried: dict[str, str] = {}
    for position, (name, text) in enumerate(parameters, 1):
        for value in text.names():
            carried.setdefault(value, name if named and name is not None else str(position))

    def slot(match: re.Match[str]) -> str:
        value = match.group(1)
        if value not in carried:
            raise SubmissionError(
                f"{message.source}: the {locale} text uses {{{{{value}}}}}, which no template parameter carries"
            )
        return f"{{{{{carried[value]}}}}}"

    body = PLACEHOLDER.sub(slot, variant.text.source.strip())
    sample = sample_send(engine, trigger_id, locale, tier)
    values = [parameter.text for parameter in sample.template.body] if sample.template is not None else []
    component: dict[str, Any] = {"type": "BODY", "text": body}
    if values:
        component["example"] = (
            {
                "body_text_named_params": [
                    {"param_name": n, "example": v} for (n, _), v in zip(parameters, values, strict=True)
                ]
            }
            if named
            else {"body_text": [values]}
        )
    components: list[dict[str, Any]] = [component]
    buttons = []
    for button in message.template.buttons:
        if button.sub_type != "quick_reply":
            raise SubmissionError(f"{message.source}: a {button.sub_type} button is made in WhatsApp Manager")
        buttons.append({"type": "QUICK_REPLY", "text": button.label_for(locale)})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    payload: dict[str, Any] = {
        "name": variant.template,
        "language": wording.language,
        "category": CATEGORIES[message.category],
        "components": components,
    }
    if named:
        payload["parameter_format"] = "NAMED"
    return payload


def sample_send(engine: Engine, trigger_id: str, locale: str | None, tier: str | None = None) -> OutboundMessage:
    """The trigger's message as the sample customer (in that locale and tier) would get it."""
    try:
        decisions = preview(engine, trigger_id, None, locale, tier).decisions
    except PreviewError as exc:
        raise SubmissionError(str(exc)) from None
    sends: list[Decision] = [d for d in decisions if d.message is not None]
    outbound = outbound_for(sends[0]) if sends else None
    if outbound is None:
        raise SubmissionError(f"the sample customer gets no message from {trigger_id!r}")
    return outbound


def test_message(engine: Engine, trigger_id: str, to: str, locale: str | None, tier: str | None) -> OutboundMessage:
    """The sample message, addressed to `to`, under a key of its own that no real send has."""
    if not _PHONE.match(to):
        raise SubmissionError(f"--to {to!r} is not an E.164 phone number such as +886912345678")
    sample = sample_send(engine, trigger_id, locale, tier)
    return OutboundMessage(
        f"test-{uuid.uuid4().hex[:16]}",
        sample.trigger,
        "test",
        to,
        sample.locale,
        sample.category,
        sample.body,
        sample.template,
        sample.replies,
    )


def _message_and_wording(engine: Engine, trigger_id: str, locale: str) -> tuple[MessageSpec, Wording]:
    spec = engine.all_specs.get(trigger_id)  # a new trigger's templates are submitted before it is switched on
    if spec is None:
        raise SubmissionError(f"no trigger {trigger_id!r}; triggers: {', '.join(sorted(engine.all_specs))}")
    message = engine.catalog.message_for(spec.id, spec.kind)
    if message is None or message.template is None:
        raise SubmissionError(f"the message of {trigger_id!r} names no WhatsApp template")
    wording = message.locales.get(locale)
    if wording is None:
        raise SubmissionError(f"{message.source} has no {locale!r} text (it has {', '.join(sorted(message.locales))})")
    return message, wording
