"""Logistics delay: armed by a dispatch, confirmed by the clock or a late new ETA, cancelled by delivery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from engagement.core import decisions as r
from engagement.core.decisions import Decision
from engagement.core.formula import Formula, MissingValue
from engagement.core.kinds.kind import Decider, TriggerKind
from engagement.core.personalize import FORMULA_VALUES, money, when
from engagement.core.specs import LogisticsDelayTrigger
from engagement.core.state import CustomerState, LastOrder, Shipment, Timer
from engagement.events import Event, OrderPlaced, ShipmentDelivered, ShipmentDispatched, ShipmentStatusChanged

REMEMBERED_SHIPMENTS = 8


@dataclass(frozen=True, slots=True)
class LogisticsPlan:
    spec: LogisticsDelayTrigger
    id: str
    voucher: Formula | None

    @classmethod
    def of(cls, spec: LogisticsDelayTrigger, catalogue: object = None) -> LogisticsPlan:
        voucher = Formula.parse(spec.voucher, FORMULA_VALUES) if spec.voucher is not None else None
        return cls(spec, spec.id, voucher)


Plans = Sequence[LogisticsPlan]


def on_order(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    order = cast(OrderPlaced, event)
    if state.last_order is None or t >= state.last_order.at:
        state.last_order = LastOrder(
            order.order_id, t, order.total, order.currency, order.shipping_fee, order.order_url
        )


def on_dispatched(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    event = cast(ShipmentDispatched, event)
    sid = event.shipment_id
    if sid in state.done_shipments or (state.shipments and sid in state.shipments):
        return
    promised = event.promised_delivery_at.timestamp()
    if state.shipments is None:
        state.shipments = {}
    state.shipments[sid] = Shipment(
        event.order_id, event.event_id, promised, event.carrier, event.tracking_number, event.tracking_url
    )
    for plan in plans:
        spec = plan.spec
        due = max(promised + spec.delay_threshold.total_seconds(), t)
        deadline = due + spec.send_within.total_seconds()
        engine.add_timer(state, Timer(spec.id, due, deadline, event.event_id, sid, due))


def on_status(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    """A new ETA at least the threshold past the promise confirms the delay at this event."""
    event = cast(ShipmentStatusChanged, event)
    shipment = (state.shipments or {}).get(event.shipment_id)
    if shipment is None or event.new_eta is None:
        return
    shipment.new_eta = event.new_eta.timestamp()
    for plan in plans:
        spec = plan.spec
        threshold = spec.delay_threshold.total_seconds()
        timer = engine.timer_for(state, spec.id, event.shipment_id)
        if timer is None or shipment.new_eta < shipment.promised_at + threshold or t >= timer.first_due:
            continue
        timer.due = timer.first_due = t
        timer.deadline = t + spec.send_within.total_seconds()


def on_delivered(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    sid = cast(ShipmentDelivered, event).shipment_id
    for plan in plans:
        timer = engine.timer_for(state, plan.id, sid)
        if timer is not None:
            engine.cancel(state, timer, r.DELIVERED, clock, out)
    _finish(state, sid)


def decided(state: CustomerState, plan: LogisticsPlan, timer: Timer) -> None:
    """Once no trigger still waits on the shipment, only its id is remembered (once per shipment)."""
    if not any(t.subject == timer.subject for t in state.timers or () if t is not timer):
        _finish(state, timer.subject)


def _finish(state: CustomerState, sid: str) -> None:
    if state.shipments is not None:
        state.shipments.pop(sid, None)
        if not state.shipments:
            state.shipments = None
    if sid not in state.done_shipments:
        state.done_shipments = (*state.done_shipments, sid)[-REMEMBERED_SHIPMENTS:]


def values(
    state: CustomerState, timer: Timer, plan: LogisticsPlan, zone: str, chinese: bool
) -> Mapping[str, str | None]:
    shipment = state.shipments.get(timer.subject) if state.shipments else None
    if shipment is None:
        return {}
    order = state.last_order if state.last_order and state.last_order.order_id == shipment.order_id else None
    found: dict[str, str | None] = {
        "order_id": shipment.order_id,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "new_eta": when(shipment.new_eta, zone, chinese) if shipment.new_eta is not None else None,
        "order_total": money(order.total, order.currency) if order else None,
        "voucher": None,
    }
    if plan.voucher is not None and order is not None:
        try:
            amount = plan.voucher.evaluate({"shipping_fee": order.shipping_fee or 0.0, "order_total": order.total})
        except (MissingValue, ArithmeticError, ValueError):  # no amount (or none that can be written): no voucher
            amount = 0.0
        found["voucher"] = money(amount, order.currency) if amount > 0 else None
    return found


KIND = TriggerKind(
    name="logistics_delay",
    hooks={
        "order.placed": on_order,
        "shipment.dispatched": on_dispatched,
        "shipment.status_changed": on_status,
        "shipment.delivered": on_delivered,
    },
    variables=("order_id", "order_total", "carrier", "tracking_number", "tracking_url", "new_eta", "voucher"),
    values=values,
    plan=LogisticsPlan.of,  # type: ignore[arg-type]  # called with logistics_delay triggers only
    decided=decided,
    starts=lambda plans: ("shipment.dispatched",),  # an order alone is only remembered, the same for every trigger
)
