"""Decoding benchmark: what turning a line into a typed event costs, by decoder.

Usage: python -m tests.benchmarks.bench_decode [EVENTS.jsonl] [--customers N] [--repeat N]
Without a file it generates a synthetic shop day first (see shop_day.py). Each round times, over
every line: `json.loads` alone (the yardstick of the replay's targets); `decode_event`, the
decoder every runtime uses (pydantic-core validating the event models of `engagement.events`,
and the catalogue's extra fields); the bare pydantic-core validator without that wrapper; and,
where `msgspec` is installed (`pip install msgspec`; it is not a dependency), msgspec decoding
into structs generated from the same pydantic models with the same limits (lengths, patterns,
number ranges, literal values: one description of each event, no second one written by hand),
checked afterwards for what msgspec's limits cannot say (size, time range, time zone name, each
channel once), and the same structs without any limit (what the limits cost msgspec). Every line
is decoded by both first and compared field by field; the lines they disagree on are shown (one
known: fractions of a second finer than microseconds, which pydantic cuts and msgspec rounds).
Only the lines `decode_event` accepts are timed.
"""

from __future__ import annotations

import functools
import importlib
import json
import operator
import re
import statistics
import time
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from engagement.decode import Rejection, _validate_json, decode_event
from engagement.events import EARLIEST, LATEST, MAX_EVENT_BYTES, ContractEvent
from tests.benchmarks.shop_day import day_arguments

Decoder = Callable[[bytes], object]


def contract_models() -> list[type[BaseModel]]:
    """The event models of the contract's union, in its order."""
    union = typing.get_args(ContractEvent)[0]
    return list(typing.get_args(union))


def msgspec_decoder(limits: bool = True) -> Decoder | None:
    """A msgspec decoder of every contract event, generated from the pydantic models (None
    without msgspec), followed by the checks msgspec's constraints cannot express; without
    `limits`, the same structs with no constraint and no check (what the limits cost)."""
    try:
        msgspec = importlib.import_module("msgspec")
    except ImportError:
        return None
    structs: dict[type[BaseModel], Any] = {}

    def constraints(metadata: list[Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for item in metadata if limits else ():
            if isinstance(item, FieldInfo):
                found.update(constraints(item.metadata))
            elif isinstance(item, MinLen):
                found["min_length"] = item.min_length
            elif isinstance(item, MaxLen):
                found["max_length"] = item.max_length
            elif isinstance(item, Ge) and not isinstance(item.ge, datetime):
                found["ge"] = item.ge
            elif isinstance(item, Le):
                found["le"] = item.le
            elif getattr(item, "pattern", None) is not None:
                # Python's `$` also matches before a final line feed; pydantic-core's, only at the end
                found["pattern"] = re.sub(r"\$$", r"\\Z", item.pattern)
        return found

    def convert(annotation: Any, metadata: list[Any]) -> Any:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            inner, *extra = typing.get_args(annotation)
            return convert(inner, [*metadata, *extra])
        if origin in (typing.Union, types.UnionType):
            members = [convert(a, metadata if a is not type(None) else []) for a in typing.get_args(annotation)]
            return functools.reduce(operator.or_, members)
        if origin is list:
            (item,) = typing.get_args(annotation)
            limits = constraints(metadata)
            of = types.GenericAlias(list, (convert(item, []),))
            return typing.Annotated[of, msgspec.Meta(**limits)] if limits else of
        if annotation is AwareDatetime:
            return typing.Annotated[datetime, msgspec.Meta(tz=True)]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return struct_of(annotation)
        limits = constraints(metadata)
        return typing.Annotated[annotation, msgspec.Meta(**limits)] if limits else annotation

    def struct_of(model: type[BaseModel]) -> Any:
        if model not in structs:
            tag = model.model_fields.get("type")
            required, optional = [], []
            for name, info in model.model_fields.items():
                if name == "type":
                    continue
                kind = convert(info.annotation, list(info.metadata))
                if info.is_required():
                    required.append((name, kind))
                else:
                    optional.append((name, kind, info.default))
            options: dict[str, Any] = {"frozen": True}
            if tag is not None:
                options.update(tag_field="type", tag=typing.get_args(tag.annotation)[0])
            structs[model] = msgspec.defstruct(model.__name__, [*required, *optional], **options)
        return structs[model]

    events = [struct_of(model) for model in contract_models()]
    decode = msgspec.json.Decoder(functools.reduce(operator.or_, events)).decode
    earliest, latest, zones = EARLIEST, LATEST, frozenset(available_timezones())

    def decode_checked(raw: bytes) -> object:
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError("too large")
        event = decode(raw)
        if not earliest <= event.occurred_at < latest:
            raise ValueError("occurred_at out of range")
        zone = getattr(event, "timezone", None)
        if zone is not None and zone not in zones:
            raise ValueError("unknown time zone")
        channels = getattr(event, "channels", None)
        if channels is not None and len(set(channels)) != len(channels):
            raise ValueError("a channel twice")
        return event

    return decode_checked if limits else decode


def as_values(event: object) -> object:
    """An event of either decoder as plain values, to compare them."""
    if isinstance(event, BaseModel):
        return {k: as_values(v) for k, v in event if k in type(event).model_fields}
    fields = getattr(event, "__struct_fields__", None)
    if fields is not None:
        values = {k: as_values(getattr(event, k)) for k in fields}
        tag = type(event).__struct_config__.tag  # type: ignore[attr-defined]
        if tag is not None:
            values["type"] = tag
        return values
    if isinstance(event, list | tuple):
        return [as_values(v) for v in event]
    if isinstance(event, datetime):
        return event.timestamp()
    return event


def outcome(decode: Decoder, raw: bytes) -> object:
    """What a decoder makes of a line: the event's values, or that it refused it."""
    try:
        event = decode(raw)
    except ValueError:  # msgspec's ValidationError and DecodeError are ValueErrors
        return "refused"
    return "refused" if isinstance(event, Rejection) else as_values(event)


def seconds(decode: Decoder, lines: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in lines:
        decode(raw)
    return time.perf_counter() - started


def main() -> None:
    args, path = day_arguments(__doc__.splitlines()[0] if __doc__ else "", "rounds of each decoder")
    given = [raw for raw in path.read_bytes().splitlines() if raw.strip()]
    lines = [raw for raw in given if not isinstance(decode_event(raw), Rejection)]  # timed: accepted ones
    if len(lines) < len(given):
        print(f"{len(given) - len(lines):,} lines refused by decode_event are compared, not timed")
    decoders: dict[str, Decoder] = {
        "json.loads": json.loads,
        "decode_event (the runtimes' decoder)": decode_event,
        "pydantic-core validator alone": _validate_json,
    }
    generated = msgspec_decoder()
    if generated is not None:
        differ = [raw for raw in given if outcome(generated, raw) != outcome(decode_event, raw)]
        print(f"msgspec and decode_event agree on {len(given) - len(differ):,} of {len(given):,} lines")
        for raw in differ[:3]:
            print(f"  they differ on: {raw[:200].decode(errors='replace')}")
        decoders["msgspec (structs generated from the models)"] = generated
        bare = msgspec_decoder(limits=False)
        assert bare is not None
        decoders["msgspec without limits (the same structs)"] = bare
    else:
        print("msgspec is not installed (pip install msgspec): its row is left out")
    rounds: dict[str, list[float]] = {name: [] for name in decoders}
    for n in range(max(1, args.repeat)):
        for name, decode in decoders.items():
            rounds[name].append(seconds(decode, lines))
        shown = ", ".join(f"{name.split(' (')[0]} {rounds[name][-1]:.2f} s" for name in decoders)
        print(f"round {n + 1}: {shown}")
    loads = statistics.median(rounds["json.loads"])
    print(f"file: {path} ({len(lines):,} events); medians of {len(rounds['json.loads'])} rounds:")
    for name, took in rounds.items():
        median = statistics.median(took)
        per_event = median / len(lines) * 1e6
        print(f"  {name:44s} {per_event:5.2f} µs an event, {median / loads:4.2f}x json.loads")


if __name__ == "__main__":
    main()
