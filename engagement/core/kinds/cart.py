"""Cart idle: armed by a non-empty cart, moved by activity, cancelled by an order or an emptied cart.

A cart episode (CONTRACT.md §2) opens with a `cart.updated` that has items and closes, for a
trigger, when that trigger decides it (send or suppress), and for every trigger on an order or
an emptied cart. The next `cart.updated` with items after a decision opens a new episode for
the triggers that decided, even for the same cart: their timers are armed again under the new
episode's id (so the new reminder has a key of its own), and the cooldown and caps then judge
it. Page views move a running timer but never open an episode; neither does a change that
occurred before the decision (a late event never undoes or repeats a decision).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engagement.core import decisions as r
from engagement.core.state import Cart, CustomerState, Timer
from engagement.events import CartUpdated

if TYPE_CHECKING:
    from engagement.core.decisions import Decision
    from engagement.core.engine import Engine

MAX_ITEM_NAMES = 3


def on_cart_updated(
    engine: Engine, state: CustomerState, event: CartUpdated, t: float, clock: float, out: list[Decision]
) -> None:
    if not event.items:
        _end_episode(engine, state, r.CART_EMPTIED, clock, out)
        return
    names = tuple(item.name or item.product_id for item in event.items[:MAX_ITEM_NAMES])
    count = sum(item.quantity for item in event.items)
    total = sum(item.quantity * item.unit_price for item in event.items if item.unit_price is not None)
    cart = state.cart
    if cart is None:
        state.cart = Cart(event.cart_id, event.event_id, t, count, total, event.currency, names)
    elif t >= cart.changed_at:
        cart.cart_id, cart.changed_at, cart.item_count = event.cart_id, t, count
        cart.total, cart.currency, cart.item_names = total, event.currency, names
        if cart.fired and t > cart.closed_at:
            cart.episode, cart.fired = event.event_id, ()  # a new episode for the triggers that decided
    on_activity(engine, state, "cart.updated", t)


def on_activity(engine: Engine, state: CustomerState, activity: str, t: float) -> None:
    """Activity restarts the idle clock of every cart trigger that counts it and has not fired this episode."""
    cart = state.cart
    if cart is None:
        return
    for spec in engine.cart_triggers:
        if activity not in spec.activity or spec.id in cart.fired:
            continue
        due = t + spec.idle.total_seconds()
        deadline = due + spec.send_within.total_seconds()
        timer = engine.timer_for(state, spec.id)
        if timer is None:
            engine.add_timer(state, Timer(spec.id, due, deadline, cart.episode, cart.episode, due))
        elif due > timer.first_due:
            timer.due = timer.first_due = due
            timer.deadline = deadline


def decided(state: CustomerState, trigger_id: str, at: float) -> None:
    """The trigger decided this episode (send or suppress): closed for it until the next change."""
    cart = state.cart
    if cart is not None:
        cart.fired = (*cart.fired, trigger_id)
        if at > cart.closed_at:
            cart.closed_at = at


def on_order(engine: Engine, state: CustomerState, clock: float, out: list[Decision]) -> None:
    _end_episode(engine, state, r.CONVERTED, clock, out)


def _end_episode(engine: Engine, state: CustomerState, reason: str, clock: float, out: list[Decision]) -> None:
    if state.cart is None:
        return
    for spec in engine.cart_triggers:
        timer = engine.timer_for(state, spec.id)
        if timer is not None:
            engine.cancel(state, timer, reason, clock, out)
    state.cart = None
