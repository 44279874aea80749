"""A sequence trigger checked against the event catalogue when it is loaded: its event types
exist, its key is a string field of the start event and of every stop event, its `where` is a
condition and each reminder's `at` a time over the start event's fields."""

from __future__ import annotations

from typing import Any

from engagement.config.event_catalogue import EventCatalogue
from engagement.config.yaml_files import ConfigProblem, line_of
from engagement.core.expressions import Expression
from engagement.core.specs import SequenceTrigger


def sequence_problems(spec: SequenceTrigger, catalogue: EventCatalogue, path: str, node: Any) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def problem(where: list[int | str], message: str) -> None:
        problems.append(ConfigProblem(path, line_of(node, where), ".".join(map(str, where)), message))

    known = "a contract type or one declared in triggers/_events.yaml"
    if not catalogue.knows(spec.start):
        problem(["start"], f"unknown event type {spec.start!r}: {known}")
        return problems
    for n, stop in enumerate(spec.stop):
        if not catalogue.knows(stop):
            problem(["stop", n], f"unknown event type {stop!r}: {known}")
    fields = catalogue.fields_of(spec.start)
    if spec.key is not None:
        _key_problems(spec, spec.key, catalogue, problem)
    if spec.where is not None:
        try:
            Expression.parse(spec.where, fields, "bool")
        except (ValueError, ArithmeticError, RecursionError) as exc:
            problem(["where"], str(exc))
    for n, reminder in enumerate(spec.remind):
        if reminder.at is not None:
            try:
                Expression.parse(reminder.at, fields, "time")
            except (ValueError, ArithmeticError, RecursionError) as exc:
                problem(["remind", n, "at"], str(exc))
    return problems


def _key_problems(spec: SequenceTrigger, key: str, catalogue: EventCatalogue, problem: Any) -> None:
    fields = catalogue.fields_of(spec.start)
    if fields.get(key) != "string":
        problem(["key"], f"{spec.start} has no string field {key!r} (its fields: {', '.join(sorted(fields))})")
    for n, stop in enumerate(spec.stop):
        if catalogue.knows(stop) and catalogue.fields_of(stop).get(key) != "string":
            problem(["stop", n], f"{stop} has no string field {key!r}: it could not name the episode it stops")
