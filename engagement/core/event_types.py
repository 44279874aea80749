"""Event types beyond the contract's, as the event catalogue (`triggers/_events.yaml`, read by
`engagement.config.event_catalogue`) declares them: what the decoder checks and what the sequence
triggers' expressions may read."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from engagement.events import EVENT_TYPES, ContractEvent

FIELD_TYPES = ("string", "number", "bool", "time")
ENVELOPE = {"event_id": "string", "customer_id": "string", "occurred_at": "time", "type": "string"}


@dataclass(frozen=True, slots=True)
class FieldDecl:
    name: str
    type: str  # string, number, bool, time
    optional: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class EventDecl:
    type: str
    fields: tuple[FieldDecl, ...]
    description: str = ""
    contract: bool = False  # fields added to a contract type


@dataclass(frozen=True, slots=True)
class EventCatalogue:
    declared: Mapping[str, EventDecl] = field(default_factory=dict)

    def knows(self, event_type: str) -> bool:
        return event_type in EVENT_TYPES or event_type in self.declared

    def fields_of(self, event_type: str) -> dict[str, str]:
        """Every field of a type with its type (contract fields, added ones, the envelope), for
        expressions; `{}` for a type nobody declared."""
        if not self.knows(event_type):
            return {}
        found = {**ENVELOPE, **contract_fields(event_type)}
        decl = self.declared.get(event_type)
        if decl is not None:
            found.update({f.name: f.type for f in decl.fields})
        return found

    def optional_fields(self, event_type: str) -> frozenset[str]:
        decl = self.declared.get(event_type)
        return frozenset(f.name for f in decl.fields if f.optional) if decl else frozenset()


EMPTY = EventCatalogue()


def merged(live: EventCatalogue, *earlier: EventCatalogue) -> EventCatalogue:
    """Every type any of them declares (the live catalogue's word first): what a runtime accepts
    while timers armed under earlier configurations still wait."""
    declared: dict[str, EventDecl] = {}
    for catalogue in (*earlier, live):
        declared.update(catalogue.declared)
    return EventCatalogue(declared)


def contract_fields(event_type: str) -> dict[str, str]:
    """The scalar fields of a contract type, typed as expressions see them."""
    model = contract_models().get(event_type)
    if model is None:
        return {}
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        kind = _scalar(info.annotation)
        if kind is not None and name != "type":
            out[name] = kind
    return out


@lru_cache(maxsize=1)
def contract_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for model in get_args(get_args(ContractEvent)[0]):
        models[get_args(model.model_fields["type"].annotation)[0]] = model
    return models


def _scalar(annotation: Any) -> str | None:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalar(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        found = {_scalar(a) for a in get_args(annotation) if a is not type(None)}
        return found.pop() if len(found) == 1 else None
    if origin is Literal:
        return "string" if all(isinstance(v, str) for v in get_args(annotation)) else None
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    if annotation is str:
        return "string"
    if annotation is AwareDatetime or (isinstance(annotation, type) and issubclass(annotation, datetime)):
        return "time"
    return None
