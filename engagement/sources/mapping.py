"""What every source shares: the result of mapping one delivery, the memory a source keeps between
deliveries, and the readers that turn a platform's values into contract values, each naming the
platform's field when it cannot."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from engagement.config.source_options import value_at
from engagement.events import EARLIEST, LATEST

MAX_ITEMS = 100  # line items kept in one mapped cart or order
MAX_TEXT = 500
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
_DIGITS = re.compile(r"[\s\-().]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


class Unmappable(ValueError):
    """A delivery (or one event of a batch) that cannot be mapped; `field` is the platform's."""

    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(f"{field_path}: {reason}")
        self.field = field_path
        self.reason = reason


@dataclass
class MappedEvent:
    """A contract event as a dict, and for each of its fields the platform field it came from
    (so a rejection names what the platform sent)."""

    event: dict[str, Any]
    origin: dict[str, str] = field(default_factory=dict)

    def source_field(self, contract_field: str) -> str:
        head, _, rest = contract_field.partition(".")
        where = self.origin.get(head)
        if where is None:
            return contract_field
        return f"{where}.{rest}" if rest else where


@dataclass
class Mapped:
    """What one delivery (or one event of a batch) became: events, or why it was left
    (`ignored`: of no use to any trigger, answered 200), and notes for the sender."""

    events: list[MappedEvent] = field(default_factory=list)
    ignored: str | None = None
    notes: list[str] = field(default_factory=list)


def left(reason: str) -> Mapped:
    return Mapped(ignored=reason)


class SourceMemory(Protocol):
    """What sources remember between deliveries, shared by every process of a runtime (the
    embedded store for `run`, Redis for workers). Values are small JSON texts with a time to live;
    each is filed under the customer it is about, so erasing a customer erases them."""

    async def recall(self, key: str) -> str | None: ...

    async def remember(self, key: str, customer_id: str, value: str, ttl_seconds: float) -> None: ...

    async def drop(self, key: str) -> None: ...


def event_id(source: str, delivery: str, index: int = 0) -> str:
    """An event id from the platform's delivery or message id: the same delivery maps to the
    same ids, which the engine takes once. Ids too long or with odd characters are hashed."""
    if len(delivery) <= 80 and re.fullmatch(r"[0-9A-Za-z_.:@/+=-]+", delivery):
        return f"{source}-{delivery}-{index}"
    return f"{source}-{hashlib.sha256(delivery.encode()).hexdigest()[:40]}-{index}"


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


def obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unmappable(where, "expected a JSON object")
    return value


def get(payload: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    return value_at(payload, path)


def ident(value: object, where: str, required: bool = True) -> str | None:
    """A platform id (number or string) as a string of 1..128 characters."""
    if value is None or value == "":
        if required:
            raise Unmappable(where, "required field is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Unmappable(where, "expected an id (a string or a whole number)")
    text = str(value)
    if len(text) > 128 or _CONTROLS.search(text):
        raise Unmappable(where, "an id of at most 128 characters without control characters")
    return text


def text(value: object, where: str, limit: int = MAX_TEXT) -> str | None:
    """Optional text: trimmed to `limit` characters, control characters replaced by spaces."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unmappable(where, "expected a string")
    cleaned = _CONTROLS.sub(" ", value).strip()
    return cleaned[:limit] or None


def moment(value: object, where: str, required: bool = True) -> str | None:
    """An RFC 3339 time with an offset (as the platforms send them), or milliseconds since the
    epoch, as RFC 3339 text; naive or out-of-range times are refused."""
    if value is None or value == "":
        if required:
            raise Unmappable(where, "required field is missing")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not -1e15 < value < 1e15:  # a float of it would overflow, or no time at all
            raise Unmappable(where, "out of range: a time must be between 1970 and 2100")
        seconds = value / 1000 if value > 1e11 else value
        if not math.isfinite(seconds) or not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
            raise Unmappable(where, "out of range: a time must be between 1970 and 2100")
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    if not isinstance(value, str) or len(value) > 40:
        raise Unmappable(where, "expected an RFC 3339 time with an offset")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise Unmappable(where, "expected an RFC 3339 time with an offset") from None
    if parsed.tzinfo is None:
        raise Unmappable(where, "naive timestamp: an RFC 3339 offset (Z or +08:00) is required")
    if not EARLIEST <= parsed < LATEST:
        raise Unmappable(where, "out of range: a time must be between 1970 and 2100")
    return parsed.isoformat()


def seconds_of(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def amount(value: object, where: str, required: bool = True) -> float | None:
    """A money amount: a number, or a decimal string as Shopify sends prices."""
    if value is None or value == "":
        if required:
            raise Unmappable(where, "required field is missing")
        return None
    if isinstance(value, bool):
        raise Unmappable(where, "expected an amount")
    try:
        number = float(value) if isinstance(value, int | float | str) and len(str(value)) <= 40 else math.nan
    except (ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or number < 0 or number > 1e12:
        raise Unmappable(where, "expected a finite, non-negative amount")
    return round(number, 4)


def quantity(value: object, where: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unmappable(where, "expected a whole number")
    if not 1 <= value <= 100_000 or value != int(value):
        raise Unmappable(where, "a whole number between 1 and 100000")
    count = int(value)
    if not 1 <= count <= 100_000:
        raise Unmappable(where, "a quantity between 1 and 100000")
    return count


def phone(value: object, where: str, calling_code: str | None = None) -> str | None:
    """An E.164 number from what a shop stored: spaces, dashes and brackets dropped; `00`
    prefixes read as `+`; a national number (`0912345678`) with the calling code given."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise Unmappable(where, "expected a phone number")
    number = _DIGITS.sub("", str(value))
    if number.startswith("00"):
        number = "+" + number[2:]
    if not number.startswith("+") and calling_code and number.isdigit():
        number = "+" + calling_code.lstrip("+") + number.lstrip("0")
    if not _PHONE.match(number):
        raise Unmappable(where, "not a phone number in E.164 (+886912345678) or with its country code")
    return number


def currency(value: object, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise Unmappable(where, "expected an ISO 4217 currency code (TWD)")
    return value.upper()


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
