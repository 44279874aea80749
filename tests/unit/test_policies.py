"""Every policy reason code, in the contract's order, and its edges."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engagement.core.engine import Engine
from engagement.decode import Rejection, decode_event
from engagement.events import Event
from tests.scenario import T0, Events, custom_triggers, engine_for, minutes_after_t0, only, replay

CART_TEMPLATE = """
id: {id}
kind: cart_idle
idle: {idle}
send_within: {within}
policies:
  cooldown: {cooldown}
  holdout_percent: {holdout}
  frequency_cap:
    marketing_per_24h: {marketing_cap}
    business_since_reply: {reply_cap}
  quiet_hours: {quiet}
"""


def cart_trigger(
    id: str = "cart_idle",
    idle: str = "60m",
    within: str = "5m",
    cooldown: str = "24h",
    holdout: float = 0,
    marketing_cap: str = "3",
    reply_cap: str = "3",
    quiet: str = '{allowed: "* 9-20 * * *"}',
) -> str:
    return CART_TEMPLATE.format(
        id=id,
        idle=idle,
        within=within,
        cooldown=cooldown,
        holdout=holdout,
        marketing_cap=marketing_cap,
        reply_cap=reply_cap,
        quiet=quiet,
    )


def cart_outcomes(ev: Events, engine: Engine | None = None) -> list[tuple[str, str | None]]:
    return [(d.outcome, d.reason) for d in only(replay(ev, engine), "cart_idle")]


def simple_cart(**profile: Any) -> Events:
    ev = Events()
    ev.profile(**profile)
    ev.cart(0)
    ev.view(300, customer="other")
    return ev


def test_no_consent_without_opt_in_or_without_phone() -> None:
    assert cart_outcomes(simple_cart(whatsapp_opt_in=False)) == [("suppress", "no_consent")]
    ev = Events()
    ev.profile(phone=None)
    ev.cart(0)
    ev.view(300, customer="other")
    assert cart_outcomes(ev) == [("suppress", "no_consent")]
    ev = Events()  # no profile at all
    ev.cart(0)
    ev.view(300, customer="other")
    assert cart_outcomes(ev) == [("suppress", "no_consent")]


def test_marketing_opt_out_by_flag_or_by_reply() -> None:
    assert cart_outcomes(simple_cart(marketing_opt_out=True)) == [("suppress", "marketing_opt_out")]
    for word in ("STOP", " stop ", "退訂", "取消訂閱"):
        ev = Events()
        ev.profile()
        ev.add(-0.5, "message.replied", text=word)
        ev.cart(0)
        ev.view(300, customer="other")
        assert cart_outcomes(ev) == [("suppress", "marketing_opt_out")], word


def test_opt_out_does_not_stop_utility_or_security() -> None:
    ev = Events()
    ev.profile(marketing_opt_out=True)
    ev.add(0, "shipment.dispatched", order_id="o", shipment_id="s", promised_delivery_at="2026-11-20T02:00:00Z")
    ev.view(25 * 60, customer="other")
    [d] = only(replay(ev), "logistics_delay")
    assert d.outcome == "send"


def test_holdout_is_deterministic_per_customer(tmp_path: Path) -> None:
    engine = engine_for(custom_triggers(tmp_path, {"cart_idle.yaml": cart_trigger(holdout=100)}))
    assert cart_outcomes(simple_cart(), engine) == [("suppress", "holdout")]
    half = engine_for(custom_triggers(tmp_path, {"cart_idle.yaml": cart_trigger(holdout=50)}))
    ev = Events()
    for n in range(200):
        ev.profile(customer=f"h{n}")
        ev.cart(0, customer=f"h{n}")
    ev.view(300, customer="other")
    first = [(d.customer_id, d.reason) for d in only(replay(ev, half), "cart_idle")]
    again = [(d.customer_id, d.reason) for d in only(replay(ev, half), "cart_idle")]
    assert first == again
    held = sum(1 for _, reason in first if reason == "holdout")
    assert 60 < held < 140


def test_marketing_frequency_cap_counts_sends_in_a_rolling_24h(tmp_path: Path) -> None:
    trigger = cart_trigger(cooldown="null", reply_cap="null")
    engine = engine_for(custom_triggers(tmp_path, {"cart_idle.yaml": trigger}))
    ev = Events()
    ev.profile()
    for episode in range(4):
        start = episode * 120
        ev.cart(start, cart_id=f"k{episode}")
        ev.add(start + 90, "cart.updated", cart_id=f"k{episode}", items=[])
    ev.cart(24 * 60 + 1, cart_id="late")  # the first send has left the 24 h window
    ev.view(30 * 60, customer="other")
    assert cart_outcomes(ev, engine) == [
        ("send", None),
        ("send", None),
        ("send", None),
        ("suppress", "frequency_cap"),
        ("send", None),
    ]


def test_business_cap_since_the_last_reply(tmp_path: Path) -> None:
    ev = Events()
    ev.profile()
    for n in range(4):
        ev.add(
            n, "shipment.dispatched", order_id=f"o{n}", shipment_id=f"s{n}", promised_delivery_at="2026-11-19T00:00:00Z"
        )
    ev.add(10, "message.replied", text="ok, thanks")
    ev.add(11, "shipment.dispatched", order_id="o9", shipment_id="s9", promised_delivery_at="2026-11-19T00:00:00Z")
    ev.view(60, customer="other")
    reasons = [d.reason for d in only(replay(ev), "logistics_delay") if d.outcome in ("send", "suppress")]
    assert reasons == [None, None, None, "frequency_cap", None]


def test_security_messages_are_never_capped_and_do_not_count() -> None:
    ev = Events()
    ev.profile()
    for n in range(3):
        ev.add(
            n, "shipment.dispatched", order_id=f"o{n}", shipment_id=f"s{n}", promised_delivery_at="2026-11-19T00:00:00Z"
        )
    ev.add(20, "login.succeeded", device_id="d1", country="TW")
    ev.add(40, "login.succeeded", device_id="d2", country="US")
    ev.view(60, customer="other")
    decisions = replay(ev)
    assert [d.outcome for d in only(decisions, "logistics_delay")] == ["send"] * 3
    assert [d.outcome for d in only(decisions, "anomalous_login")] == ["send"]


def test_quiet_hours_suppress_when_no_allowed_minute_is_in_the_window() -> None:
    ev = Events()
    ev.profile()
    ev.cart(12 * 60)  # 22:00 in Taipei; due 23:00
    ev.view(20 * 60, customer="other")
    assert cart_outcomes(ev) == [("suppress", "quiet_hours")]


def test_quiet_hours_wait_for_the_next_allowed_minute_inside_the_window() -> None:
    ev = Events()
    ev.profile(minutes=-200)
    ev.cart(-122)  # due 08:58 in Taipei; the window runs to 09:03
    ev.view(120, customer="other")
    [d] = only(replay(ev), "cart_idle")
    assert d.outcome == "send"
    assert minutes_after_t0(d.due_at) == -62
    assert minutes_after_t0(d.at) == -60  # 09:00:00 in Taipei


def test_an_order_during_the_quiet_hours_wait_still_cancels() -> None:
    ev = Events()
    ev.profile(minutes=-200)
    ev.cart(-122)
    ev.order(-61.5)
    ev.view(120, customer="other")
    assert cart_outcomes(ev) == [("cancel", "converted")]


def test_quiet_hours_across_midnight(tmp_path: Path) -> None:
    trigger = cart_trigger(quiet='{allowed: "* 20-23,0-1 * * *"}')
    engine = engine_for(custom_triggers(tmp_path, {"cart_idle.yaml": trigger}))
    ev = Events()
    ev.profile(customer="night")
    ev.cart(13 * 60 + 30, customer="night")  # 23:30 Taipei -> due 00:30: allowed
    ev.profile(customer="late")
    ev.cart(15 * 60, customer="late")  # 01:00 Taipei -> due 02:00: not allowed
    ev.profile(customer="day")
    ev.cart(0, customer="day")  # 10:00 Taipei -> due 11:00: not allowed
    ev.view(20 * 60, customer="other")
    got = {d.customer_id: (d.outcome, d.reason) for d in only(replay(ev, engine), "cart_idle")}
    assert got == {"night": ("send", None), "late": ("suppress", "quiet_hours"), "day": ("suppress", "quiet_hours")}


def test_quiet_hours_follow_a_dst_change() -> None:
    # 2026-03-08: New York moves from UTC-5 to UTC-4 at 02:00 local.
    base = datetime(2026, 3, 8, 11, 58, tzinfo=UTC)  # due 12:58Z = 08:58 EDT (07:58 had it been EST)
    ev = Events(base)
    ev.profile(timezone="America/New_York", locale="en")
    ev.cart(0)
    ev.view(180, customer="other")
    [d] = only(replay(ev), "cart_idle")
    assert d.outcome == "send"
    assert datetime.fromtimestamp(d.at, UTC).strftime("%H:%M") == "13:00"  # 09:00 EDT
    before = Events(datetime(2026, 3, 7, 11, 58, tzinfo=UTC))  # the day before: 07:58 EST, window ends 08:03
    before.profile(timezone="America/New_York", locale="en")
    before.cart(0)
    before.view(180, customer="other")
    assert cart_outcomes(before) == [("suppress", "quiet_hours")]


def test_a_customer_without_a_time_zone_uses_the_default() -> None:
    ev = Events()
    ev.profile(timezone=None)
    ev.cart(0)  # due 03:00Z: quiet in UTC, 11:00 in Taipei
    ev.view(300, customer="other")
    assert cart_outcomes(ev) == [("suppress", "quiet_hours")]
    assert cart_outcomes(ev, engine_for(default_timezone="Asia/Taipei")) == [("send", None)]


def _event(raw: dict[str, object]) -> Event:
    event = decode_event(json.dumps(raw).encode())
    assert not isinstance(event, Rejection)
    return event


def test_deadline_missed_when_the_engine_decides_after_the_window() -> None:
    engine = engine_for()
    ev = Events()
    ev.profile()
    ev.cart(0)
    state = None
    for raw in ev.items:
        state = engine.handle(state, _event(raw), None, float("-inf")).state
    assert state is not None
    assert state.next_timer() is None  # nothing applied before the watermark passes it
    state = engine.advance(state, T0.timestamp()).state
    due = state.next_timer()
    assert due is not None
    late = engine.advance(state, due + 3600, now=due + 6 * 60)  # live, six minutes behind
    [d] = late.decisions
    assert (d.outcome, d.reason) == ("suppress", "deadline_missed")
    assert d.at == due + 6 * 60


def test_same_recipient_pacing_delays_the_later_message() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.add(1, "login.succeeded", device_id="d1", country="TW")
    ev.add(60 + 2 / 60, "login.succeeded", device_id="d2", country="US")  # 2 s after the cart falls due
    ev.view(300, customer="other")
    sends = sorted(d.at for d in replay(ev) if d.outcome == "send")
    assert len(sends) == 2
    assert sends[1] - sends[0] == 6.0


def _two_late_parcels(ev: Events) -> None:
    for n in range(2):
        ev.add(
            0, "shipment.dispatched", order_id=f"o{n}", shipment_id=f"s{n}", promised_delivery_at="2026-11-18T00:00:00Z"
        )


def test_two_messages_due_together_go_six_seconds_apart() -> None:
    ev = Events()
    ev.profile()
    _two_late_parcels(ev)
    ev.view(60, customer="other")
    first, second = only(replay(ev), "logistics_delay")
    assert (first.outcome, second.outcome) == ("send", "send")
    assert second.at - first.at == 6.0
    assert second.due_at == first.due_at


def test_pacing_past_the_window_is_deadline_missed(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "triggers" / "logistics_delay.yaml").read_text(encoding="utf-8")
    engine = engine_for(
        custom_triggers(tmp_path, {"logistics_delay.yaml": text.replace("send_within: 30m", "send_within: 3s")})
    )
    ev = Events()
    ev.profile()
    _two_late_parcels(ev)
    ev.view(60, customer="other")
    reasons = [(d.outcome, d.reason) for d in only(replay(ev, engine), "logistics_delay")]
    assert reasons == [("send", None), ("suppress", "deadline_missed")]


def test_a_repeated_event_id_is_processed_once() -> None:
    ev = Events()
    ev.profile()
    first = ev.cart(0)
    ev.add(30, "cart.updated", cart_id="k1", items=[])
    ev.items.append(dict(first, occurred_at=ev.items[0]["occurred_at"]))  # redelivered, even with another time
    ev.view(300, customer="other")
    assert cart_outcomes(ev) == [("cancel", "cart_emptied")]


def test_a_late_event_updates_state_but_never_undoes_a_decision() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.view(70, customer="other")  # the watermark passes the cart timer (60 min)
    ev.order(59)  # arrives late
    ev.cart(100)  # a new episode: the order ended the old one
    ev.view(300, customer="other")
    assert cart_outcomes(ev) == [("send", None), ("suppress", "cooldown")]


def _login_pair(ev: Events, minutes: float, n: int) -> None:
    ev.add(minutes - 30, "login.succeeded", device_id=f"home{n}", country="TW")
    ev.add(minutes, "login.succeeded", device_id=f"new{n}", country=["JP", "US", "FR"][n])


def test_unreachable_suppresses_every_category_for_seven_days() -> None:
    ev = Events()
    ev.profile(-60)
    ev.add(0, "message.failed", key="anomalous_login-x", reason="unreachable", code="131026")
    _login_pair(ev, 60, 0)  # a security alert an hour later: the number cannot receive it
    ev.cart(100)
    _login_pair(ev, 8 * 24 * 60, 1)  # eight days later: reachable again
    outcomes = [(d.trigger, d.outcome, d.reason) for d in replay(ev, until=T0.timestamp() + 9 * 86_400)]
    assert outcomes == [
        ("anomalous_login", "suppress", "unreachable"),
        ("cart_idle", "suppress", "unreachable"),
        ("anomalous_login", "send", None),
    ]


def test_marketing_paused_holds_marketing_for_a_day_but_not_utility_or_security() -> None:
    ev = Events()
    ev.profile(-60)
    ev.add(0, "message.failed", key="cart_idle-x", reason="marketing_paused", code="131049")
    ev.cart(10)
    _login_pair(ev, 100, 0)
    ev.add(25 * 60 - 1, "cart.updated", cart_id="k1", items=[])  # emptied: a new episode may begin
    ev.cart(25 * 60, cart_id="k2")  # a day later
    decisions = [(d.trigger, d.outcome, d.reason) for d in replay(ev, until=T0.timestamp() + 2 * 86_400)]
    assert decisions == [
        ("cart_idle", "suppress", "marketing_paused"),
        ("anomalous_login", "send", None),
        ("cart_idle", "send", None),
    ]


def test_an_opt_out_reported_by_the_provider_is_a_marketing_opt_out() -> None:
    ev = Events()
    ev.profile(-60)
    ev.add(0, "message.failed", key="cart_idle-x", reason="opted_out", code="131050")
    ev.cart(10)
    [d] = only(replay(ev, until=T0.timestamp() + 86_400), "cart_idle")
    assert (d.outcome, d.reason) == ("suppress", "marketing_opt_out")
