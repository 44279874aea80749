"""Logistics delay: armed by a dispatch, confirmed by the clock or a late new ETA, cancelled by delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engagement.core import decisions as r
from engagement.core.state import CustomerState, LastOrder, Shipment, Timer
from engagement.events import OrderPlaced, ShipmentDelivered, ShipmentDispatched, ShipmentStatusChanged

if TYPE_CHECKING:
    from engagement.config.triggers import TriggerSpec
    from engagement.core.decisions import Decision
    from engagement.core.engine import Engine

REMEMBERED_SHIPMENTS = 8


def on_order(state: CustomerState, event: OrderPlaced, t: float) -> None:
    if state.last_order is None or t >= state.last_order.at:
        state.last_order = LastOrder(event.order_id, t, event.total, event.currency, event.shipping_fee)


def on_dispatched(engine: Engine, state: CustomerState, event: ShipmentDispatched, t: float) -> None:
    sid = event.shipment_id
    if sid in state.done_shipments or (state.shipments and sid in state.shipments):
        return
    promised = event.promised_delivery_at.timestamp()
    if state.shipments is None:
        state.shipments = {}
    state.shipments[sid] = Shipment(
        event.order_id, event.event_id, promised, event.carrier, event.tracking_number, event.tracking_url
    )
    for spec in engine.logistics_triggers:
        due = max(promised + spec.delay_threshold.total_seconds(), t)
        deadline = due + spec.send_within.total_seconds()
        engine.add_timer(state, Timer(spec.id, due, deadline, event.event_id, sid, due))


def on_status(engine: Engine, state: CustomerState, event: ShipmentStatusChanged, t: float) -> None:
    """A new ETA at least the threshold past the promise confirms the delay at this event."""
    shipment = (state.shipments or {}).get(event.shipment_id)
    if shipment is None or event.new_eta is None:
        return
    shipment.new_eta = event.new_eta.timestamp()
    for spec in engine.logistics_triggers:
        threshold = spec.delay_threshold.total_seconds()
        timer = engine.timer_for(state, spec.id, event.shipment_id)
        if timer is None or shipment.new_eta < shipment.promised_at + threshold or t >= timer.first_due:
            continue
        timer.due = timer.first_due = t
        timer.deadline = t + spec.send_within.total_seconds()


def on_delivered(
    engine: Engine, state: CustomerState, event: ShipmentDelivered, clock: float, out: list[Decision]
) -> None:
    sid = event.shipment_id
    for spec in engine.logistics_triggers:
        timer = engine.timer_for(state, spec.id, sid)
        if timer is not None:
            engine.cancel(state, timer, r.DELIVERED, clock, out)
    _finish(state, sid)


def shipment_decided(state: CustomerState, spec: TriggerSpec, timer: Timer) -> None:
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
