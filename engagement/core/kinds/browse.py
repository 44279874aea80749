"""Browse abandonment: visits built from browsing events, decided when the visit ends, cancelled by buying."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engagement.core import decisions as r
from engagement.core.decisions import Decision
from engagement.core.kinds.kind import Decider, TriggerKind
from engagement.core.specs import BrowseAbandonmentTrigger
from engagement.core.state import CustomerState, Timer, Visit
from engagement.events import Event


@dataclass(frozen=True, slots=True)
class BrowsePlan:
    """A browse trigger's numbers as floats, computed once so the per-event path does no conversions."""

    spec: BrowseAbandonmentTrigger
    id: str
    gap: float
    min_visit: float
    send_within: float
    activity: frozenset[str]
    cancel_on: frozenset[str]

    @classmethod
    def of(cls, spec: BrowseAbandonmentTrigger, catalogue: object = None) -> BrowsePlan:
        return cls(
            spec,
            spec.id,
            spec.visit_gap.total_seconds(),
            spec.min_visit.total_seconds(),
            spec.send_within.total_seconds(),
            frozenset(spec.activity),
            frozenset(spec.cancel_on),
        )


Plans = Sequence[BrowsePlan]


def on_browsing(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    viewed = event.type == "page.viewed"
    for plan in plans:
        if event.type not in plan.activity:
            continue
        visits = state.visits
        visit = visits.get(plan.id) if visits is not None else None
        if visit is not None and t - visit.last_at >= plan.gap:
            # This event starts a new visit; the old one ended at last_at + gap, which is now.
            timer = engine.timer_for(state, plan.id, visit.event_id)
            if timer is not None:
                engine.fire(state, timer, clock, out)
            _forget(state, plan.id, visit.event_id)
            visit = None
        if visit is None:
            visit = Visit(started_at=t, last_at=t, event_id=event.event_id)
            if state.visits is None:
                state.visits = {}
            state.visits[plan.id] = visit
        # Dwell: the product on screen since `product_since` was viewed until now.
        if visit.product_id is not None and t >= visit.product_since:
            seconds = t - visit.product_since
            if seconds > visit.longest_seconds:
                visit.longest_id, visit.longest_name, visit.longest_seconds = (
                    visit.product_id,
                    visit.product_name,
                    seconds,
                )
        if viewed:
            product_id, product_name = event.product_id, event.product_name  # type: ignore[union-attr]
            visit.product_id, visit.product_name, visit.product_since = product_id, product_name, t
            if visit.longest_id is None:
                visit.longest_id, visit.longest_name = product_id, product_name
        else:
            visit.product_id = None
        if t > visit.last_at:
            visit.last_at = t
        _arm(engine, state, plan, visit)


def _arm(engine: Decider, state: CustomerState, plan: BrowsePlan, visit: Visit) -> None:
    """Every visit keeps one timer at its end; a cancelled visit's timer only ends the visit."""
    due = visit.last_at + plan.gap
    deadline = due + plan.send_within
    subject = visit.event_id
    for timer in state.timers or ():
        if timer.trigger_id == plan.id and timer.subject == subject:
            timer.due = timer.first_due = due
            timer.deadline = deadline
            return
    engine.add_timer(state, Timer(plan.id, due, deadline, subject, subject, due))


def on_cart_updated(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    if event.items:  # type: ignore[union-attr]  # the hook table routes cart.updated here
        _cancel(engine, plans, state, "cart.updated", r.ADDED_TO_CART, clock, out)


def on_order(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    _cancel(engine, plans, state, "order.placed", r.CONVERTED, clock, out)


def _cancel(
    engine: Decider, plans: Plans, state: CustomerState, event_type: str, reason: str, clock: float, out: list[Decision]
) -> None:
    """An order or a filled cart during the visit (or before its decision) cancels it."""
    for plan in plans:
        if event_type not in plan.cancel_on:
            continue
        current = _visit(state, plan.id)
        for timer in [tm for tm in state.timers or () if tm.trigger_id == plan.id]:
            if current is not None and timer.subject == current.event_id:
                if not current.cancelled and _long_enough(plan, current):
                    engine.record_cancel(state, timer, reason, clock, out)
                current.cancelled = True
            else:
                engine.cancel(state, timer, reason, clock, out)
        if current is not None:
            current.cancelled = True


def may_fire(state: CustomerState, plan: BrowsePlan, timer: Timer) -> bool:
    """Whether a due browse timer should be decided (True) or merely ends a visit that does not count."""
    visit = _visit(state, plan.id)
    if visit is None or visit.event_id != timer.subject:
        return True  # a visit already judged long enough, held for quiet hours while a new one began
    if visit.cancelled or not _long_enough(plan, visit):
        _forget(state, plan.id, visit.event_id)
        return False
    return True


def decided(state: CustomerState, plan: BrowsePlan, timer: Timer) -> None:
    _forget(state, plan.id, timer.subject)


def longest_viewed(state: CustomerState, trigger_id: str) -> tuple[str | None, str | None]:
    visit = _visit(state, trigger_id)
    return (visit.longest_id, visit.longest_name) if visit is not None else (None, None)


def values(state: CustomerState, timer: Timer, plan: BrowsePlan, zone: str, chinese: bool) -> Mapping[str, str | None]:
    return {"product_name": longest_viewed(state, timer.trigger_id)[1]}


def _long_enough(plan: BrowsePlan, visit: Visit) -> bool:
    return visit.last_at - visit.started_at >= plan.min_visit


def _visit(state: CustomerState, trigger_id: str) -> Visit | None:
    return state.visits.get(trigger_id) if state.visits else None


def _forget(state: CustomerState, trigger_id: str, visit_id: str) -> None:
    visits = state.visits
    if visits and trigger_id in visits and visits[trigger_id].event_id == visit_id:
        del visits[trigger_id]
        if not visits:
            state.visits = None


KIND = TriggerKind(
    name="browse_abandonment",
    hooks={
        "page.viewed": on_browsing,
        "page.left": on_browsing,
        "cart.updated": on_cart_updated,
        "order.placed": on_order,
    },
    variables=("product_name",),
    values=values,
    plan=BrowsePlan.of,  # type: ignore[arg-type]  # called with browse_abandonment triggers only
    may_fire=may_fire,
    decided=decided,
    starts=lambda plans: ("page.viewed", "page.left"),  # no visit, nothing for a cart or an order to cancel
)
