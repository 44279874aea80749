"""The four triggers: when they fire, what cancels them, and their once-per rules (CONTRACT.md §2)."""

from __future__ import annotations

from typing import Any

from tests.scenario import Events, at, minutes_after_t0, only, replay


def test_cart_idle_sends_sixty_minutes_after_the_last_activity() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.view(20)
    ev.view(200)  # moves the clock on
    [d] = only(replay(ev), "cart_idle")
    assert (d.outcome, d.reason) == ("send", None)
    assert minutes_after_t0(d.at) == 80  # 20 + 60: the page view was activity
    assert minutes_after_t0(d.deadline) == 85
    assert d.message is not None
    assert d.message.body == "Mei,為您保留的Item 0還在購物車裡。\n合計 NT$100\n需要幫您完成結帳嗎?"
    assert d.message.template is not None
    assert (d.message.template.name, d.message.template.language) == ("cart_reminder", "zh_TW")
    assert d.message.template.parameters == ((None, "Mei"), (None, "Item 0"), (None, "NT$100"))


def test_order_one_second_before_the_cart_timer_cancels_it() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.order(60 - 1 / 60)
    ev.view(200)
    [d] = only(replay(ev), "cart_idle")
    assert (d.outcome, d.reason) == ("cancel", "converted")
    assert minutes_after_t0(d.due_at) == 60


def test_emptied_cart_cancels() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.add(10, "cart.updated", cart_id="k1", items=[])
    ev.view(200)
    [d] = only(replay(ev), "cart_idle")
    assert (d.outcome, d.reason) == ("cancel", "cart_emptied")


def test_cart_idle_once_per_episode_and_per_24h() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.view(30)  # activity moves the reminder within the episode
    ev.cart(100, items=2)  # after the reminder: a new episode, judged by the 24 h cooldown
    ev.add(200, "cart.updated", cart_id="k1", items=[])
    ev.cart(210)  # emptied, then filled: another new episode, still within 24 h
    ev.view(400)
    decisions = only(replay(ev), "cart_idle")
    assert [(d.outcome, d.reason, minutes_after_t0(d.at)) for d in decisions] == [
        ("send", None, 90),
        ("suppress", "cooldown", 160),
        ("suppress", "cooldown", 270),
    ]
    assert len({d.key for d in decisions}) == 3


def test_a_reminder_suppressed_at_night_does_not_silence_the_cart() -> None:
    ev = Events()
    ev.profile()
    ev.cart(13 * 60)  # 23:00 in Taipei: the reminder falls at midnight, in quiet hours
    ev.cart(13 * 60 + 30 + 60 * 16, items=2)  # 15:30 the next afternoon: two more items
    ev.view(60 * 31)
    decisions = only(replay(ev), "cart_idle")
    assert [(d.outcome, d.reason) for d in decisions] == [("suppress", "quiet_hours"), ("send", None)]
    assert minutes_after_t0(decisions[1].at) == 13 * 60 + 30 + 60 * 16 + 60
    assert decisions[0].key != decisions[1].key


def test_page_views_alone_never_open_a_new_episode() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    for minute in range(90, 60 * 30, 45):
        ev.view(minute)  # back on the shop for a day, without touching the cart
    decisions = only(replay(ev), "cart_idle")
    assert [(d.outcome, d.reason) for d in decisions] == [("send", None)]


def test_a_cart_change_from_before_the_decision_opens_no_episode() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.view(120)  # the reminder went out at 60
    ev.cart(59, items=3)  # arrives late: it happened before the reminder
    ev.view(60 * 5)
    decisions = only(replay(ev), "cart_idle")
    assert [(d.outcome, d.reason) for d in decisions] == [("send", None)]


def test_a_reminder_sent_last_week_leaves_the_next_change_a_reminder_of_its_own() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.cart(60 * 24 * 7, items=2)  # a week later: the cooldown is long over
    ev.view(60 * 24 * 7 + 120)
    decisions = only(replay(ev), "cart_idle")
    assert [(d.outcome, d.reason) for d in decisions] == [("send", None), ("send", None)]
    assert decisions[0].key != decisions[1].key


def test_browse_of_exactly_five_minutes_sends_five_minutes_after_leaving() -> None:
    ev = Events()
    ev.profile()
    ev.view(0)
    ev.view(3, product="p2")
    ev.add(5, "page.left", product_id="p2")
    ev.view(60, customer="other")
    [d] = only(replay(ev), "browse_abandonment")
    assert (d.outcome, d.reason) == ("send", None)
    assert minutes_after_t0(d.at) == 10
    assert minutes_after_t0(d.deadline) == 15
    assert d.event_id == "e2"


def test_browse_just_under_five_minutes_never_fires() -> None:
    ev = Events()
    ev.profile()
    ev.view(0)
    ev.add(5 - 1 / 60, "page.left", product_id="p1")
    ev.view(60, customer="other")
    assert only(replay(ev), "browse_abandonment") == []


def test_a_gap_of_five_minutes_ends_the_visit() -> None:
    ev = Events()
    ev.profile()
    ev.view(0)
    ev.view(4)
    ev.view(9)  # 5 min after the last: a new visit; the first lasted only 4 min
    ev.view(10)
    ev.view(60, customer="other")
    assert only(replay(ev), "browse_abandonment") == []


def test_browse_cancelled_by_a_filled_cart_or_an_order() -> None:
    for cancel, reason in (("cart", "added_to_cart"), ("order", "converted")):
        ev = Events()
        ev.profile()
        ev.view(0)
        ev.view(3)
        ev.view(6)
        if cancel == "cart":
            ev.cart(8)
        else:
            ev.order(8)
        ev.view(90, customer="other")
        [d] = only(replay(ev), "browse_abandonment")
        assert (d.outcome, d.reason) == ("cancel", reason)


def test_browse_cancelled_after_leaving_but_before_the_fire() -> None:
    ev = Events()
    ev.profile()
    ev.view(0)
    ev.view(3)
    ev.add(6, "page.left", product_id="p1")
    ev.order(9)
    ev.view(90, customer="other")
    [d] = only(replay(ev), "browse_abandonment")
    assert (d.outcome, d.reason) == ("cancel", "converted")


def _shipment(ev: Events, promised_minutes: float) -> None:
    ev.add(
        0,
        "shipment.dispatched",
        order_id="o1",
        shipment_id="s1",
        carrier="Black Cat",
        promised_delivery_at=_iso(promised_minutes),
    )


def _iso(minutes: float) -> str:
    return at(minutes)


def test_logistics_delay_when_the_clock_passes_promise_plus_24h() -> None:
    ev = Events()
    ev.profile()
    _shipment(ev, 60)
    ev.view(60 + 24 * 60 + 10, customer="other")
    [d] = only(replay(ev), "logistics_delay")
    assert (d.outcome, d.reason) == ("send", None)
    assert minutes_after_t0(d.at) == 60 + 24 * 60
    assert minutes_after_t0(d.deadline) == 60 + 24 * 60 + 30


def test_logistics_delay_confirmed_by_a_late_new_eta() -> None:
    ev = Events()
    ev.profile()
    _shipment(ev, 60)
    ev.add(30, "shipment.status_changed", order_id="o1", shipment_id="s1", status="delayed", new_eta=_iso(60 + 48 * 60))
    ev.view(120, customer="other")
    [d] = only(replay(ev), "logistics_delay")
    assert (d.outcome, minutes_after_t0(d.at)) == ("send", 30)


def test_a_new_eta_under_the_threshold_does_not_confirm() -> None:
    ev = Events()
    ev.profile()
    _shipment(ev, 60)
    ev.add(30, "shipment.status_changed", order_id="o1", shipment_id="s1", status="delayed", new_eta=_iso(60 + 23 * 60))
    ev.view(120, customer="other")
    assert only(replay(ev), "logistics_delay") == []


def test_delivery_before_confirmation_cancels_and_once_per_shipment() -> None:
    ev = Events()
    ev.profile()
    _shipment(ev, 60)
    ev.add(50, "shipment.delivered", order_id="o1", shipment_id="s1")
    ev.add(51, "shipment.dispatched", order_id="o1", shipment_id="s1", promised_delivery_at=_iso(60))
    ev.view(3 * 24 * 60, customer="other")
    [d] = only(replay(ev), "logistics_delay")
    assert (d.outcome, d.reason) == ("cancel", "delivered")


def _login(ev: Events, minutes: float, **fields: Any) -> None:
    defaults: dict[str, Any] = {"device_id": "d1", "country": "TW", "latitude": 25.03, "longitude": 121.56}
    defaults.update(fields)
    ev.add(minutes, "login.succeeded", **{k: v for k, v in defaults.items() if v is not None})


def test_first_login_is_never_anomalous() -> None:
    ev = Events()
    ev.profile()
    _login(ev, 0, device_id="new", country="US", latitude=40.7, longitude=-74.0)
    assert only(replay(ev), "anomalous_login") == []


def test_new_device_and_new_country_alerts_at_once() -> None:
    ev = Events()
    ev.profile()
    _login(ev, 0)
    _login(ev, 30 * 60, device_id="d2", country="JP", latitude=None, longitude=None)
    [d] = only(replay(ev), "anomalous_login")
    assert (d.outcome, minutes_after_t0(d.at), minutes_after_t0(d.deadline)) == ("send", 1800, 1802)
    assert d.message is not None
    assert d.message.body == "檢測到異常登入(11月21日 16:00),請確認是否本人操作。"  # in the customer's zone


def test_new_device_in_a_known_country_is_not_anomalous() -> None:
    ev = Events()
    ev.profile()
    _login(ev, 0)
    _login(ev, 60, device_id="d2")
    assert only(replay(ev), "anomalous_login") == []


def test_impossible_travel() -> None:
    ev = Events()
    ev.profile()
    _login(ev, 0)  # Taipei
    _login(ev, 60, country="TW", latitude=35.68, longitude=139.69)  # Tokyo an hour later: ~2,100 km/h
    [d] = only(replay(ev), "anomalous_login")
    assert d.outcome == "send"


def test_plausible_travel_is_not_anomalous() -> None:
    ev = Events()
    ev.profile()
    _login(ev, 0)
    _login(ev, 6 * 60, latitude=35.68, longitude=139.69)  # Tokyo six hours later: ~350 km/h
    assert only(replay(ev), "anomalous_login") == []


def test_five_failed_logins_in_ten_minutes_then_success_alerts() -> None:
    for failures, expected in ((5, 1), (4, 0)):
        ev = Events()
        ev.profile()
        _login(ev, 0)
        for i in range(failures):
            ev.add(100 + i, "login.failed", device_id="d1")
        _login(ev, 100 + 9)
        assert len(only(replay(ev), "anomalous_login")) == expected, failures


def test_login_alerts_at_most_once_per_ten_minutes() -> None:
    ev = Events()
    ev.profile()
    _login(ev, 0)
    _login(ev, 100, device_id="x1", country="US", latitude=None, longitude=None)
    _login(ev, 105, device_id="x2", country="FR", latitude=None, longitude=None)
    _login(ev, 111, device_id="x3", country="DE", latitude=None, longitude=None)
    decisions = only(replay(ev), "anomalous_login")
    assert [(d.outcome, d.reason) for d in decisions] == [("send", None), ("suppress", "cooldown"), ("send", None)]


def test_login_alert_sees_a_profile_update_still_waiting_in_the_ordering_buffer() -> None:
    ev = Events()
    _login(ev, 0)
    ev.profile(minutes=100)
    _login(ev, 100 + 5 / 60, device_id="x1", country="US", latitude=None, longitude=None)
    [d] = only(replay(ev), "anomalous_login")
    assert d.outcome == "send"
