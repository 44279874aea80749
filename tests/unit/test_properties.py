"""Invariants over generated event streams: determinism, order-insensitivity within the lateness,
no key sent twice, nothing sent after an order, every send inside its window."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.core.decisions import Decision
from engagement.timefmt import parse_rfc3339
from tests.scenario import T0, at, engine_for, replay

CUSTOMERS = ("a", "b", "c")
LATENESS = 30.0
ENGINE = engine_for()


@st.composite
def streams(draw: st.DrawFn, with_logins: bool = True) -> list[dict[str, Any]]:
    """Events for a few customers in time order, at second resolution, over a few hours."""
    kinds = [
        "profile",
        "view",
        "view",
        "view",
        "left",
        "cart",
        "empty",
        "order",
        "dispatch",
        "delay",
        "delivered",
        "reply",
        "stop",
    ]
    if with_logins:
        kinds += ["login", "failed"]
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(kinds), st.integers(1, 1500)), min_size=1, max_size=60
        )
    )
    seconds = 0
    events: list[dict[str, Any]] = []
    for n, (customer, kind, gap) in enumerate(steps):
        seconds += gap
        events.append(_event(n, customer, kind, seconds))
    return events


def _event(n: int, customer: str, kind: str, seconds: int) -> dict[str, Any]:
    base = {"event_id": f"e{n}", "customer_id": customer, "occurred_at": at(seconds / 60)}
    shipment = {"order_id": f"o-{customer}", "shipment_id": f"s-{customer}"}
    bodies: dict[str, dict[str, Any]] = {
        "profile": {
            "type": "customer.updated",
            "phone": "+886912345678",
            "whatsapp_opt_in": True,
            "timezone": "Asia/Taipei",
        },
        "view": {"type": "page.viewed", "product_id": f"p{n % 3}"},
        "left": {"type": "page.left"},
        "cart": {"type": "cart.updated", "cart_id": "k", "items": [{"product_id": "p", "quantity": 1}]},
        "empty": {"type": "cart.updated", "cart_id": "k", "items": []},
        "order": {"type": "order.placed", "order_id": f"o{n}", "items": [], "total": 1.0, "currency": "TWD"},
        "dispatch": {
            "type": "shipment.dispatched",
            **shipment,
            "promised_delivery_at": at(seconds / 60 - 24 * 60 + 30),
        },
        "delay": {
            "type": "shipment.status_changed",
            **shipment,
            "status": "delayed",
            "new_eta": at(seconds / 60 + 48 * 60),
        },
        "delivered": {"type": "shipment.delivered", **shipment},
        "reply": {"type": "message.replied", "text": "thanks"},
        "stop": {"type": "message.replied", "text": "STOP"},
        "login": {"type": "login.succeeded", "device_id": f"d{n % 4}", "country": ("TW", "JP", "US")[n % 3]},
        "failed": {"type": "login.failed"},
    }
    return {**base, **bodies[kind]}


def run(events: list[dict[str, Any]]) -> list[Decision]:
    return replay([json.dumps(e).encode() for e in events], ENGINE)


def records(decisions: list[Decision]) -> list[tuple[object, ...]]:
    """The timers' decisions (a reply is answered on arrival, like a login: by arrival order)."""
    return sorted(
        (d.trigger, d.customer_id, d.outcome, d.reason, d.at, d.due_at, d.key, d.event_id)
        for d in decisions
        if d.outcome in ("send", "suppress", "cancel")
    )


def _seconds(event: dict[str, Any]) -> float:
    return round((json_time(event["occurred_at"]) - T0.timestamp()), 3)


def json_time(text: str) -> float:
    return parse_rfc3339(text)


@settings(max_examples=150, deadline=None)
@given(streams())
def test_same_input_gives_the_same_decisions(events: list[dict[str, Any]]) -> None:
    assert run(events) == run(events)


@settings(max_examples=150, deadline=None)
@given(streams(with_logins=False), st.randoms(use_true_random=False))
def test_shuffling_within_the_lateness_gives_the_same_decisions(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    # Arrival order = event time plus a delay under the lateness: no event is ever behind the watermark.
    arrival = sorted(events, key=lambda e: _seconds(e) + rnd.uniform(0, LATENESS - 1))
    assert records(run(arrival)) == records(run(events))


@settings(max_examples=150, deadline=None)
@given(streams())
def test_no_key_is_sent_twice(events: list[dict[str, Any]]) -> None:
    keys = [d.key for d in run(events) if d.outcome == "send"]
    assert len(keys) == len(set(keys))


@settings(max_examples=150, deadline=None)
@given(streams())
def test_no_cart_or_browse_send_after_the_customers_order(events: list[dict[str, Any]]) -> None:
    armed_at = {e["event_id"]: json_time(e["occurred_at"]) for e in events}
    orders = [(e["customer_id"], json_time(e["occurred_at"])) for e in events if e["type"] == "order.placed"]
    for d in run(events):
        if d.outcome != "send" or d.trigger not in ("cart_idle", "browse_abandonment"):
            continue
        start = armed_at[d.event_id]
        assert not any(c == d.customer_id and start <= t <= d.at for c, t in orders), d


@settings(max_examples=150, deadline=None)
@given(streams())
def test_every_send_lies_inside_its_window(events: list[dict[str, Any]]) -> None:
    for d in run(events):
        if d.outcome == "send":
            assert d.due_at <= d.at <= d.deadline, d


@settings(max_examples=150, deadline=None)
@given(streams(with_logins=False))
def test_each_cart_reminder_decision_has_an_episode_of_its_own(events: list[dict[str, Any]]) -> None:
    """Cart episodes (CONTRACT.md §2): every cart_idle send or suppress stems from a non-empty cart
    change, and two such decisions for one customer have a cart change with items between them
    (page views alone never open an episode); their keys differ."""
    fills = {e["event_id"]: (e["customer_id"], json_time(e["occurred_at"])) for e in events if e.get("items")}
    decided = [d for d in run(events) if d.trigger == "cart_idle" and d.outcome in ("send", "suppress")]
    assert len({d.key for d in decided}) == len(decided)
    last: dict[str, float] = {}
    for d in sorted(decided, key=lambda d: d.at):
        assert d.event_id in fills, d
        opened_by, opened_at = fills[d.event_id]
        assert opened_by == d.customer_id
        previous = last.get(d.customer_id)
        assert previous is None or opened_at > previous, d
        last[d.customer_id] = d.at
