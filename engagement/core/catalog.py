"""Messages per trigger and locale, as plain data: the approved WhatsApp template each maps to,
the wording per locale (with variants per customer tier), and the locale fallback chain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    label: str = ""  # its text, for submitting the template


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


@dataclass(frozen=True, slots=True)
class Wording:
    """One locale's wording: the template's language code at WhatsApp, the text customers see
    (the preview text), and variants by customer tier (for example `vip`)."""

    language: str
    text: TextTemplate
    tiers: Mapping[str, TextTemplate] = field(default_factory=dict)
    replies: tuple[tuple[str, str], ...] = ()  # (id, title) reply buttons of the free-form message
    parameters: tuple[tuple[str | None, TextTemplate], ...] | None = None  # this language's, if its own

    def for_tier(self, tier: str | None) -> TextTemplate:
        if tier is not None:
            variant = self.tiers.get(tier)
            if variant is not None:
                return variant
        return self.text


@dataclass(frozen=True, slots=True)
class MessageSpec:
    owner: str  # a trigger id, or a kind (then it serves every trigger of that kind without its own)
    category: str
    locales: Mapping[str, Wording]
    template: WhatsAppTemplate | None = None
    source: str = ""  # the file it came from

    def templates(self) -> list[TextTemplate]:
        """Every text with placeholders in this message."""
        out: list[TextTemplate] = []
        for wording in self.locales.values():
            out.append(wording.text)
            out.extend(wording.tiers.values())
            out.extend(t for _, t in wording.parameters or ())
        if self.template is not None:
            out.extend(t for _, t in self.template.parameters)
            out.extend(b.value for b in self.template.buttons)
        return out


@dataclass(frozen=True, slots=True)
class MessageCatalog:
    messages: Mapping[str, MessageSpec]
    locales: LocaleFallbacks = field(default_factory=LocaleFallbacks)
    version: str = "builtin"
    held: frozenset[tuple[str, str]] = frozenset()  # (template, language) WhatsApp paused or disabled

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
