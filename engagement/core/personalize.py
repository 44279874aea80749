"""The personalization values a message may use, taken from the customer's state when a timer fires.

Every value is text formatted for the message's locale (money with its currency, dates in the
customer's time zone), or None when the state does not have it: the text template then uses
its fallback, leaves the line out, or cannot be filled (`template_error`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from engagement.core.state import Profile
from engagement.events import MAX_AMOUNT

# What a voucher formula may use (amounts in the order's currency).
FORMULA_VALUES = frozenset({"shipping_fee", "order_total"})

_SYMBOLS = {"TWD": "NT$", "CNY": "¥", "HKD": "HK$", "USD": "US$", "JPY": "¥", "EUR": "€", "GBP": "£", "SGD": "S$"}


def common_values(profile: Profile | None) -> dict[str, str | None]:
    """The values every kind's messages may use (see `kinds.registry.VARIABLES`)."""
    return {"customer_name": _name(profile)}


# Values that come from events, each checked against what its kind of value may hold (an
# allow-list), with the length it may reach in a message. A customer or a compromised backend must
# not be able to make a trusted template say "call +1 555 ..." or "verify at evil.ru/login": a
# value that does not pass is replaced by its fallback (or, with none, the message is not sent).
PERSON_NAMES: Mapping[str, int] = {"customer_name": 60}
PRODUCT_TEXT: Mapping[str, int] = {"product_name": 80, "cart_items": 120, "carrier": 40}
FREE_TEXT_LIMITS: Mapping[str, int] = {**PERSON_NAMES, **PRODUCT_TEXT}
ID_LIMITS: Mapping[str, int] = {"order_id": 64, "tracking_number": 64}
LINKS = frozenset({"tracking_url", "cart_url", "order_url"})
_WHITESPACE = re.compile(r"\s+")
# Punctuation a name may hold (O'Brien, Jean-Luc, Dr. Chen, 陳 小明); a product name also the
# punctuation of sizes, sets and brands (Tee (M) 2-pack, 50% off, S/M, Size: L, 「限定」).
_NAME_PUNCTUATION = frozenset(" .'-·・‧,")
_PRODUCT_PUNCTUATION = _NAME_PUNCTUATION | frozenset("&()/+#%:!?*[]_~、，（）「」『』【】《》〈〉！？：；")
_ID = re.compile(r"[A-Za-z0-9#][A-Za-z0-9_#/-]*\Z")
_DIGIT_GROUPS = re.compile(r"\+?\d+(?:[-/]\d+){2,}\Z")  # 1-800-555-0199: a phone number, not an id
# What reads as a link or a phone number in allowed characters, looked for once every dot-like
# character (。．· ‧ ・ ꓸ ᐧ, "[.]") reads as a dot: a dot between two letters or digits (evil.ru,
# 1.2.3.4; a decimal 2.5L is one dot between digits), a spaced dot before a lowercase word
# (evil .ru), "://", "www."; and seven digits or more in all.
_DOTTED_WORD = re.compile(
    r"(?:[^\W_]\.[A-Za-z])|(?:\d\.\d+\.\d)|(?:[^\W_]\s+\.\s*[a-z]{2})|(?:[^\W_]\.\s+[a-z]{2,24}\b)"
)
# Letters of the scripts names and products are written in; others (Lisu, Canadian syllabics, ...)
# hold look-alikes of dots and slashes and are refused.
SCRIPTS = (
    "LATIN", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC", "CYRILLIC", "GREEK",
    "THAI", "ARABIC", "HEBREW", "DEVANAGARI", "BENGALI", "TAMIL", "KHMER", "LAO", "MYANMAR", "GEORGIAN",
    "ARMENIAN", "COMBINING",
)  # fmt: skip
_BRACKETED_DOT = re.compile(r"[\[({<]\s*\.\s*[\])}>]")
MAX_DIGITS = 6  # digits a product name or carrier may hold in all (a phone number has seven or more)


def _dot_like(char: str) -> bool:
    name = unicodedata.name(char, "")
    return char in "。．｡·‧・⋅∙" or "FULL STOP" in name or " DOT" in name or "PERIOD" in name


def _reads_as_link_or_number(plain: str) -> bool:
    dotted = "".join("." if _dot_like(c) else c for c in _BRACKETED_DOT.sub(".", plain))
    if _DOTTED_WORD.search(dotted) or "://" in dotted or "www." in dotted.casefold():
        return True
    return sum(c.isdigit() for c in plain) > MAX_DIGITS


def safe_value(text: str, limit: int, free_text: bool, names_only: bool = False) -> str | None:
    """`text` fit for a template parameter: line breaks, tabs and runs of spaces collapsed to one
    space (WhatsApp refuses new lines and more than 4 spaces in a row), cut to `limit` characters;
    None (the fallback) when it holds a character its kind does not allow (an identifier: letters,
    digits, `_ # / -`, and not only groups of digits; free text: letters, marks, digits and a little
    punctuation; a name: no digits either), or, for free text, what reads as a link or a phone number."""
    cleaned = _WHITESPACE.sub(" ", text).strip()
    if not cleaned or not cleaned.isprintable():
        return None
    if not free_text:
        ok = len(cleaned) <= limit and _ID.match(cleaned) and not _DIGIT_GROUPS.match(cleaned)
        return cleaned if ok else None
    plain = unicodedata.normalize("NFKC", cleaned)  # fullwidth letters, digits and dots as ASCII ones
    allowed = _NAME_PUNCTUATION if names_only else _PRODUCT_PUNCTUATION
    for char in plain:
        if char in allowed:
            continue
        kind = unicodedata.category(char)[0]
        if kind not in "LM" and (names_only or kind != "N"):
            return None
        if kind in "LM" and not unicodedata.name(char, "").startswith(SCRIPTS):
            return None
    if _reads_as_link_or_number(plain):
        return None
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#\[\]!$&'()*+,;=%-]*\Z")  # RFC 3986, without "@" and "\\"


def safe_url(url: str | None, domains: Iterable[str] = ()) -> str | None:
    """A link is kept only as a plain http(s) URL to one of the shop's own domains (`domains`, and
    their subdomains): URL characters only (no user name, no backslash, no spaces), at most 2,048."""
    if url is None or not url.startswith(("https://", "http://")) or len(url) > 2048:
        return None
    if not _URL_CHARACTERS.match(url):  # a backslash reads as "/" in a browser: evil.ru\.shop.example.com
        return None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if not host:
        return None
    return url if any(host == d or host.endswith("." + d) for d in domains) else None


def safe_values(values: dict[str, str | None], link_domains: Iterable[str] = ()) -> dict[str, str | None]:
    for name, value in values.items():
        if value is None:
            continue
        if name in FREE_TEXT_LIMITS:
            values[name] = safe_value(value, FREE_TEXT_LIMITS[name], free_text=True, names_only=name in PERSON_NAMES)
        elif name in ID_LIMITS:
            values[name] = safe_value(value, ID_LIMITS[name], free_text=False)
        elif name in LINKS:
            values[name] = safe_url(value, link_domains)
    return values


def money(amount: float, currency: str | None) -> str | None:
    """An amount as the customer reads it; None for one no message should show (not finite, or
    beyond 10^12: a bug upstream or a formula gone wrong, never a price)."""
    if not math.isfinite(amount) or abs(amount) > MAX_AMOUNT:
        return None
    digits = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    if currency is None:
        return digits
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{digits}" if symbol else f"{currency} {digits}"


def when(t: float, zone: str, chinese: bool, with_time: bool = False) -> str:
    local = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(zone))
    day = f"{local.month}月{local.day}日" if chinese else f"{local.day} {local:%b}"
    return f"{day} {local:%H:%M}" if with_time else day


def _name(profile: Profile | None) -> str | None:
    if profile is None or profile.name is None:
        return None
    name = profile.name.strip()
    return name if name and name.lower() not in ("none", "null", "undefined") else None
