"""Sequence: something happened, then something did not, in time. A `start` event opens an
episode per `key` value; each `remind` entry is a decision at its own time; a `stop` event of
the same key before a reminder's time cancels it (`stopped`). All of it is written in a trigger
file, over the contract's events and those the event catalogue declares.

An episode keeps the start event's fields (its reminders' messages show them; times in the
customer's zone). A start event for a key whose episode is open changes nothing, unless the
trigger says `restart: true`. An episode is open while a reminder of it waits; once the last is
decided (or cancelled) the key is free for the next start event. A reminder's decision key
derives from the trigger, the key value, the reminder and the start event: the same start event
delivered again decides under the same keys, which are sent once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from hashlib import blake2b
from typing import Any

from engagement.core import decisions as r
from engagement.core.decisions import Decision
from engagement.core.event_types import EventCatalogue
from engagement.core.expressions import Expression
from engagement.core.formula import MissingValue
from engagement.core.kinds.kind import Decider, Hook, TriggerKind
from engagement.core.personalize import when
from engagement.core.specs import SequenceTrigger
from engagement.core.state import CustomerState, Episode, Timer
from engagement.events import Event
from engagement.timefmt import parse_rfc3339

REMEMBERED_EPISODES = 32  # closed episodes whose start events are recognised when delivered again
MAX_OPEN_EPISODES = 16  # per trigger and customer: a start beyond them is not taken up
SEPARATOR = "\x1f"


@dataclass(frozen=True, slots=True)
class SequencePlan:
    spec: SequenceTrigger
    id: str
    fields: Mapping[str, str]  # the start event's fields and their types
    where: Expression | None
    times: tuple[float | Expression, ...]  # per reminder: seconds after the start, or a time expression
    window: float

    @classmethod
    def of(cls, spec: SequenceTrigger, catalogue: EventCatalogue) -> SequencePlan:
        fields = catalogue.fields_of(spec.start)
        where = Expression.parse(spec.where, fields, "bool") if spec.where is not None else None
        times = tuple(
            Expression.parse(rem.at, fields, "time") if rem.at is not None else (rem.after or _ZERO).total_seconds()
            for rem in spec.remind
        )
        return cls(spec, spec.id, fields, where, times, spec.send_within.total_seconds())


_ZERO = timedelta(0)
Plans = Sequence[SequencePlan]


def values_of(event: Event, fields: Mapping[str, str]) -> dict[str, str | float | bool]:
    """The event's fields as expressions read them: times as epoch seconds; absent ones left out."""
    extra = event.__pydantic_extra__ or {}
    out: dict[str, str | float | bool] = {}
    for name, kind in fields.items():
        value = extra.get(name, getattr(event, name, None))
        if value is None:
            continue
        if kind == "time":
            out[name] = value.timestamp() if hasattr(value, "timestamp") else parse_rfc3339(str(value))
        elif kind == "number":
            out[name] = float(value)
        elif kind in ("string", "bool"):
            out[name] = value
    return out


def on_event(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    """Stops first (an event that stops one trigger's episode and starts another's does both)."""
    if state.episodes:
        _sweep(state)
    for plan in plans:
        if event.type in plan.spec.stop:
            _stop(engine, plan, state, event, clock, out)
    for plan in plans:
        if event.type == plan.spec.start:
            _start(engine, plan, state, event, t, clock, out)


def _key_of(plan: SequencePlan, event: Event) -> str | None:
    name = plan.spec.key
    if name is None:
        return ""
    value = (event.__pydantic_extra__ or {}).get(name, getattr(event, name, None))
    return value if isinstance(value, str) else None


def _start(
    engine: Decider, plan: SequencePlan, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    key = _key_of(plan, event)
    if key is None:
        return
    values = values_of(event, plan.fields)
    if not _holds(plan, values):
        return
    name = plan.id + SEPARATOR + key
    episodes = state.episodes if state.episodes is not None else {}
    digest = blake2b(event.event_id.encode(), digest_size=6).hexdigest()
    if f"{name}{SEPARATOR}{digest}" in state.done_episodes or (
        name in episodes and episodes[name].event_id == event.event_id
    ):
        return  # the same start event again (redelivered past the engine's recent ids): nothing new
    if name in episodes:
        if not plan.spec.restart:
            return  # the first start event of an open episode counts
        for timer in _timers_of(state, plan.id, key):
            engine.cancel(state, timer, r.RESTARTED, clock, out)
    elif sum(1 for open_ in episodes if open_.startswith(plan.id + SEPARATOR)) >= MAX_OPEN_EPISODES:
        return  # a customer's open episodes of one trigger are bounded
    stored = {k: v for k, v in values.items() if k not in ("event_id", "customer_id")}
    episodes[name] = Episode(event.event_id, t, stored)
    state.episodes = episodes
    # keyed by the start event too: the same event delivered again decides under the same keys (and
    # is sent once), a later episode of the same key under its own
    if not _arm(engine, plan, state, event, t, values, f"{key}#", "@" + digest):
        _close(state, name)


def _holds(plan: SequencePlan, values: Mapping[str, str | float | bool]) -> bool:
    """The trigger's condition on the start event; one that needs a field the event leaves out is false."""
    if plan.where is None:
        return True
    try:
        return bool(plan.where.evaluate(values))
    except (MissingValue, ArithmeticError, ValueError):
        return False


def _arm(
    engine: Decider,
    plan: SequencePlan,
    state: CustomerState,
    event: Event,
    t: float,
    values: Mapping[str, str | float | bool],
    prefix: str,
    suffix: str,
) -> bool:
    """A timer per reminder whose time can be known (one at a time the event leaves out is not
    armed); whether any was."""
    armed = False
    for index, when_ in enumerate(plan.times):
        try:
            due = t + when_ if isinstance(when_, float) else float(when_.evaluate(values))
        except (MissingValue, ArithmeticError, ValueError):
            continue
        if not math.isfinite(due):
            continue
        timer = Timer(plan.id, max(due, t), due + plan.window, event.event_id, f"{prefix}{index}{suffix}", due)
        engine.add_timer(state, timer)
        armed = True
    return armed


def _stop(
    engine: Decider, plan: SequencePlan, state: CustomerState, event: Event, clock: float, out: list[Decision]
) -> None:
    key = _key_of(plan, event)
    if key is None:
        return
    name = plan.id + SEPARATOR + key
    if state.episodes is None or name not in state.episodes:
        return
    for timer in _timers_of(state, plan.id, key):
        engine.cancel(state, timer, r.STOPPED, clock, out)
    _close(state, name)


def _sweep(state: CustomerState) -> None:
    """Episodes left without a pending reminder (cancelled by a configuration change, or decided
    as an internal error) are closed: an episode is open only while a reminder of it waits."""
    waiting = {t.trigger_id + SEPARATOR + _subject_key(t.subject) for t in state.timers or ()}
    for name in [n for n in state.episodes or () if n not in waiting]:
        _close(state, name)


def _timers_of(state: CustomerState, trigger_id: str, key: str) -> list[Timer]:
    return [t for t in state.timers or () if t.trigger_id == trigger_id and _subject_key(t.subject) == key]


def _subject_key(subject: str) -> str:
    return subject.rsplit("#", 1)[0]


def _close(state: CustomerState, name: str) -> None:
    """The episode ends; its start event is remembered (the latest `REMEMBERED_EPISODES`), so that
    the same event delivered again does not open it a second time."""
    if state.episodes is not None:
        episode = state.episodes.pop(name, None)
        if episode is not None:
            done = f"{name}{SEPARATOR}{blake2b(episode.event_id.encode(), digest_size=6).hexdigest()}"
            state.done_episodes = (*(d for d in state.done_episodes if d != done), done)[-REMEMBERED_EPISODES:]
        if not state.episodes:
            state.episodes = None


def may_fire(state: CustomerState, plan: SequencePlan, timer: Timer) -> bool:
    """Only a reminder of an open episode (one erased or closed another way is dropped)."""
    return state.episodes is not None and plan.id + SEPARATOR + _subject_key(timer.subject) in state.episodes


def decided(state: CustomerState, plan: SequencePlan, timer: Timer) -> None:
    """The episode closes with its last reminder's decision."""
    key = _subject_key(timer.subject)
    if not any(t is not timer for t in _timers_of(state, plan.id, key)):
        _close(state, plan.id + SEPARATOR + key)


def values(
    state: CustomerState, timer: Timer, plan: SequencePlan, zone: str, chinese: bool
) -> Mapping[str, str | None]:
    episode = (state.episodes or {}).get(plan.id + SEPARATOR + _subject_key(timer.subject))
    if episode is None:
        return {}
    out: dict[str, str | None] = {}
    for name, kind in plan.fields.items():
        value: Any = episode.fields.get(name)
        try:
            out[name] = _shown(value, kind, zone, chinese)
        except (TypeError, ValueError, OverflowError):  # stored under a catalogue that typed it otherwise
            out[name] = None if value is None else str(value)
    return out


def _shown(value: Any, kind: str, zone: str, chinese: bool) -> str | None:
    if value is None:
        return None
    if kind == "time":
        return when(float(value), zone, chinese, with_time=True)
    if kind == "bool":
        return ("是" if value else "否") if chinese else ("yes" if value else "no")
    if kind == "number":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return str(value)


def hooks_of(plans: Sequence[Any]) -> Mapping[str, Hook]:
    """One hook for every start and stop type the sequence triggers name."""
    types = {t for plan in plans for t in (plan.spec.start, *plan.spec.stop)}
    return dict.fromkeys(sorted(types), on_event)


def variables_of(spec: SequenceTrigger, catalogue: EventCatalogue) -> tuple[str, ...]:
    """What a sequence's messages may show: the start event's fields."""
    return tuple(sorted(set(catalogue.fields_of(spec.start)) - {"event_id", "customer_id", "type"}))


KIND = TriggerKind(
    name="sequence",
    hooks={},
    variables=(),
    values=values,
    plan=SequencePlan.of,  # type: ignore[arg-type]
    may_fire=may_fire,
    decided=decided,
    hooks_of=hooks_of,
    starts=lambda plans: {plan.spec.start for plan in plans},  # a stop with no episode open stops nothing
)
