"""Decoding raw bytes into events at the edge; bad input becomes a `Rejection`, never an exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from engagement.events import (
    CUSTOMER_ID_PATTERN,
    EVENT_ADAPTER,
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    MOMENT_RANGE,
    NO_CONTROLS,
    REPLY_TEXT,
    CustomerId,
    Event,
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one input item was not accepted. `field` is a dotted path, or `body` for the whole item."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


_validate_json: Callable[[bytes | str], Event] = EVENT_ADAPTER.validator.validate_json  # what the adapter calls


def decode_event(raw: bytes | str) -> Event | Rejection:
    """Validate one serialized event. Never raises for bad input."""
    size = len(raw.encode()) if isinstance(raw, str) else len(raw)
    if size > MAX_EVENT_BYTES:
        return Rejection("body", f"payload of {size} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")
    try:
        return _validate_json(raw)
    except ValidationError as exc:
        return rejection_from(exc)


def decode_item(item: object) -> Event | Rejection:
    """Validate one already-parsed JSON value (an item of a posted array)."""
    # Re-serialising keeps one validation path (JSON mode) for every input route,
    # so strictness and timestamp parsing are the same for HTTP arrays and JSONL.
    return decode_event(json.dumps(item, ensure_ascii=False).encode())


_CUSTOMER_ID: TypeAdapter[str] = TypeAdapter(CustomerId)


def customer_id_problem(customer_id: str) -> str | None:
    """Why a customer id from a path or a command line is not one an event could carry, or None."""
    try:
        _CUSTOMER_ID.validate_python(customer_id)
    except ValidationError as exc:
        return rejection_from(exc).reason
    return None


def rejection_from(exc: ValidationError) -> Rejection:
    """The first error of a pydantic failure, phrased for a backend engineer."""
    first = exc.errors(include_url=False)[0]
    return _describe(first)


_NO_CONTROLS_WORDS = "control characters (line breaks, NUL, escapes) are not allowed"
_PATTERN_WORDS = {
    NO_CONTROLS: _NO_CONTROLS_WORDS,
    REPLY_TEXT: _NO_CONTROLS_WORDS,
    CUSTOMER_ID_PATTERN: "neither `.` nor `..`, and no control characters (line breaks, NUL, escapes)",
}


def _describe(err: ErrorDetails) -> Rejection:
    kind = err["type"]
    loc = [str(p) for p in err["loc"]]
    if kind == "json_invalid":
        return Rejection("body", f"malformed JSON ({err.get('ctx', {}).get('error', 'invalid')})")
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return Rejection("body", "an event must be a JSON object")
    if kind == "union_tag_not_found":
        return Rejection("type", "missing: every event needs a `type`")
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", "?")
        return Rejection("type", f"unknown event type {tag!r}; expected one of {', '.join(EVENT_TYPES)}")
    # loc starts with the union tag (the event type); drop it so the path names the field.
    if loc and loc[0] in EVENT_TYPES:
        loc = loc[1:]
    path = ".".join(loc) or "body"
    msg = err["msg"]
    if kind == "timezone_aware":
        msg = "naive timestamp: an RFC 3339 offset (Z or +08:00) is required"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") in _PATTERN_WORDS:
        msg = _PATTERN_WORDS[err["ctx"]["pattern"]]
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind in ("greater_than_equal", "less_than") and isinstance(err.get("input"), str):
        msg = MOMENT_RANGE  # the only bounded strings are times (numbers arrive as numbers)
    elif kind == "finite_number":
        msg = "must be a finite number"
    return Rejection(path, msg)
