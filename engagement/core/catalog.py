"""Messages per trigger and locale, as plain data: the approved WhatsApp template each maps to,
the wording per locale (with variants per customer tier), and the locale fallback chain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engagement.core.text_template import TextTemplate


def canonical_locale(tag: str) -> str:
    """BCP 47 case: `zh-tw` -> `zh-TW`, `zh-hant-tw` -> `zh-Hant-TW`, `EN` -> `en`."""
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())  # a script
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())  # a region
        else:
            out.append(part.lower())
    return "-".join(out)


@dataclass(frozen=True, slots=True)
class LocaleFallbacks:
    """`chain("zh-HK")` -> [zh-HK, zh-TW, zh, en]: the locale itself, its listed fallbacks, its
    language alone and that language's fallbacks, then `default`."""

    fallbacks: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"zh-HK": ("zh-TW",), "zh-MO": ("zh-TW",), "zh-SG": ("zh-CN",), "zh": ("zh-TW",)}
    )
    default: str = "en"

    def chain(self, locale: str | None) -> list[str]:
        chain: list[str] = []
        if locale:
            locale = canonical_locale(locale)  # a profile may say zh-tw
            language = locale.split("-")[0].lower()
            for step in (locale, language):
                chain.append(step)
                chain.extend(self.fallbacks.get(step, ()))
        chain.append(self.default)
        return list(dict.fromkeys(chain))


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """A button of the approved template: a quick-reply payload or a URL suffix (placeholders allowed)."""

    sub_type: str
    value: TextTemplate
    label: str = ""  # its text, for submitting the template (and what a preview shows)
    labels: Mapping[str, str] = field(default_factory=dict)  # its text per locale, where it differs

    def label_for(self, locale: str) -> str:
        return self.labels.get(locale) or self.label or self.value.source


@dataclass(frozen=True, slots=True)
class WhatsAppTemplate:
    """The approved template a message maps to. `parameters`: body parameters in order ({{1}},
    {{2}}, ...), or by name when `named`; each is a text with placeholders."""

    name: str
    parameters: tuple[tuple[str | None, TextTemplate], ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()

    @property
    def named(self) -> bool:
        return any(name is not None for name, _ in self.parameters)


Parameters = tuple[tuple[str | None, TextTemplate], ...]


@dataclass(frozen=True, slots=True)
class Tier:
    """What the customers of one tier (for example `vip`) read instead: a text of their own and,
    for a message sent as a WhatsApp template, a template of their own with its parameters. A
    template message's tier without a template of its own cannot be delivered: its customers
    read the message's approved template (lint reports it)."""

    text: TextTemplate
    template: str | None = None
    parameters: Parameters | None = None


@dataclass(frozen=True, slots=True)
class Wording:
    """One locale's wording: the template's language code at WhatsApp, the text customers see
    (the preview text), and variants by customer tier (for example `vip`)."""

    language: str
    text: TextTemplate
    tiers: Mapping[str, Tier] = field(default_factory=dict)
    replies: tuple[tuple[str, str], ...] = ()  # (id, title) reply buttons of the free-form message
    parameters: Parameters | None = None  # this language's, if its own


@dataclass(frozen=True, slots=True)
class Variant:
    """What one locale's customers of one tier (None: no tier of its own) receive: the template
    sent (None: free-form text) with its parameters, and the text they read."""

    locale: str
    tier: str | None
    language: str
    template: str | None
    parameters: Parameters
    text: TextTemplate


ANSWER_ACTIONS = ("opt_out", "not_me", "handoff")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a reply gets: a free-form text per locale, or an action (`opt_out`, `not_me`,
    `handoff`). `name`: the button value or keyword it answers, `default`, or `keyword:<first term>`."""

    name: str
    action: str | None = None
    texts: Mapping[str, TextTemplate] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeywordAnswer:
    """`messages/_answers.yaml`: an answer for any reply that contains one of `terms` (casefolded)."""

    terms: tuple[str, ...]
    answer: Answer


@dataclass(frozen=True, slots=True)
class LineWording:
    """A message's LINE form in one locale: a text with quick-reply buttons, or a Flex bubble
    (`flex`: the bubble with its strings as templates; `text` is then its alternative text)."""

    text: TextTemplate
    quick_replies: tuple[tuple[str, str], ...] = ()  # (value, label): postback buttons
    flex: FlexNode | None = None

    def templates(self) -> list[TextTemplate]:
        return [self.text, *flex_templates(self.flex)]


FlexNode = Any
"""A Flex bubble as JSON data (dicts, lists, numbers), its strings as templates."""


def flex_templates(node: FlexNode) -> list[TextTemplate]:
    if isinstance(node, TextTemplate):
        return [node]
    if isinstance(node, dict):
        return [t for value in node.values() for t in flex_templates(value)]
    if isinstance(node, list):
        return [t for item in node for t in flex_templates(item)]
    return []


@dataclass(frozen=True, slots=True)
class MessageSpec:
    owner: str  # a trigger id, or a kind (then it serves every trigger of that kind without its own)
    category: str
    locales: Mapping[str, Wording]
    template: WhatsAppTemplate | None = None
    source: str = ""  # the file it came from
    answers: Mapping[str, Answer] = field(default_factory=dict)  # casefolded button value or keyword -> answer
    default_answer: Answer | None = None  # any other reply to this message
    line: Mapping[str, LineWording] = field(default_factory=dict)  # per locale: the LINE form
    sms: Mapping[str, TextTemplate] = field(default_factory=dict)  # per locale: the SMS text

    def answer_to(self, reply: str | None) -> Answer | None:
        """The answer to a button value or a whole reply (trimmed, any case)."""
        if reply is None:
            return None
        return self.answers.get(reply.strip().casefold())

    def variant(self, locale: str, wording: Wording, tier: str | None) -> Variant:
        """What a customer of `tier` reading `locale` receives. Sent as a template, they read its
        approved body: a tier's own template if it names one, else the message's (and then the
        message's text, whatever the tier's says)."""
        base = self.template
        parameters = wording.parameters if wording.parameters is not None else (base.parameters if base else ())
        chosen = wording.tiers.get(tier) if tier is not None else None
        if chosen is None:
            return Variant(locale, None, wording.language, base.name if base else None, parameters, wording.text)
        if base is None:
            return Variant(locale, tier, wording.language, None, (), chosen.text)
        if chosen.template is None:  # undeliverable tier text: the customer reads the message's template
            return Variant(locale, None, wording.language, base.name, parameters, wording.text)
        own = chosen.parameters if chosen.parameters is not None else parameters
        return Variant(locale, tier, wording.language, chosen.template, own, chosen.text)

    def variants(self) -> list[Variant]:
        """Every (locale, tier) a customer can receive, the locale's own first."""
        out: list[Variant] = []
        for locale, wording in sorted(self.locales.items()):
            out.append(self.variant(locale, wording, None))
            out.extend(v for tier in sorted(wording.tiers) if (v := self.variant(locale, wording, tier)).tier)
        return out

    def undeliverable_tiers(self) -> list[tuple[str, str]]:
        """(locale, tier) whose text no customer ever reads: a tier without a template of its own
        in a message sent as a template."""
        if self.template is None:
            return []
        return [
            (locale, tier)
            for locale, wording in sorted(self.locales.items())
            for tier, chosen in sorted(wording.tiers.items())
            if chosen.template is None
        ]

    def answer_texts(self) -> list[TextTemplate]:
        """Every answer text, the default's included."""
        answers = [*self.answers.values(), *([self.default_answer] if self.default_answer else [])]
        return [text for answer in answers for text in answer.texts.values()]

    def templates(self) -> list[TextTemplate]:
        """Every text with placeholders in this message."""
        out: list[TextTemplate] = []
        for wording in self.locales.values():
            out.append(wording.text)
            for chosen in wording.tiers.values():
                out.append(chosen.text)
                out.extend(t for _, t in chosen.parameters or ())
            out.extend(t for _, t in wording.parameters or ())
        if self.template is not None:
            out.extend(t for _, t in self.template.parameters)
            out.extend(b.value for b in self.template.buttons)
        for line in self.line.values():
            out.extend(line.templates())
        out.extend(self.sms.values())
        return out

    def quick_replies(
        self, locale: str, wording: Wording, values: Mapping[str, str | None]
    ) -> tuple[tuple[str, str], ...]:
        """(value, label) of the buttons a customer may tap, for a channel without a section of its
        own: the template's quick replies (label in the locale), else the free-form replies."""
        if self.template is not None:
            return tuple(
                (b.value.render(values), b.labels.get(locale, b.label))
                for b in self.template.buttons
                if b.sub_type == "quick_reply"
            )
        return wording.replies


@dataclass(frozen=True, slots=True)
class MessageCatalog:
    messages: Mapping[str, MessageSpec]
    locales: LocaleFallbacks = field(default_factory=LocaleFallbacks)
    version: str = "builtin"
    held: frozenset[tuple[str, str]] = frozenset()  # (template, language) WhatsApp paused or disabled
    keywords: tuple[KeywordAnswer, ...] = ()  # `_answers.yaml`: answers for any reply

    def message_for(self, trigger_id: str, kind: str) -> MessageSpec | None:
        """A trigger's own message wins over its kind's."""
        return self.messages.get(trigger_id) or self.messages.get(kind)

    def wording(self, message: MessageSpec, locale: str | None) -> tuple[str, Wording] | None:
        """(locale used, wording) along the fallback chain; None when no locale of the chain has one."""
        for candidate in self.locales.chain(locale):
            wording = message.locales.get(candidate)
            if wording is not None:
                return candidate, wording
        return None
