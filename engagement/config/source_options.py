"""The sources' mapping file (`triggers/_sources.yaml`): what a shop's platform calls differently,
and the shop's own facts the mappings need. Every key is optional:

    shop:
      currencies: [TWD]          # an order in another currency is taken, with a note
      calling_code: "886"        # a national number (0912 345 678) is read with it
      pickup_days: 7             # a parcel waits this long at a store's counter
    segment:
      identify_sets_contact: true  # identify's phone, opt-ins and LINE id are taken (server-side sources only)
      events:                    # a custom event name: the spec's name it stands for
        Viewed Product Page: Product Viewed
      fields:                    # a field path in the event: the path the mapping reads
        properties.sku_code: properties.product_id
        traits.mobile: traits.phone
    shopify:
      fields:                    # note attributes (note_attributes.NAME) are read like fields
        note_attributes.delivery_promise: estimated_delivery_at
        note_attributes.payment: event.payment_method   # event.FIELD: a field of the mapped event

It reloads with the triggers, and `engagement triggers validate` checks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engagement.config.yaml_files import ConfigProblem, line_of, parse_yaml, read_config_text

SOURCES_FILE = "_sources.yaml"
PLATFORMS = ("shopify", "shopline", "segment")
SEGMENT_EVENTS = (
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Order Completed",
)
MAX_RENAMES = 64
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,63}(\.[A-Za-z0-9_$ -]{1,64}){0,5}$")
_EVENT_FIELD = re.compile(r"^event\.[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class SourceOptions:
    currencies: tuple[str, ...] = ()
    calling_code: str = "886"
    pickup_days: int = 7
    event_names: dict[str, dict[str, str]] = field(default_factory=dict)  # platform -> {custom: spec name}
    fields: dict[str, dict[str, str]] = field(default_factory=dict)  # platform -> {from path: to path}
    identify_sets_contact: bool = False  # Segment identify may set phone, opt-ins, LINE id (server-side sources)

    def renamed_event(self, platform: str, name: str) -> str:
        return self.event_names.get(platform, {}).get(name, name)

    def check_currency(self, code: str, notes: list[str]) -> None:
        """A note for an order in a currency the shop does not use (the order is taken all the same)."""
        if self.currencies and code not in self.currencies:
            notes.append(
                f"currency: {code} is not one of the shop's ({', '.join(self.currencies)}); the order is taken "
                f"(it still ends reminders) and its revenue is reported in {code}"
            )

    def renamed(self, platform: str, payload: dict[str, Any]) -> dict[str, Any]:
        """`payload` with each renamed field's value copied to the path the mapping reads (the
        paths `event.FIELD` are collected under the key `event.` for the mapped event)."""
        renames = self.fields.get(platform)
        if "event." in payload:  # the key the renames fill: a payload does not set it itself
            payload = {k: v for k, v in payload.items() if k != "event."}
        if not renames:
            return payload
        copy = dict(payload)
        for source, target in renames.items():
            value = _read(payload, source)
            if value is None:
                continue
            if target.startswith("event."):
                copy.setdefault("event.", {})[target.removeprefix("event.")] = value
            else:
                _write(copy, target, value)
        return copy


DEFAULT = SourceOptions()


def _read(payload: dict[str, Any], path: str) -> Any:
    if path.startswith("note_attributes."):
        name = path.removeprefix("note_attributes.")
        attributes = payload.get("note_attributes")
        for attribute in attributes if isinstance(attributes, list) else []:
            if isinstance(attribute, dict) and attribute.get("name") == name:
                return attribute.get("value")
        return None
    return value_at(payload, path)


def value_at(payload: Any, path: str) -> Any:
    """The value at a dotted path (`customer.phone`), or None."""
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _write(payload: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    here = payload
    for part in parts[:-1]:
        inner = here.get(part)
        if inner is None:
            inner = here[part] = {}
        elif isinstance(inner, dict):
            inner = here[part] = dict(inner)  # copied: the original payload stays as it came
        else:
            return
        here = inner
    here[parts[-1]] = value


def load_source_options(directory: Path) -> tuple[SourceOptions, list[ConfigProblem], str]:
    """The mapping file of a trigger directory (defaults without one), its problems and its text."""
    path = directory / SOURCES_FILE
    if not path.is_file():
        return DEFAULT, [], ""
    text, unreadable = read_config_text(path)
    if unreadable is not None:
        return DEFAULT, [unreadable], text
    node, data, problem = parse_yaml(str(path), text)
    if problem is not None:
        return DEFAULT, [problem], text
    problems: list[ConfigProblem] = []

    def problem_at(where: list[int | str], message: str) -> None:
        problems.append(ConfigProblem(str(path), line_of(node, where), ".".join(map(str, where)) or "-", message))

    if data is None:
        return DEFAULT, [], text
    if not isinstance(data, dict):
        problem_at([], f"the mapping file has sections shop and {', '.join(PLATFORMS)}")
        return DEFAULT, problems, text
    options: dict[str, Any] = {}
    for section, body in data.items():
        if section == "shop":
            options.update(_shop(body, problem_at))
        elif section in PLATFORMS:
            _platform(str(section), body, options, problem_at)
        else:
            problem_at([section], f"unknown section; expected shop, {', '.join(PLATFORMS)}")
    return SourceOptions(**options), problems, text


def _shop(body: object, problem_at: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if not isinstance(body, dict):
        problem_at(["shop"], "shop has currencies, calling_code and pickup_days")
        return found
    for key, value in body.items():
        if key == "currencies":
            if not isinstance(value, list) or not all(
                isinstance(c, str) and re.fullmatch(r"[A-Z]{3}", c) for c in value
            ):
                problem_at(["shop", key], "a list of ISO 4217 codes, such as [TWD]")
            else:
                found["currencies"] = tuple(value)
        elif key == "calling_code":
            if not re.fullmatch(r"\+?[1-9][0-9]{0,3}", str(value)):
                problem_at(["shop", key], 'a country calling code, such as "886"')
            else:
                found["calling_code"] = str(value).lstrip("+")
        elif key == "pickup_days":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 30:
                problem_at(["shop", key], "whole days between 1 and 30")
            else:
                found["pickup_days"] = value
        else:
            problem_at(["shop", key], "unknown key; expected currencies, calling_code, pickup_days")
    return found


def _platform(platform: str, body: object, options: dict[str, Any], problem_at: Any) -> None:
    if not isinstance(body, dict):
        problem_at([platform], f"{platform} has `fields`" + (" and `events`" if platform == "segment" else ""))
        return
    for key, value in body.items():
        where: list[int | str] = [platform, key]
        if key == "identify_sets_contact" and platform == "segment":
            if not isinstance(value, bool):
                problem_at(where, "true or false")
            else:
                options["identify_sets_contact"] = value
        elif key == "events" and platform == "segment":
            names = _pairs(value, where, problem_at)
            for custom, spec in names.items():
                if spec not in SEGMENT_EVENTS:
                    problem_at(
                        [*where, custom], f"{spec!r} is not an event the mapping reads: {', '.join(SEGMENT_EVENTS)}"
                    )
            options.setdefault("event_names", {})[platform] = names
        elif key == "fields":
            options.setdefault("fields", {})[platform] = _renames(value, where, problem_at)
        else:
            expected = "events, fields or identify_sets_contact" if platform == "segment" else "fields"
            problem_at(where, f"unknown key; expected {expected}")


_ENVELOPE = frozenset({"event_id", "type", "customer_id", "occurred_at"})


def _renames(value: object, where: list[int | str], problem_at: Any) -> dict[str, str]:
    renames = _pairs(value, where, problem_at)
    for source, target in renames.items():
        if not _PATH.match(source):
            problem_at([*where, source], "a dotted field path, such as properties.sku_code")
        if not (_PATH.match(target) or _EVENT_FIELD.match(target)):
            problem_at([*where, source], "a dotted field path, or event.FIELD for a field of the mapped event")
        elif target.startswith("event.") and target.removeprefix("event.") in _ENVELOPE:
            problem_at([*where, source], f"{target}: the envelope is the mapping's own")
    return renames


def _pairs(value: object, where: list[int | str], problem_at: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        problem_at(where, "a mapping of names to names")
        return {}
    if len(value) > MAX_RENAMES:
        problem_at(where, f"{len(value)} renames; at most {MAX_RENAMES}")
        return {}
    return dict(value)
