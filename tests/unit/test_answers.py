"""Answers to replies, on the shipped messages: each action, the window, the hourly limits, the
hand-off pause, matching a reply to the send it answers, and one decision per inbound message."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.core.answers import MAX_ANSWERS_PER_HOUR, MAX_FORWARDED_PER_HOUR
from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.decode import Rejection, decode_event
from engagement.replay.output import decision_line
from tests.scenario import T0, Events, at, engine_for

CART_URL = "https://shop.example/cart/k1"
REPLIES = ("answer", "handoff", "ignore")


class Live:
    """The engine driven as the live runtimes drive it: each event handled on arrival at `now`
    (minutes after T0), timers advanced to a watermark just behind it."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or engine_for(link_domains=("shop.example",))
        self.states: dict[str, CustomerState] = {}
        self.decisions: list[Decision] = []

    def feed(self, event: dict[str, Any], now_minutes: float | None = None) -> list[Decision]:
        item = decode_event(json.dumps(event).encode())
        assert not isinstance(item, Rejection), item
        t = item.occurred_at.timestamp()
        now = max(t, T0.timestamp() + 60 * now_minutes) if now_minutes is not None else t
        step = self.engine.handle(self.states.get(item.customer_id), item, now, now - 1)
        self.states[item.customer_id] = step.state
        self.decisions.extend(step.decisions)
        return step.decisions

    def advance(self, minutes: float) -> list[Decision]:
        """The clock runs on to `minutes`, a minute at a time."""
        out: list[Decision] = []
        start = int(min(s.cursor for s in self.states.values()) - T0.timestamp()) // 60
        for minute in range(max(start, 0), int(minutes) + 1):
            upto = T0.timestamp() + 60 * minute
            for cid, state in list(self.states.items()):
                step = self.engine.advance(state, upto, upto)
                self.states[cid] = step.state
                out.extend(step.decisions)
        self.decisions.extend(out)
        return out


def cart_reminder(customer: str = "c1", url: str | None = CART_URL, locale: str = "zh-TW") -> tuple[Live, Decision]:
    """A customer whose cart went idle and got the reminder at about minute 62."""
    live, ev = Live(), Events()
    live.feed(ev.profile(customer=customer, locale=locale))
    cart = ev.cart(0, customer=customer)
    if url is not None:
        cart["cart_url"] = url
    live.feed(cart)
    sends = [d for d in live.advance(70) if d.outcome == "send"]
    assert len(sends) == 1, sends
    return live, sends[0]


def reply(
    minutes: float,
    *,
    customer: str = "c1",
    text: str | None = None,
    button: str | None = None,
    to: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id or f"wa-{customer}-{minutes}-{text}-{button}",
        "type": "message.replied",
        "customer_id": customer,
        "occurred_at": at(minutes),
    }
    for name, value in (("text", text), ("button_payload", button), ("in_reply_to", to)):
        if value is not None:
            event[name] = value
    return event


def one(decisions: list[Decision]) -> Decision:
    replies = [d for d in decisions if d.outcome in REPLIES]
    assert len(replies) == 1, decisions
    return replies[0]


def test_a_tapped_button_gets_its_answer_with_the_cart_link() -> None:
    live, sent = cart_reminder()
    answer = one(live.feed(reply(80, button="CHECKOUT", text="幫我結帳", to=sent.key)))
    assert (answer.outcome, answer.reason, answer.trigger) == ("answer", "CHECKOUT", "cart_idle")
    assert answer.message is not None
    assert answer.message.category == "service"
    assert answer.message.body == f"這是您的購物車,點此結帳:{CART_URL}"
    assert answer.message.to == "+886912345678"
    assert answer.key.startswith("answer-")


def test_the_same_word_typed_in_any_case_is_the_same_answer_in_the_customers_language() -> None:
    live, _ = cart_reminder(locale="en")
    answer = one(live.feed(reply(80, text="  checkout ")))
    assert (answer.outcome, answer.reason) == ("answer", "CHECKOUT")
    assert answer.message is not None
    assert answer.message.body == f"Here is your cart, ready to check out: {CART_URL}"


def test_an_answer_that_cannot_be_filled_goes_to_people() -> None:
    live, sent = cart_reminder(url=None)
    handed = one(live.feed(reply(80, button="CHECKOUT", to=sent.key)))
    assert (handed.outcome, handed.reason) == ("handoff", "answer_incomplete:CHECKOUT")


def test_a_link_outside_the_shops_domains_is_never_sent() -> None:
    live, sent = cart_reminder(url="https://evil.example/cart")
    handed = one(live.feed(reply(80, button="CHECKOUT", to=sent.key)))
    assert (handed.outcome, handed.reason) == ("handoff", "answer_incomplete:CHECKOUT")


def test_stop_opts_out_and_no_more_marketing_follows() -> None:
    live, sent = cart_reminder()
    ignored = one(live.feed(reply(80, button="STOP", to=sent.key)))
    assert (ignored.outcome, ignored.reason) == ("ignore", "opt_out")
    live.feed(Events().cart(200, cart_id="k2") | {"event_id": "cart-2"})
    later = [d for d in live.advance(300) if d.trigger == "cart_idle" and d.outcome in ("send", "suppress")]
    assert [(d.outcome, d.reason) for d in later] == [("suppress", "marketing_opt_out")]


def test_other_words_go_to_people_with_what_we_sent_and_the_cart() -> None:
    live, sent = cart_reminder()
    handed = one(live.feed(reply(80, text="這件有其他顏色嗎?", to=sent.key)))
    assert (handed.outcome, handed.reason) == ("handoff", "asked:default")
    assert handed.handoff is not None
    assert handed.handoff.sent_key == sent.key
    assert sent.message is not None
    assert handed.handoff.sent_text == sent.message.body
    assert dict(handed.handoff.context)["cart_url"] == CART_URL
    assert handed.handoff.reply_text == "這件有其他顏色嗎?"
    record = json.loads(decision_line(handed))
    assert record["handoff"]["context"]["cart_url"] == CART_URL


def test_a_keyword_answers_any_reply_and_a_handoff_pauses_answers_until_resolved() -> None:
    live, sent = cart_reminder()
    asked = one(live.feed(reply(80, text="請幫我轉真人客服")))
    assert (asked.outcome, asked.reason) == ("handoff", "asked:keyword:真人")
    paused = one(live.feed(reply(81, button="CHECKOUT", to=sent.key)))
    assert (paused.outcome, paused.reason) == ("handoff", "conversation_open:CHECKOUT")
    live.feed(
        {"event_id": "r1", "type": "conversation.resolved", "customer_id": "c1", "occurred_at": "2026-11-20T03:22:00Z"}
    )
    again = one(live.feed(reply(83, button="CHECKOUT", to=sent.key)))
    assert (again.outcome, again.reason) == ("answer", "CHECKOUT")


def test_a_handoff_pause_ends_after_a_day() -> None:
    live, sent = cart_reminder()
    live.feed(reply(80, text="agent please"))
    later = one(live.feed(reply(80 + 24 * 60 + 1, text="checkout", to=sent.key)))
    assert (later.outcome, later.reason) == ("answer", "CHECKOUT")


def test_where_is_my_order_days_after_a_send_answers_with_the_latest_shipment() -> None:
    live, _ = cart_reminder(locale="en")
    dispatched = Events().add(
        100, "shipment.dispatched", order_id="o1", shipment_id="s1", promised_delivery_at="2026-11-25T00:00:00Z"
    )
    dispatched |= {"event_id": "ship-1", "tracking_url": "https://track.shop.example/s1"}
    live.feed(dispatched)
    answer = one(live.feed(reply(3 * 24 * 60, text="Hi, where is my order?")))  # three days on: no send that day
    assert (answer.outcome, answer.reason, answer.trigger) == ("answer", "keyword:物流", "_none")
    assert answer.message is not None
    assert answer.message.body == "Your parcel: https://track.shop.example/s1"


def test_a_number_we_have_not_written_to_gets_no_links_from_a_keyword() -> None:
    """Whoever holds a recycled number must not get the last holder's parcel link on demand."""
    live, ev = Live(), Events()
    live.feed(ev.profile(locale="en"))
    dispatched = ev.add(
        0, "shipment.dispatched", order_id="o1", shipment_id="s1", promised_delivery_at="2026-11-25T00:00:00Z"
    )
    dispatched["tracking_url"] = "https://track.shop.example/s1"
    live.feed(dispatched)
    handed = one(live.feed(reply(5, text="Hi, where is my order?")))
    assert (handed.outcome, handed.reason) == ("handoff", "unverified:keyword:物流")


def test_keywords_match_whole_words_and_cjk_anywhere() -> None:
    live, _ = cart_reminder(locale="en")
    assert one(live.feed(reply(80, text="I bought a reagent"))).reason == "asked:default"  # not "agent"
    live2, _ = cart_reminder()
    matched = one(live2.feed(reply(80, text="我的包裹到了嗎")))  # no shipment yet: its link is missing
    assert (matched.outcome, matched.reason) == ("handoff", "answer_incomplete:keyword:物流")


def test_a_reply_older_than_a_week_is_history_not_a_conversation() -> None:
    live, sent = cart_reminder()
    old = one(live.feed(reply(80, button="CHECKOUT", to=sent.key), now_minutes=80 + 8 * 24 * 60))
    assert (old.outcome, old.reason) == ("ignore", "stale")
    late = one(live.feed(reply(81, button="CHECKOUT", to=sent.key), now_minutes=81 + 2 * 24 * 60))
    assert (late.outcome, late.reason) == ("handoff", "outside_window:CHECKOUT")
    fresh = one(live.feed(reply(82 + 2 * 24 * 60, button="CHECKOUT", to=sent.key)))
    assert fresh.outcome == "answer"  # a late reply went to people without pausing the answers


def test_a_link_is_kept_whole_or_not_at_all() -> None:
    long_url = "https://shop.example/cart/" + "k" * 1500
    live, sent = cart_reminder(url=long_url)
    answer = one(live.feed(reply(80, button="CHECKOUT", to=sent.key)))
    assert answer.message is not None
    assert answer.message.body.endswith(long_url)


def test_not_me_typed_is_the_not_me_button() -> None:
    live, sent = cart_reminder()
    assert one(live.feed(reply(80, text=" not_me ", to=sent.key))).reason == "not_me"


def test_a_reply_to_nothing_of_ours_without_a_keyword_goes_to_people() -> None:
    live = Live()
    live.feed(Events().profile())
    handed = one(live.feed(reply(5, text="hello?")))
    assert (handed.outcome, handed.reason, handed.trigger) == ("handoff", "no_answer", "_none")


def test_a_reply_read_more_than_a_day_late_is_not_answered_automatically() -> None:
    live, sent = cart_reminder()
    late = one(live.feed(reply(80, button="CHECKOUT", to=sent.key), now_minutes=80 + 24 * 60 + 5))
    assert (late.outcome, late.reason) == ("handoff", "outside_window:CHECKOUT")


def test_at_most_five_answers_an_hour_then_people_then_a_flood_is_ignored() -> None:
    live, sent = cart_reminder()
    decided = [one(live.feed(reply(80 + n / 100, button="CHECKOUT", to=sent.key))) for n in range(100)]
    outcomes = [(d.outcome, d.reason) for d in decided]
    answers = MAX_ANSWERS_PER_HOUR
    assert outcomes[:answers] == [("answer", "CHECKOUT")] * answers
    assert outcomes[answers] == ("handoff", "rate_limited:CHECKOUT")
    forwarded = MAX_FORWARDED_PER_HOUR
    assert outcomes[answers + 1 : answers + forwarded] == [("handoff", "conversation_open:CHECKOUT")] * (forwarded - 1)
    assert outcomes[answers + forwarded :] == [("ignore", "flood")] * (100 - answers - forwarded)


def test_a_context_id_of_another_customers_message_shows_nothing_of_theirs() -> None:
    live, sent = cart_reminder()
    live.feed(Events().profile(customer="c2", phone="+886922222222"))
    handed = one(live.feed(reply(80, customer="c2", button="CHECKOUT", to=sent.key)))
    assert (handed.outcome, handed.reason, handed.trigger) == ("handoff", "no_answer", "_none")
    assert handed.handoff is not None
    assert handed.handoff.sent_key is None
    assert handed.handoff.context == ()


def test_an_unknown_button_goes_to_the_messages_default() -> None:
    live, sent = cart_reminder()
    handed = one(live.feed(reply(80, button="SOMETHING_ELSE", to=sent.key)))
    assert (handed.outcome, handed.reason) == ("handoff", "asked:default")


def test_the_same_inbound_message_delivered_again_is_decided_once() -> None:
    live, sent = cart_reminder()
    first = live.feed(reply(80, button="CHECKOUT", to=sent.key, event_id="wa-same"))
    again = live.feed(reply(80, button="CHECKOUT", to=sent.key, event_id="wa-same"))
    assert len(first) == 1
    assert again == []


def test_login_alert_buttons() -> None:
    live, ev = Live(), Events()
    live.feed(ev.profile())
    live.feed(ev.add(0, "login.succeeded", device_id="d1", country="TW"))
    alert = [d for d in live.feed(ev.add(10, "login.succeeded", device_id="d2", country="RU")) if d.outcome == "send"]
    assert alert, live.decisions
    fine = one(live.feed(reply(11, button="IT_WAS_ME", to=alert[0].key)))
    assert (fine.outcome, fine.reason, fine.trigger) == ("answer", "IT_WAS_ME", "anomalous_login")
    not_me = one(live.feed(reply(12, button="NOT_ME", to=alert[0].key)))
    assert (not_me.outcome, not_me.reason) == ("ignore", "not_me")


TEXTS = ("checkout", "STOP", "客服", "where is my order", "hello", "", "   ", "幫我結帳", "it_was_me", "x" * 4096)
BUTTONS = (None, "CHECKOUT", "STOP", "NOT_ME", "IT_WAS_ME", "UNKNOWN")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("c1", "c2")),
            st.floats(min_value=63, max_value=63 + 3 * 24 * 60),
            st.sampled_from(TEXTS),
            st.sampled_from(BUTTONS),
            st.booleans(),
            st.integers(min_value=0, max_value=30),
            st.floats(min_value=0, max_value=26 * 60),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_inbound_message_gets_exactly_one_of_answer_handoff_or_ignored_with_a_reason(
    replies: list[tuple[str, float, str, str | None, bool, int, float]],
) -> None:
    live, sent = cart_reminder()
    live.feed(Events().profile(customer="c2", phone="+886922222222"))
    ids: list[tuple[str, str]] = []
    clock = 63.0
    for customer, minutes, text, button, named, n, delay in sorted(replies, key=lambda r: r[1]):
        event_id = f"wa-{n}"  # repeats: the same inbound message delivered again
        event = reply(minutes, customer=customer, text=text or None, button=button,
                      to=sent.key if named else None, event_id=event_id)  # fmt: skip
        clock = max(clock, minutes + delay / 10)
        decided = [d for d in live.feed(event, now_minutes=clock) if d.outcome in REPLIES]
        first = (customer, event_id) not in ids
        assert len(decided) == (1 if first else 0)
        if first:
            ids.append((customer, event_id))
            d = decided[0]
            assert d.event_id == event_id
            assert d.outcome == "answer" or d.reason, d
            if d.outcome == "answer":
                assert d.message is not None
                assert d.message.category == "service"
                assert d.at - d.due_at < 86_400
