"""Decoding raw bytes into events at the edge; bad input becomes a `Rejection`, never an exception.

May import: `core`, `events`, `timefmt`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from engagement.core.event_types import EMPTY, EventCatalogue, FieldDecl
from engagement.events import (
    CONTROL_CHARS,
    CUSTOMER_ID_PATTERN,
    EARLIEST,
    EVENT_ADAPTER,
    EVENT_TYPES,
    LATEST,
    MAX_AMOUNT,
    MAX_EVENT_BYTES,
    MOMENT_RANGE,
    NO_CONTROLS,
    REPLY_TEXT,
    CustomerId,
    DeclaredEvent,
    Event,
)
from engagement.timefmt import parse_rfc3339


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one input item was not accepted. `field` is a dotted path, or `body` for the whole item."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


_validate_json: Callable[[bytes | str], Event] = EVENT_ADAPTER.validator.validate_json  # what the adapter calls


_active: list[EventCatalogue] = [EMPTY]


def use_catalogue(catalogue: EventCatalogue) -> None:
    """The event catalogue this process decodes with (the live configuration's; it reloads with it)."""
    _active[0] = catalogue


def active_catalogue() -> EventCatalogue:
    return _active[0]


def decode_event(raw: bytes | str, catalogue: EventCatalogue | None = None) -> Event | Rejection:
    """Validate one serialized event: a contract type, or one the catalogue (by default the
    process's, `use_catalogue`) declares. Never raises for bad input."""
    size = len(raw.encode()) if isinstance(raw, str) else len(raw)
    if size > MAX_EVENT_BYTES:
        return Rejection("body", f"payload of {size} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")
    known = catalogue or _active[0]
    try:
        event = _validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "union_tag_invalid" and known.declared:
            return _declared(raw, known, first)
        return rejection_from(exc)
    extra = event.__pydantic_extra__
    if extra:  # fields the type does not have: kept only where the catalogue adds them
        decl = known.declared.get(event.type)
        kept = _declared_fields(decl.fields, extra, False) if decl is not None else {}
        if isinstance(kept, Rejection):
            return kept
        object.__setattr__(event, "__pydantic_extra__", kept)
    return event


_DECLARED: TypeAdapter[DeclaredEvent] = TypeAdapter(DeclaredEvent)


def _declared(raw: bytes | str, catalogue: EventCatalogue, unknown: ErrorDetails) -> Event | Rejection:
    """An event of a declared type, its fields checked against the catalogue; `unknown`: what the
    contract said of its type."""
    tag = str(unknown.get("ctx", {}).get("tag", ""))
    decl = catalogue.declared.get(tag)
    if decl is None or decl.contract:
        known = ", ".join([*EVENT_TYPES, *(t for t, d in catalogue.declared.items() if not d.contract)])
        return Rejection("type", f"unknown event type {tag!r}; expected one of {known}")
    try:
        event = _DECLARED.validate_json(raw)
    except ValidationError as exc:
        return rejection_from(exc)
    kept = _declared_fields(decl.fields, event.__pydantic_extra__ or {}, True)
    if isinstance(kept, Rejection):
        return kept
    object.__setattr__(event, "__pydantic_extra__", kept)
    return event


MAX_DECLARED_STRING = 1000
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$", re.ASCII)
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")


def _declared_fields(fields: tuple[FieldDecl, ...], given: dict[str, Any], whole: bool) -> dict[str, Any] | Rejection:
    """The declared fields among `given`, each checked against its type; a missing field that is
    not optional is refused (`whole`: the type is the catalogue's own, not a contract type's)."""
    kept: dict[str, Any] = {}
    for decl in fields:
        value = given.get(decl.name)
        if value is None:
            if whole and not decl.optional:
                return Rejection(decl.name, f"required field is missing (a {decl.type}, triggers/_events.yaml)")
            continue
        problem = _field_problem(decl.type, value)
        if problem is not None:
            return Rejection(decl.name, problem)
        kept[decl.name] = value
    return kept


def _field_problem(kind: str, value: object) -> str | None:
    if kind == "string":
        if not isinstance(value, str) or len(value) > MAX_DECLARED_STRING:
            return f"a string of at most {MAX_DECLARED_STRING:,} characters is expected"
        return _NO_CONTROLS_WORDS if _CONTROL.search(value) else None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "a number is expected"
        if isinstance(value, int):  # a whole number of any length: compared before it becomes a float
            return None if abs(value) <= MAX_AMOUNT else "a finite number of at most 10^12"
        return None if math.isfinite(value) and abs(value) <= MAX_AMOUNT else "a finite number of at most 10^12"
    if kind == "bool":
        return None if isinstance(value, bool) else "true or false is expected"
    if not isinstance(value, str) or len(value) > 64 or not _RFC3339.match(value):
        return "an RFC 3339 time such as 2026-11-20T10:00:00+08:00 is expected"
    try:
        at = parse_rfc3339(value)
    except ValueError as exc:
        return str(exc) if "offset" in str(exc) else "an RFC 3339 time such as 2026-11-20T10:00:00+08:00 is expected"
    return None if EARLIEST.timestamp() <= at < LATEST.timestamp() else MOMENT_RANGE


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
