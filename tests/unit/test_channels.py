"""The channel a send goes out on: the trigger's channels re-ordered by the customer's preference,
each kept only with consent and reach; a fail-over is the same decision; refusals on LINE and
SMS are remembered per channel; message files' `line:` and `sms:` sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engagement.authoring.channel_checks import flex_texts, sms_parts
from engagement.config.bundle import load_configuration
from engagement.config.loader import InvalidConfig, default_triggers_dir
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.engine import Engine, EngineSettings
from engagement.decode import Rejection, decode_event
from engagement.live.phone_owners import LINE_TAKEN, TAKEN, PhoneBook, line_holder
from engagement.replay.output import decision_line
from tests.scenario import T0, Events, custom_triggers, only, replay

LINE_ID = "U" + "a" * 32
OTHER_LINE_ID = "U" + "b" * 32
DAY_LATER = T0.timestamp() + 86_400


def login_alerts(tmp: Path, channels: str, extra: str = "") -> Engine:
    text = (default_triggers_dir() / "anomalous_login.yaml").read_text(encoding="utf-8")
    text = text.replace("policies:", f"channels: {channels}\n{extra}policies:", 1)
    triggers = custom_triggers(tmp, {"anomalous_login.yaml": text})
    return Engine(triggers, load_messages(default_messages_dir()), EngineSettings())


def carts(tmp: Path, channels: str) -> Engine:
    text = (default_triggers_dir() / "cart_idle.yaml").read_text(encoding="utf-8")
    text = text.replace("policies:", f"channels: {channels}\npolicies:", 1)
    triggers = custom_triggers(tmp, {"cart_idle.yaml": text})
    return Engine(triggers, load_messages(default_messages_dir()), EngineSettings())


def alert(ev: Events, minutes: float = 60, n: int = 0) -> None:
    ev.add(minutes - 30, "login.succeeded", device_id=f"home{n}", country="TW")
    ev.add(minutes, "login.succeeded", device_id=f"new{n}", country=["JP", "US", "FR"][n])


def everywhere(ev: Events, **fields: Any) -> None:
    ev.profile(-120, line_user_id=LINE_ID, line_opt_in=True, sms_opt_in=True, **fields)


def test_the_customers_order_comes_first_and_the_others_follow_as_fallbacks(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev, channels=["sms", "line"])
    alert(ev)
    [send] = only(replay(ev, login_alerts(tmp_path, "[whatsapp, line, sms]")), "anomalous_login")
    assert send.outcome == "send"
    assert send.message is not None
    chain = [(m.channel, m.to) for m in (send.message, *send.message.fallbacks)]
    assert chain == [("sms", "+886912345678"), ("line", LINE_ID), ("whatsapp", "+886912345678")]
    assert send.message.fallback_after == 120.0  # security: 2 minutes
    line = send.message.fallbacks[0]
    assert "檢測到異常登入" in line.body
    assert [v for v, _ in line.replies] == ["IT_WAS_ME", "NOT_ME"]
    assert "請回覆「不是我」" in send.message.body  # the message file's sms: text
    assert send.message.fallbacks[1].template is not None  # WhatsApp still as its approved template


def test_a_channel_the_trigger_does_not_list_is_never_used(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev, channels=["sms"], whatsapp_opt_in=False)
    alert(ev)
    [decision] = only(replay(ev, login_alerts(tmp_path, "[whatsapp, line]")), "anomalous_login")
    assert decision.message is not None
    assert decision.message.channel == "line"
    assert decision.message.fallbacks == ()
    assert dict(decision.channels) == {"whatsapp": "no_consent"}


def test_fallback_after_is_the_triggers_own_or_ten_minutes(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev)
    alert(ev)
    [send] = only(replay(ev, login_alerts(tmp_path, "[line, whatsapp]", "fallback_after: 45s\n")), "anomalous_login")
    assert send.message is not None
    assert send.message.fallback_after == 45.0
    ev = Events()
    everywhere(ev)
    ev.cart(0)
    (tmp_path / "c").mkdir()
    [cart] = only(replay(ev, carts(tmp_path / "c", "[whatsapp, line]"), until=DAY_LATER), "cart_idle")
    assert cart.message is not None
    assert cart.message.fallback_after == 600.0


def test_every_channel_refused_is_one_suppression_naming_each(tmp_path: Path) -> None:
    ev = Events()
    ev.profile(-120, line_user_id=LINE_ID, line_opt_in=True)
    ev.add(-60, "message.failed", key="x-1", reason="unreachable", code="131026")
    ev.add(-50, "message.failed", key="x-2", reason="unreachable", channel="line")  # blocked the account
    alert(ev)
    [decision] = only(replay(ev, login_alerts(tmp_path, "[whatsapp, line, sms]")), "anomalous_login")
    assert (decision.outcome, decision.reason) == ("suppress", "unreachable")
    assert dict(decision.channels) == {"whatsapp": "unreachable", "line": "unreachable", "sms": "no_consent"}
    line = json.loads(decision_line(decision))
    assert line["channels"] == {"whatsapp": "unreachable", "line": "unreachable", "sms": "no_consent"}


def test_no_consent_anywhere_is_no_consent(tmp_path: Path) -> None:
    ev = Events()
    ev.profile(-120, whatsapp_opt_in=False, line_user_id=LINE_ID)  # a LINE id without consent
    alert(ev)
    [decision] = only(replay(ev, login_alerts(tmp_path, "[whatsapp, line, sms]")), "anomalous_login")
    assert (decision.outcome, decision.reason) == ("suppress", "no_consent")


def test_following_the_account_again_makes_line_reachable(tmp_path: Path) -> None:
    ev = Events()
    ev.profile(-120, whatsapp_opt_in=False, line_user_id=LINE_ID, line_opt_in=True)
    ev.add(-60, "message.failed", key="line-unfollow-1", reason="unreachable", channel="line")
    alert(ev, 60, 0)
    ev.add(100, "message.failed", key="line-follow-2", reason="reachable", channel="line")
    alert(ev, 200, 1)
    outcomes = [(d.outcome, d.reason) for d in only(replay(ev, login_alerts(tmp_path, "[line]")), "anomalous_login")]
    assert outcomes == [("suppress", "unreachable"), ("send", None)]


def test_stop_on_sms_stops_sms_only(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev, channels=["sms"])
    ev.add(-60, "message.failed", key="cart_idle-x", reason="opted_out", code="21610", channel="sms")
    ev.cart(0)
    [cart] = only(replay(ev, carts(tmp_path, "[sms, whatsapp]"), until=DAY_LATER), "cart_idle")
    assert cart.outcome == "send"
    assert cart.message is not None
    assert cart.message.channel == "whatsapp"  # marketing still reaches them where they did not say STOP
    assert dict(cart.channels) == {"sms": "no_consent"}


def test_whatsapps_marketing_pause_moves_marketing_to_line(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev)
    ev.add(-60, "message.failed", key="cart_idle-x", reason="marketing_paused", code="131049")
    ev.cart(0)
    [cart] = only(replay(ev, carts(tmp_path, "[whatsapp, line]"), until=DAY_LATER), "cart_idle")
    assert cart.message is not None
    assert cart.message.channel == "line"
    assert dict(cart.channels) == {"whatsapp": "marketing_paused"}


def test_a_marketing_opt_out_holds_on_every_channel(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev, marketing_opt_out=True)
    ev.cart(0)
    [cart] = only(replay(ev, carts(tmp_path, "[line, sms, whatsapp]"), until=DAY_LATER), "cart_idle")
    assert (cart.outcome, cart.reason) == ("suppress", "marketing_opt_out")


def test_a_fail_over_is_one_decision_for_the_cooldown(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev)
    alert(ev, 60, 0)
    alert(ev, 65, 1)  # within the 10 min cooldown
    decisions = only(replay(ev, login_alerts(tmp_path, "[whatsapp, line, sms]")), "anomalous_login")
    assert [(d.outcome, d.reason) for d in decisions] == [("send", None), ("suppress", "cooldown")]


def test_the_shipped_triggers_decide_as_before_on_whatsapp_alone() -> None:
    ev = Events()
    everywhere(ev, channels=["line"])
    alert(ev)
    [send] = only(replay(ev), "anomalous_login")
    assert send.message is not None
    assert send.message.channel == "whatsapp"
    assert send.message.fallbacks == ()
    line = json.loads(decision_line(send))
    assert line["message"]["channel"] == "whatsapp"
    assert "fallbacks" not in line["message"]
    assert "channels" not in line


def test_a_line_id_belongs_to_one_customer() -> None:
    owners = {LINE_ID: line_holder("c1"), "+886912345678": "c1"}
    book = PhoneBook(owners.get, lambda _: None)

    def update(customer: str, **fields: object) -> object:
        raw = {
            "event_id": "u",
            "type": "customer.updated",
            "customer_id": customer,
            "occurred_at": "2026-01-01T00:00:00Z",
        }
        item = decode_event(json.dumps({**raw, **fields}).encode())
        assert not isinstance(item, Rejection)
        return book.refusal(item)

    assert update("c2", line_user_id=LINE_ID) is LINE_TAKEN
    assert update("c2", phone="+886912345678") is TAKEN
    assert update("c1", line_user_id=LINE_ID) is None
    assert update("c2", line_user_id=OTHER_LINE_ID) is None
    assert update("c1", phone="+886987654321") is None  # their own number may change: only ids are checked


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"line_user_id": "U123"}, "line_user_id"),
        ({"line_user_id": "u" + "a" * 32}, "line_user_id"),
        ({"channels": ["line", "line"]}, "channels"),
        ({"channels": ["email"]}, "channels.0"),
        ({"channels": []}, "channels"),
        ({"sms_opt_in": "yes"}, "sms_opt_in"),
    ],
)
def test_bad_channel_fields_are_refused_naming_them(fields: dict[str, object], field: str) -> None:
    raw = {"event_id": "u", "type": "customer.updated", "customer_id": "c1", "occurred_at": "2026-01-01T00:00:00Z"}
    item = decode_event(json.dumps({**raw, **fields}).encode())
    assert isinstance(item, Rejection)
    assert item.field == field


def test_sms_parts_follow_gsm7_and_ucs2() -> None:
    assert (sms_parts("a" * 160).count, sms_parts("a" * 161).count, sms_parts("a" * 307).count) == (1, 2, 3)
    assert sms_parts("{" * 80).count == 1
    assert sms_parts("{" * 81).count == 2
    assert (sms_parts("包" * 70).count, sms_parts("包" * 71).count, sms_parts("包" * 135).count) == (1, 2, 3)
    assert sms_parts("a" * 69 + "😀").units == 71  # an emoji is two UTF-16 units, and makes it UCS-2
    assert sms_parts("Café €5").encoding == "GSM-7"


def test_flex_texts_read_in_order() -> None:
    header = {"type": "box", "contents": [{"type": "text", "text": "A"}]}
    body = {"type": "box", "contents": [{"type": "text", "text": "B\nC"}, {"type": "image", "url": "x"}]}
    bubble = {"type": "bubble", "header": header, "body": body}
    assert flex_texts(json.dumps(bubble)) == ["A", "B", "C"]


def _message_dir(tmp: Path, extra: str) -> Path:
    for source in default_messages_dir().iterdir():
        if source.is_file():
            (tmp / source.name).write_bytes(source.read_bytes())
    text = (tmp / "browse_abandonment.yaml").read_text(encoding="utf-8")
    text = text.split("\nline:", 1)[0] + "\n" + extra
    (tmp / "browse_abandonment.yaml").write_text(text, encoding="utf-8")
    return tmp


@pytest.mark.parametrize(
    ("extra", "where", "says"),
    [
        (
            "line:\n  en:\n    text: x\n    quick_replies: [" + ", ".join(["{value: A, label: a}"] * 14) + "]\n",
            "line.en.quick_replies",
            "at most 13",
        ),
        ("line:\n  en:\n    text: " + "x" * 5001 + "\n", "line.en.text", "at most 5000"),
        ("line:\n  en:\n    text: x\n    flex: {type: carousel}\n", "line.en", "bubble"),
        ("line:\n  en:\n    text: " + "x" * 401 + "\n    flex: {type: bubble}\n", "line.en", "400"),
        ("line:\n  ja:\n    text: x\n", "line.ja", "not among the message's locales"),
        (
            "line:\n  en:\n    text: x\n    quick_replies: [{value: A, label: " + "a" * 21 + "}]\n",
            "line.en.quick_replies.0.label",
            "at most 20",
        ),
        ('sms:\n  en: "{{unclosed"\n', "sms.en", "placeholder"),
        ("line:\n  en:\n    text: x\n    flex: {type: bubble, when: 2024-01-01}\n", "line.en", "JSON values only"),
        ("line:\n  en:\n    text: x\n    flex: {type: bubble, size: .nan}\n", "line.en", "JSON values only"),
    ],
)
def test_bad_line_and_sms_sections_are_problems_with_their_place(
    tmp_path: Path, extra: str, where: str, says: str
) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(InvalidConfig) as caught:
        load_configuration(default_triggers_dir(), _message_dir(tmp_path / "m", extra))
    problems = [p for p in caught.value.problems if p.path.startswith(where)]
    assert problems, caught.value.problems
    assert says in problems[0].message


def test_the_shipped_messages_have_line_and_sms_in_every_locale() -> None:
    catalog = load_messages(default_messages_dir())
    for message in catalog.messages.values():
        assert set(message.line) == set(message.locales), message.source
        assert set(message.sms) == set(message.locales), message.source


def test_a_flex_bubble_is_filled_like_the_text(tmp_path: Path) -> None:
    ev = Events()
    everywhere(ev, locale="en")
    ev.add(0, "order.placed", order_id="o-77", items=[{"product_id": "p", "quantity": 1, "unit_price": 10}],
           total=10, currency="TWD", shipping_fee=60)  # fmt: skip
    ev.add(1, "shipment.dispatched", order_id="o-77", shipment_id="s1", promised_delivery_at="2026-11-20T03:00:00Z")
    text = (default_triggers_dir() / "logistics_delay.yaml").read_text(encoding="utf-8")
    text = text.replace("policies:", "channels: [line]\npolicies:", 1)
    engine = Engine(custom_triggers(tmp_path, {"logistics_delay.yaml": text}), load_messages(default_messages_dir()))
    sends = [d for d in only(replay(ev, engine, until=T0.timestamp() + 3 * 86_400), "logistics_delay") if d.message]
    assert sends
    assert sends[0].message is not None
    assert sends[0].message.flex is not None
    texts = flex_texts(sends[0].message.flex)
    assert texts[0] == "Your parcel may be late"
    assert "order o-77 may be late" in texts[1]
    assert sends[0].message.body.startswith("Order o-77 may be late")
