"""Message texts per trigger and locale, as plain data, and the locale fallback chain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

FALLBACK_LOCALE = "en"
# A language without its own text falls back to the variant most customers read.
_LANGUAGE_DEFAULTS = {"zh": "zh-TW"}
_REGION_FALLBACKS = {"zh-HK": "zh-TW", "zh-MO": "zh-TW", "zh-SG": "zh-CN"}


def locale_chain(locale: str | None) -> list[str]:
    """`zh-HK` -> [zh-HK, zh-TW, zh, en]: the order in which texts are looked for."""
    chain: list[str] = []
    if locale:
        chain.append(locale)
        if locale in _REGION_FALLBACKS:
            chain.append(_REGION_FALLBACKS[locale])
        language = locale.split("-")[0].lower()
        if language in _LANGUAGE_DEFAULTS:
            chain.append(_LANGUAGE_DEFAULTS[language])
        chain.append(language)
    chain.append(FALLBACK_LOCALE)
    return list(dict.fromkeys(chain))


@dataclass(frozen=True, slots=True)
class MessageCatalog:
    """`texts[trigger id or kind][locale] = text`; a trigger's own texts win over its kind's."""

    texts: Mapping[str, Mapping[str, str]]
    version: str = "builtin"

    def text_for(self, trigger_id: str, kind: str, locale: str | None) -> tuple[str, str]:
        """(locale used, text). Raises KeyError when neither the trigger nor its kind has any text."""
        for owner in (trigger_id, kind):
            texts = self.texts.get(owner)
            if not texts:
                continue
            for candidate in locale_chain(locale):
                if candidate in texts:
                    return candidate, texts[candidate]
            first = sorted(texts)[0]
            return first, texts[first]
        raise KeyError(f"no message text for trigger {trigger_id!r} (kind {kind!r})")
