"""What a trigger kind is: the events it reacts to and its hooks, in one record the engine reads.

A kind is one module under `engagement/core/kinds/` that builds a `TriggerKind` and is listed
in `registry.KINDS`, plus its configuration model in `engagement/core/specs.py`. The
engine names no kind: it calls the hooks of every registered kind for each event type, in
the registry's order, and asks the kind of a due timer whether it may fire, what its message
may say, and what its decision closes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engagement.core.decisions import Decision
from engagement.core.event_types import EventCatalogue
from engagement.core.specs import TriggerSpec
from engagement.core.state import CustomerState, Profile, Timer
from engagement.events import Event


class Decider(Protocol):
    """The engine as a kind sees it: timers to arm and find, and decisions to make."""

    def add_timer(self, state: CustomerState, timer: Timer) -> None: ...

    def timer_for(self, state: CustomerState, trigger_id: str, subject: str | None = None) -> Timer | None: ...

    def fire(
        self, state: CustomerState, timer: Timer, at: float, out: list[Decision], profile_: Profile | None = None
    ) -> None: ...

    def cancel(self, state: CustomerState, timer: Timer, reason: str, at: float, out: list[Decision]) -> None: ...

    def record_cancel(
        self, state: CustomerState, timer: Timer, reason: str, at: float, out: list[Decision]
    ) -> None: ...


Plan = Any  # what a kind compiles from one trigger's spec (the spec itself, unless it needs more)
Hook = Callable[[Decider, Sequence[Plan], CustomerState, Event, float, float, list[Decision]], None]
"""(engine, the kind's enabled triggers as plans, state, event, event time, decision clock, decisions out)"""

Values = Callable[[CustomerState, Timer, Plan, str, bool], Mapping[str, str | None]]
"""(state, the due timer, its trigger's plan, the customer's time zone, whether the text is Chinese)"""


def _spec_itself(spec: TriggerSpec, catalogue: EventCatalogue) -> Plan:
    return spec


def _no_hooks(plans: Sequence[Plan]) -> Mapping[str, Hook]:
    return {}


def _always(state: CustomerState, plan: Plan, timer: Timer) -> bool:
    return True


def _nothing(state: CustomerState, plan: Plan, timer: Timer) -> None:
    return None


@dataclass(frozen=True)
class TriggerKind:
    name: str
    """The `kind:` of a trigger file."""
    hooks: Mapping[str, Hook]
    """Event type -> what this kind does with it, after the event waited for the watermark."""
    variables: tuple[str, ...]
    """The values its messages may use besides the common ones (the customer's name)."""
    values: Values
    on_arrival: Mapping[str, Hook] = field(default_factory=dict)
    """Event type -> what this kind decides the moment the event arrives (logins)."""
    plan: Callable[[TriggerSpec, EventCatalogue], Plan] = _spec_itself
    """What the engine keeps of one trigger (given the event catalogue its fields come from)."""
    hooks_of: Callable[[Sequence[Plan]], Mapping[str, Hook]] = _no_hooks
    """Hooks for event types the kind's triggers name (a sequence's start and stop events)."""
    may_fire: Callable[[CustomerState, Plan, Timer], bool] = _always
    """Whether a due timer is decided, or dropped without a decision (a visit too short)."""
    decided: Callable[[CustomerState, Plan, Timer], None] = _nothing
    """What a decision (send or suppress) closes: the cart episode, the visit, the shipment."""
    starts: Callable[[Sequence[Plan]], Collection[str]] | None = None
    """The event types that can give these triggers something to decide (arm a timer, decide on
    arrival); a customer with none of them is never decided by them. None: every type it hooks."""

    def reacts_to(self, plans: Sequence[Plan]) -> frozenset[str]:
        """Every event type this kind's hooks take for these triggers."""
        return frozenset((*self.hooks, *self.on_arrival, *self.hooks_of(plans)))

    def started_by(self, plans: Sequence[Plan]) -> frozenset[str]:
        """The event types without which these triggers decide nothing for a customer."""
        return self.reacts_to(plans) if self.starts is None else frozenset(self.starts(plans))
