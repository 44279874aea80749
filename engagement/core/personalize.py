"""The personalization values a message may use, taken from the customer's state when a timer fires.

Every value is text formatted for the message's locale (money with its currency, dates in the
customer's time zone), or None when the state does not have it: the text template then uses
its fallback, leaves the line out, or cannot be filled (`template_error`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engagement.core.state import Profile

# What a voucher formula may use (amounts in the order's currency).
FORMULA_VALUES = frozenset({"shipping_fee", "order_total"})

_SYMBOLS = {"TWD": "NT$", "CNY": "¥", "HKD": "HK$", "USD": "US$", "JPY": "¥", "EUR": "€", "GBP": "£", "SGD": "S$"}


def common_values(profile: Profile | None) -> dict[str, str | None]:
    """The values every kind's messages may use (see `kinds.registry.VARIABLES`)."""
    return {"customer_name": _name(profile)}


# Values that come from events, with the length each may reach in a message. Free text (names)
# must also not carry a link or a phone number: a customer or a compromised backend could
# otherwise make a trusted template say "call +1 555 ..." or "verify at http://...".
FREE_TEXT_LIMITS: Mapping[str, int] = {"customer_name": 60, "product_name": 80, "cart_items": 120, "carrier": 40}
ID_LIMITS: Mapping[str, int] = {"order_id": 64, "tracking_number": 64}
_WHITESPACE = re.compile(r"\s+")
_LINK = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|me|ly|info|biz|xyz|top|tw|cn|hk|app|link|site|online|shop)\b)"
)
_PHONE_LIKE = re.compile(r"\+?\d(?:[\s().-]?\d){6,}")


def safe_value(text: str, limit: int, free_text: bool) -> str | None:
    """`text` fit for a template parameter: line breaks, tabs and runs of spaces collapsed to one
    space (WhatsApp refuses new lines and more than 4 spaces in a row), cut to `limit` characters;
    None (the fallback) when free text holds a link or a phone number."""
    cleaned = _WHITESPACE.sub(" ", text).strip()
    cleaned = "".join(c for c in cleaned if c.isprintable())
    if not cleaned:
        return None
    if free_text and (_LINK.search(cleaned) or _PHONE_LIKE.search(cleaned)):
        return None
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """A tracking link is kept only as a plain http(s) URL without spaces."""
    if url is None or not url.startswith(("https://", "http://")) or _WHITESPACE.search(url) or len(url) > 2048:
        return None
    return url if url.isprintable() else None


def safe_values(values: dict[str, str | None]) -> dict[str, str | None]:
    for name, value in values.items():
        if value is None:
            continue
        if name in FREE_TEXT_LIMITS:
            values[name] = safe_value(value, FREE_TEXT_LIMITS[name], free_text=True)
        elif name in ID_LIMITS:
            values[name] = safe_value(value, ID_LIMITS[name], free_text=False)
        elif name == "tracking_url":
            values[name] = safe_url(value)
    return values


def money(amount: float, currency: str | None) -> str:
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
