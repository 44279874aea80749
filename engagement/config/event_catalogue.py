"""The event catalogue (`triggers/_events.yaml`): event types beyond the contract's, and optional
fields added to contract types, each field with a type and an optional description:

    shipment.arrived_at_store:
      description: the parcel waits at a convenience store's counter
      fields: {order_id: string, shipment_id: string, store_name: string?, pickup_deadline: time}
    order.placed:                      # a contract type: optional fields added to it
      fields: {payment_method: string?, payment_deadline: time?}

Types: `string`, `number`, `bool`, `time` (RFC 3339 with an offset), each with `?` when the field
may be left out. A field may also be written `{type: time, description: ...}`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from engagement.config.yaml_files import ConfigProblem, line_of, parse_yaml, read_config_text
from engagement.core.event_types import (
    EMPTY,
    ENVELOPE,
    FIELD_TYPES,
    EventCatalogue,
    EventDecl,
    FieldDecl,
    contract_fields,
    contract_models,
    merged,
)
from engagement.events import EVENT_TYPES

__all__ = [
    "CATALOGUE_FILE",
    "EMPTY",
    "ENVELOPE",
    "FIELD_TYPES",
    "EventCatalogue",
    "EventDecl",
    "FieldDecl",
    "contract_fields",
    "dump_catalogue",
    "load_catalogue",
    "merged",
    "with_catalogue",
]

CATALOGUE_FILE = "_events.yaml"
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,3}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TYPES = 64
MAX_FIELDS = 32
MAX_DESCRIPTION = 500
# `{store_name: string?}`: YAML reads `?` inside braces as syntax, so such a type is quoted first
_OPTIONAL_IN_FLOW = re.compile(r"(:\s*)(string|number|bool|time)\?(?=\s*[,}])")


def load_catalogue(directory: Path) -> tuple[EventCatalogue, list[ConfigProblem], str]:
    """The catalogue of a trigger directory (empty without `_events.yaml`), its problems, its text."""
    path = directory / CATALOGUE_FILE
    if not path.is_file():
        return EMPTY, [], ""
    text, unreadable = read_config_text(path)
    if unreadable is not None:
        return EMPTY, [unreadable], text
    node, data, problem = parse_yaml(str(path), _OPTIONAL_IN_FLOW.sub(r'\1"\2?"', text))
    if problem is not None:
        return EMPTY, [problem], text
    problems: list[ConfigProblem] = []

    def problem_at(where: list[int | str], message: str) -> None:
        problems.append(ConfigProblem(str(path), line_of(node, where), ".".join(map(str, where)) or "-", message))

    if data is None:
        return EMPTY, [], text
    if not isinstance(data, dict):
        problem_at([], "the catalogue maps event types to their fields")
        return EMPTY, problems, text
    if len(data) > MAX_TYPES:
        problem_at([], f"{len(data)} event types; at most {MAX_TYPES}")
        return EMPTY, problems, text
    declared: dict[str, EventDecl] = {}
    for name, body in data.items():
        decl = _event_decl(str(name), body, problem_at)
        if decl is not None:
            declared[decl.type] = decl
    return EventCatalogue(declared), problems, text


def _event_decl(name: str, body: object, problem_at: Any) -> EventDecl | None:
    if not TYPE_NAME.match(name):
        problem_at([name], "an event type is lowercase words joined by dots, such as shipment.arrived_at_store")
        return None
    if not isinstance(body, dict) or not set(body) <= {"fields", "description"}:
        problem_at([name], "an event type has `fields` (name: type) and an optional `description`")
        return None
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        problem_at([name, "fields"], "fields map names to types: string, number, bool or time (? when optional)")
        return None
    if len(fields) > MAX_FIELDS:
        problem_at([name, "fields"], f"{len(fields)} fields; at most {MAX_FIELDS}")
        return None
    contract = name in EVENT_TYPES
    model = contract_models().get(name)
    scalars = contract_fields(name)
    existing = {f: scalars.get(f, "list or object") for f in model.model_fields} if model else {}
    out: list[FieldDecl] = []
    for field_name, spec in fields.items():
        where = [name, "fields", str(field_name)]
        declared = _field_decl(str(field_name), spec)
        if isinstance(declared, str):
            problem_at(where, declared)
            continue
        if declared.name in ENVELOPE:
            problem_at(where, f"{declared.name} is part of every event; it is not declared")
        elif contract and declared.name in existing:
            problem_at(where, f"{name} has {declared.name} already (a {existing[declared.name]}); "
                              "the catalogue adds fields to a contract type, it does not redefine them")  # fmt: skip
        elif contract and not declared.optional:
            problem_at(where, f"a field added to the contract type {name} is optional: {declared.type}?")
        else:
            out.append(declared)
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        problem_at([name, "description"], f"a description is text of at most {MAX_DESCRIPTION} characters")
        description = ""
    return EventDecl(name, tuple(out), description, contract)


def _field_decl(name: str, spec: object) -> FieldDecl | str:
    """The field, or why it is not one."""
    if not FIELD_NAME.match(name):
        return "a field name is lowercase letters, digits and _, starting with a letter (at most 40)"
    description = ""
    if isinstance(spec, dict):
        if not set(spec) <= {"type", "description"} or "type" not in spec:
            return "a field is a type, or {type: ..., description: ...}"
        description = spec.get("description") or ""
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            return f"a description is text of at most {MAX_DESCRIPTION} characters"
        spec = spec["type"]
    if not isinstance(spec, str):
        return "a field's type is one of string, number, bool, time (with ? when it may be left out)"
    optional = spec.endswith("?")
    base = spec.removesuffix("?")
    if base not in FIELD_TYPES:
        return f"unknown type {spec!r}; one of string, number, bool, time (with ? when it may be left out)"
    return FieldDecl(name, base, optional, description)


def dump_catalogue(catalogue: EventCatalogue) -> str:
    """The catalogue as YAML (what `_events.yaml` could say), for docs and tests."""
    data = {
        decl.type: {"fields": {f.name: f.type + ("?" if f.optional else "") for f in decl.fields}}
        for decl in catalogue.declared.values()
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


_FIELD_SCHEMA: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "maxLength": 1000},
    "number": {"type": "number", "minimum": -1e12, "maximum": 1e12},
    "bool": {"type": "boolean"},
    "time": {"type": "string", "format": "date-time"},
}


def with_catalogue(schema: dict[str, Any], catalogue: EventCatalogue) -> dict[str, Any]:
    """The events' JSON Schema (`events_json_schema`) with the catalogue's types and fields added."""
    defs, mapping = schema["$defs"], schema["discriminator"]["mapping"]
    for decl in catalogue.declared.values():
        properties = {f.name: {**_FIELD_SCHEMA[f.type], **({"description": f.description} if f.description else {})}
                      for f in decl.fields}  # fmt: skip
        if decl.contract:
            defs[mapping[decl.type].rsplit("/", 1)[1]]["properties"].update(properties)
            continue
        name = "Declared_" + decl.type.replace(".", "_")
        envelope = {k: v for k, v in defs["OrderPlaced"]["properties"].items() if k in ENVELOPE}
        defs[name] = {
            "title": decl.type,
            "description": decl.description or f"{decl.type} (declared in triggers/_events.yaml)",
            "type": "object",
            "properties": {**envelope, "type": {"const": decl.type, "type": "string"}, **properties},
            "required": ["event_id", "customer_id", "occurred_at", "type",
                         *(f.name for f in decl.fields if not f.optional)],
        }  # fmt: skip
        mapping[decl.type] = f"#/$defs/{name}"
        schema["oneOf"].append({"$ref": f"#/$defs/{name}"})
    return schema
