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

from collections.abc import Mapping, Sequence
from typing import cast

from engagement.core import decisions as r
from engagement.core.decisions import Decision
from engagement.core.kinds.kind import Decider, TriggerKind
from engagement.core.personalize import money
from engagement.core.specs import CartIdleTrigger
from engagement.core.state import Cart, CustomerState, Timer
from engagement.events import CartUpdated, Event

MAX_ITEM_NAMES = 3
NAMES_SHOWN = 2

Plans = Sequence[CartIdleTrigger]


def on_cart_updated(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    change = cast(CartUpdated, event)  # the hook table routes cart.updated here
    if not change.items:
        _end_episode(engine, plans, state, r.CART_EMPTIED, clock, out)
        return
    names = tuple(item.name or item.product_id for item in change.items[:MAX_ITEM_NAMES])
    count = sum(item.quantity for item in change.items)
    total = sum(item.quantity * item.unit_price for item in change.items if item.unit_price is not None)
    cart = state.cart
    if cart is None:
        state.cart = Cart(change.cart_id, change.event_id, t, count, total, change.currency, names, url=change.cart_url)
    elif t >= cart.changed_at:
        cart.cart_id, cart.changed_at, cart.item_count = change.cart_id, t, count
        cart.url = change.cart_url
        cart.total, cart.currency, cart.item_names = total, change.currency, names
        if cart.fired and t > cart.closed_at:
            cart.episode, cart.fired = change.event_id, ()  # a new episode for the triggers that decided
    _activity(engine, plans, state, "cart.updated", t)


def on_page_viewed(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    if state.cart is not None:
        _activity(engine, plans, state, "page.viewed", t)


def _activity(engine: Decider, plans: Plans, state: CustomerState, activity: str, t: float) -> None:
    """Activity restarts the idle clock of every cart trigger that counts it and has not fired this episode."""
    cart = state.cart
    if cart is None:
        return
    for spec in plans:
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


def may_fire(state: CustomerState, spec: CartIdleTrigger, timer: Timer) -> bool:
    return state.cart is not None and spec.id not in state.cart.fired


def decided(state: CustomerState, spec: CartIdleTrigger, timer: Timer) -> None:
    """The trigger decided this episode (send or suppress): closed for it until the next change."""
    cart = state.cart
    if cart is not None:
        cart.fired = (*cart.fired, spec.id)
        if timer.due > cart.closed_at:
            cart.closed_at = timer.due


def on_order(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    _end_episode(engine, plans, state, r.CONVERTED, clock, out)


def _end_episode(
    engine: Decider, plans: Plans, state: CustomerState, reason: str, clock: float, out: list[Decision]
) -> None:
    if state.cart is None:
        return
    for spec in plans:
        timer = engine.timer_for(state, spec.id)
        if timer is not None:
            engine.cancel(state, timer, reason, clock, out)
    state.cart = None


def values(
    state: CustomerState, timer: Timer, spec: CartIdleTrigger, zone: str, chinese: bool
) -> Mapping[str, str | None]:
    cart = state.cart
    if cart is None:
        return {}
    return {
        "cart_items": _items(cart.item_names, cart.item_count, chinese),
        "cart_count": str(cart.item_count),
        "cart_total": money(cart.total, cart.currency) if cart.total > 0 else None,
    }


def _items(names: tuple[str, ...], count: int, chinese: bool) -> str | None:
    shown = [n for n in names if n][:NAMES_SHOWN]
    if not shown:
        return None
    rest = count - len(shown)
    if chinese:
        text = "、".join(shown)
        return f"{text} 等 {count} 件商品" if rest > 0 else text
    text = ", ".join(shown)
    return f"{text} ({count} items)" if rest > 0 else text


KIND = TriggerKind(
    name="cart_idle",
    hooks={"cart.updated": on_cart_updated, "page.viewed": on_page_viewed, "order.placed": on_order},
    starts=lambda plans: ("cart.updated",),  # no cart, no episode: views and orders find nothing to do
    variables=("cart_items", "cart_count", "cart_total"),
    values=values,
    may_fire=may_fire,
    decided=decided,
)
