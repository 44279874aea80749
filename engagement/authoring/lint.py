"""`engagement messages lint`: style rules for WhatsApp messages, as errors and warnings.

Rules (limits and lists can be changed in `_lint.yaml` of the message directory):

* paragraph_lines (warning): paragraphs of at most 3 lines;
* length (warning): at most 60 characters for CJK text, 160 for Latin text, as the sample customer sees it;
* exclamations (warning): at most 2 exclamation marks;
* call_to_action (warning): the message ends with a question or an action the customer can take;
* banned_phrase (error): none of the banned phrases;
* opt_out (error): every marketing message offers an opt-out (an opt-out keyword in its text,
  or a quick-reply button or reply button whose payload is one);
* no_template (warning): proactive messages need an approved WhatsApp template;
* no_fallback (warning): a value the customer may not have, used with no fallback (such
  customers get no message: `template_error`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engagement.authoring.channel_checks import channel_problems
from engagement.authoring.preview import preview
from engagement.authoring.template_checks import check_templates
from engagement.config.bundle import Configuration
from engagement.config.loader import (
    ConfigProblem,
    InvalidConfig,
    line_of,
    parse_yaml,
    plain_message,
    read_config_text,
)
from engagement.config.template_registry import TemplateRegistry
from engagement.core.catalog import MessageSpec
from engagement.core.decisions import Message
from engagement.core.engine import Engine
from engagement.core.profile import ALWAYS_OPT_OUT
from engagement.core.text_template import TextTemplate

LINT_FILE = "_lint.yaml"
Severity = Literal["error", "warning"]
ALWAYS_PRESENT = frozenset({"order_id", "login_time", "cart_count"})
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


class LintRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_paragraph_lines: Annotated[int, Field(ge=1)] = 3
    max_chars_cjk: Annotated[int, Field(ge=1)] = 60
    max_chars_latin: Annotated[int, Field(ge=1)] = 160
    max_exclamations: Annotated[int, Field(ge=0)] = 2
    banned_phrases: list[str] = ["不可能", "不懂", "這不是我們的責任", "應該可以"]
    call_to_action: list[str] = [
        "回覆",
        "點擊",
        "點選",
        "查看",
        "確認",
        "聯繫",
        "聯絡",
        "前往",
        "立即",
        "回复",
        "点击",
        "点选",
        "确认",
        "联系",
        "联络",
        "追蹤",
        "追踪",
        "reply",
        "tap",
        "click",
        "check",
        "confirm",
        "visit",
        "view",
        "call",
        "let us know",
        "track",
    ]


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    line: int
    severity: Severity
    where: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.where}: {self.message} [{self.rule}]"


def load_rules(messages_dir: Path) -> LintRules:
    """The rules, with the changes of `_lint.yaml` in the message directory (when there is one)."""
    path = messages_dir / LINT_FILE
    if not path.is_file():
        return LintRules()
    text, unreadable = read_config_text(path)
    if unreadable is not None:
        raise InvalidConfig([unreadable])
    node, data, broken = parse_yaml(str(path), text)
    if broken is not None:
        raise InvalidConfig([broken])
    try:
        return LintRules.model_validate(data or {})
    except ValidationError as exc:
        raise InvalidConfig(
            [
                ConfigProblem(str(path), line_of(node, list(e["loc"])), ".".join(map(str, e["loc"])), plain_message(e))
                for e in exc.errors(include_url=False)
            ]
        ) from None


def lint(
    configuration: Configuration, rules: LintRules, engine: Engine, registry: TemplateRegistry | None = None
) -> list[Finding]:
    """Every finding for every message of the configuration; `engine` (of the same configuration)
    fills each text for the sample customer, to measure what a customer would see; `registry`,
    when there is one, is what WhatsApp has approved (see `template_checks`)."""
    findings: list[Finding] = []
    for _owner, message in sorted(configuration.messages.messages.items()):
        served = [
            spec.id
            for spec in engine.specs.values()
            if configuration.messages.message_for(spec.id, spec.kind) is message
        ]

        def shown(locale: str, tier: str | None, served: list[str] = served) -> str | None:
            for trigger_id in served:
                sends = [d for d in preview(engine, trigger_id, None, locale, tier).decisions if d.message]
                if sends and sends[0].message is not None:
                    return sends[0].message.body
            return None

        findings.extend(_lint_message(message, rules, shown, engine.opt_out_keywords))
        findings.extend(_lint_channels(engine, message, served))
        if registry is not None:

            def report(
                line: int,
                severity: Severity,
                where: str,
                rule: str,
                text: str,
                source: str = message.source,
                live: bool = bool(served),
            ) -> None:
                if not live:  # no enabled trigger sends it (an example not taken up): a reminder, not an error
                    severity, text = "warning", f"{text} (before a trigger sending this message is enabled)"
                findings.append(Finding(source, line, severity, where, rule, text))

            def sample(locale: str, tier: str | None, served: list[str] = served) -> Message | None:
                for trigger_id in served:
                    sends = [d for d in preview(engine, trigger_id, None, locale, tier).decisions if d.message]
                    if sends:
                        return sends[0].message
                return None

            check_templates(message, registry, report, sample)
    return findings


def _lint_message(
    message: MessageSpec,
    rules: LintRules,
    shown: Callable[[str, str | None], str | None],
    opt_out_keywords: frozenset[str],
) -> list[Finding]:
    """`opt_out_keywords`: the replies that really opt a customer out (the engine's, casefolded)."""
    lines = (
        Path(message.source).read_text(encoding="utf-8", errors="replace").splitlines()
        if Path(message.source).is_file()
        else []
    )
    source = message.source
    out: list[Finding] = []

    def line_with(needle: str) -> int:
        first = needle.strip().splitlines()[0] if needle.strip() else needle
        return next((n for n, line in enumerate(lines, 1) if first and first in line), 1)

    keywords = sorted(opt_out_keywords)
    buttons = message.template.buttons if message.template is not None else ()
    button_opt_out = any(b.sub_type == "quick_reply" and b.value.source.casefold() in keywords for b in buttons)
    if message.template is None:
        out.append(
            Finding(
                source,
                1,
                "warning",
                message.owner,
                "no_template",
                "no approved WhatsApp template: sent as free-form text, which WhatsApp delivers only "
                "inside the 24 h service window",
            )
        )
    undeliverable = message.undeliverable_tiers()
    for locale, name in undeliverable:
        out.append(
            Finding(
                source,
                line_with(message.locales[locale].tiers[name].text.source),
                "error",
                f"{locale} (tier {name})",
                "tier_never_delivered",
                f"{name} customers read the approved template {message.template.name if message.template else ''}, "
                "never this text: give the tier a template of its own (template:, parameters:) or remove it",
            )
        )
    for locale, wording in sorted(message.locales.items()):
        variants = [(None, wording.text)] + [
            (name, t.text) for name, t in sorted(wording.tiers.items()) if (locale, name) not in undeliverable
        ]
        for tier, text in variants:
            where = locale if tier is None else f"{locale} (tier {tier})"
            line = line_with(text.source)
            for rule, severity, problem in _text_problems(text, shown(locale, tier), rules):
                out.append(Finding(source, line, severity, where, rule, problem))
            reply_opt_out = any(reply_id.casefold() in keywords for reply_id, _ in wording.replies)
            if message.category == "marketing" and not (button_opt_out or reply_opt_out):
                body = text.source.casefold()
                if not any(k in body for k in keywords):
                    out.append(
                        Finding(
                            source,
                            line,
                            "error",
                            where,
                            "opt_out",
                            "a marketing message must offer an opt-out: an opt-out keyword in the text "
                            "or a quick-reply button whose payload is one",
                        )
                    )
    out.extend(_lint_answers(message, rules, line_with))
    for text in message.templates():
        for name in text.required():
            if name not in ALWAYS_PRESENT:
                out.append(
                    Finding(
                        source,
                        line_with("{{" + name),
                        "warning",
                        message.owner,
                        "no_fallback",
                        f"{{{{{name}}}}} has no fallback: customers without it get no message "
                        f"(write {{{{{name}|...}}}} or {{{{{name}?}}}})",
                    )
                )
    return out


def _lint_channels(engine: Engine, message: MessageSpec, served: list[str]) -> list[Finding]:
    """The LINE and SMS forms of the message, as the sample customer would get them there."""
    listed = frozenset(channel for trigger_id in served for channel in engine.all_specs[trigger_id].channels)

    def sample(channel: str, locale: str) -> Message | None:
        for trigger_id in served:
            sends = [d for d in preview(engine, trigger_id, None, locale, channel=channel).decisions if d.message]
            if sends:
                return sends[0].message
        return None

    lines = Path(message.source).read_text(encoding="utf-8", errors="replace").splitlines()
    problems = channel_problems(message, listed, sample, ALWAYS_OPT_OUT | engine.opt_out_keywords)
    return [
        Finding(message.source, _line_of(lines, p.needle), p.severity, p.where, p.rule, p.text)  # type: ignore[arg-type]
        for p in problems
    ]


def _line_of(lines: list[str], needle: str) -> int:
    first = needle.strip().splitlines()[0] if needle.strip() else needle
    return next((n for n, line in enumerate(lines, 1) if first and first in line), 1)


def _lint_answers(message: MessageSpec, rules: LintRules, line_with: Callable[[str], int]) -> list[Finding]:
    """Answers: their texts (banned phrases, length), the locales they miss, and the buttons no
    answer covers (a tap then goes to people)."""
    out: list[Finding] = []
    source = message.source
    answers = {**message.answers, **({"default": message.default_answer} if message.default_answer else {})}
    for answer in answers.values():
        for locale, text in sorted(answer.texts.items()):
            where = f"answers.{answer.name}.{locale}"
            for rule, severity, problem in _text_problems(text, None, rules):
                if rule in ("banned_phrase", "length"):
                    out.append(Finding(source, line_with(text.source), severity, where, rule, problem))
        missing = sorted(set(message.locales) - set(answer.texts)) if answer.texts else []
        if missing:
            out.append(
                Finding(
                    source,
                    line_with(answer.name + ":"),
                    "warning",
                    f"answers.{answer.name}",
                    "answer_locale",
                    f"no answer text in {', '.join(missing)}: those customers' replies go to people",
                )
            )
    buttons = message.template.buttons if message.template is not None else ()
    for button in buttons:
        value = button.value.source
        if button.sub_type == "quick_reply" and message.default_answer is None and message.answer_to(value) is None:
            out.append(
                Finding(
                    source,
                    line_with(value),
                    "warning",
                    f"button {value}",
                    "button_unanswered",
                    f"no answer for the button {value!r} and no default: a tap goes to people "
                    "(add it under answers:, or a default)",
                )
            )
    return out


def _text_problems(text: TextTemplate, filled: str | None, rules: LintRules) -> list[tuple[str, Severity, str]]:
    """`filled`: the text as the sample customer sees it (None when the sample got no message)."""
    problems: list[tuple[str, Severity, str]] = []
    raw = text.source.strip()
    for phrase in rules.banned_phrases:
        if phrase and phrase in raw:
            problems.append(("banned_phrase", "error", f"banned phrase {phrase!r}"))
    for paragraph in re.split(r"\n\s*\n", raw):
        count = len([line for line in paragraph.splitlines() if line.strip()])
        if count > rules.max_paragraph_lines:
            problems.append(
                ("paragraph_lines", "warning", f"a paragraph of {count} lines (at most {rules.max_paragraph_lines})")
            )
    shown = filled if filled is not None else raw
    length = len(shown.replace("\n", ""))
    cjk = len(_CJK.findall(shown)) * 2 >= len(re.sub(r"\s", "", shown))
    limit = rules.max_chars_cjk if cjk else rules.max_chars_latin
    if length > limit:
        script = "CJK" if cjk else "Latin"
        problems.append(
            ("length", "warning", f"{length} characters as the sample customer sees it ({script}: at most {limit})")
        )
    marks = shown.count("!") + shown.count("\uff01")  # ASCII and full-width
    if marks > rules.max_exclamations:
        problems.append(("exclamations", "warning", f"{marks} exclamation marks (at most {rules.max_exclamations})"))
    last = [line for line in shown.splitlines() if line.strip()][-1:] or [""]
    ending = last[0].strip().casefold()
    if not (ending.endswith(("?", "\uff1f")) or any(word.casefold() in ending for word in rules.call_to_action)):
        problems.append(("call_to_action", "warning", "no call to action at the end (a question, or what to do next)"))
    return problems
