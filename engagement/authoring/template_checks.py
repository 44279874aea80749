"""Lint of each message against the template registry (`_templates.lock.json`): the template
exists at WhatsApp in every language the message uses, is APPROVED, has the message's category,
and takes exactly the parameters and buttons the message gives.

Rules: template_missing, template_status (PAUSED, DISABLED, REJECTED, PENDING, ...: errors),
template_category, template_parameters, template_buttons (errors), template_quality (a low
quality rating: a warning), and template_text (an error): a locale's `text`, filled for the
sample customer, must read as the approved body filled with the same customer's parameters;
the customer reads the approved body, so a `text` that says more or else misleads whoever
previews or backtests it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from engagement.config.template_registry import TemplateRecord, TemplateRegistry, render
from engagement.core.catalog import MessageSpec, Variant
from engagement.core.decisions import Message

Severity = Literal["error", "warning"]
Report = Callable[[int, Severity, str, str, str], None]  # line, severity, where, rule, message

CATEGORIES = {"marketing": ("MARKETING",), "utility": ("UTILITY",), "security": ("UTILITY", "AUTHENTICATION")}
LOW_QUALITY = frozenset({"LOW", "RED", "YELLOW"})


def check_templates(
    message: MessageSpec,
    registry: TemplateRegistry,
    report: Report,
    sample: Callable[[str, str | None], Message | None],
) -> None:
    """`sample(locale, tier)`: the message as the sample customer of that locale and tier gets it
    (None if none). Every template a customer can receive is checked: the message's, in each
    language, and each tier's own."""
    if message.template is None:
        return
    for variant in message.variants():
        if variant.template is None:
            continue
        tier = f", tier {variant.tier}" if variant.tier else ""
        where = f"{variant.locale}{tier} ({variant.template}, {variant.language})"
        line = _line_of(message.source, "template:" if variant.tier is None else variant.template)
        record = registry.find(variant.template, variant.language)
        if record is None:
            known = ", ".join(registry.languages_of(variant.template)) or "none"
            report(
                line,
                "error",
                where,
                "template_missing",
                f"WhatsApp has no template {variant.template!r} in {variant.language} (languages: {known}); "
                f"submit it (engagement templates submit) and sync",
            )
            continue
        _check_record(message, variant, record, where, line, report)
        sent = sample(variant.locale, variant.tier)
        if sent is not None and sent.template is not None and sent.template.name == variant.template:
            approved = render(record, sent.template.parameters).body
            if _plain(approved) != _plain(sent.body):
                report(
                    _line_of(message.source, variant.text.source.strip().splitlines()[0]),
                    "error",
                    where,
                    "template_text",
                    f"the text does not read as the approved body, which the customer gets: {approved!r}",
                )


def _check_record(
    message: MessageSpec, variant: Variant, record: TemplateRecord, where: str, line: int, report: Report
) -> None:
    template = message.template
    assert template is not None  # noqa: S101 (checked by the caller)
    if record.status.upper() != "APPROVED":
        report(line, "error", where, "template_status", f"the template is {record.status} at WhatsApp, not APPROVED")
    wanted = CATEGORIES.get(message.category, ())
    if record.category and record.category.upper() not in wanted:
        report(
            line,
            "error",
            where,
            "template_category",
            f"a {message.category} message sent as a {record.category} template (WhatsApp wants {' or '.join(wanted)})",
        )
    if record.quality_score and record.quality_score.upper() in LOW_QUALITY:
        report(
            line, "warning", where, "template_quality", f"WhatsApp rates the template's quality {record.quality_score}"
        )
    placeholders = record.body_placeholders()
    named = any(name is not None for name, _ in variant.parameters)
    if record.named():
        given = sorted(name or "" for name, _ in variant.parameters)
        if given != sorted(placeholders):
            report(
                line,
                "error",
                where,
                "template_parameters",
                f"the approved body takes the named parameters {sorted(placeholders)}; the message gives {given}",
            )
    elif len(variant.parameters) != len(placeholders) or named:
        report(
            line,
            "error",
            where,
            "template_parameters",
            f"the approved body takes {len(placeholders)} positional parameters; the message gives "
            f"{len(variant.parameters)}{' named' if named else ''}",
        )
    approved_buttons = record.button_types()
    given_buttons = [b.sub_type for b in template.buttons]
    if approved_buttons != given_buttons:
        report(
            line,
            "error",
            where,
            "template_buttons",
            f"the approved template has the buttons {approved_buttons}; the message gives {given_buttons}",
        )


def _plain(text: str) -> str:
    return " ".join(text.split())


def _line_of(source: str, needle: str) -> int:
    path = Path(source)
    if not path.is_file():
        return 1
    for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if needle in text:
            return number
    return 1
