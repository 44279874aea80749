"""The LINE and Twilio SMS providers against fake servers on loopback: each documented request
shape, and what each answer means for the send (sent, a fail-over, a back-off, an opt-out)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from engagement.live.metrics import Metrics
from engagement.live.sender import deliver
from engagement.providers.base import (
    ChannelUnavailableError,
    MarketingRefusedError,
    OutboundMessage,
    PermanentError,
    RecipientUnreachableError,
    ThrottledError,
)
from engagement.providers.line.push_api import LinePushProvider, retry_key
from engagement.providers.twilio.messages_api import TwilioProvider
from tests.integration.fake_line import LINE_TOKEN, MONTHLY_LIMIT, NOT_A_FRIEND, RATE_LIMIT, FakeLine, line_error
from tests.integration.fake_twilio import ACCOUNT, TOKEN, FakeTwilio, twilio_error

pytestmark = pytest.mark.integration

LINE_ID = "U" + "1" * 32
FLEX = json.dumps({"type": "bubble", "body": {"type": "box", "layout": "vertical",
                                              "contents": [{"type": "text", "text": "包裹可能延誤"}]}})  # fmt: skip


def on_line(key: str = "anomalous_login-c1-x", category: str = "security", **fields: object) -> OutboundMessage:
    base = OutboundMessage(key, "anomalous_login", "c1", LINE_ID, "zh-TW", category, "檢測到異常登入", channel="line")
    return OutboundMessage.from_dict({**base.to_dict(), **fields})


async def test_a_line_push_has_the_documented_shape_and_a_retried_key_is_sent_once(line: FakeLine) -> None:
    provider = LinePushProvider(line.base_url, LINE_TOKEN)
    try:
        message = on_line(replies=(("IT_WAS_ME", "是我本人"), ("NOT_ME", "不是我")))
        first = await provider.send(message)
        again = await provider.send(message)  # the same send again (after a timeout, say): LINE says 409
    finally:
        await provider.close()
    assert len(line.received) == 2
    pushed = line.received[0]
    assert pushed.headers["Authorization"] == f"Bearer {LINE_TOKEN}"
    key = pushed.headers["X-Line-Retry-Key"]
    assert key == retry_key(message.key) == line.received[1].headers["X-Line-Retry-Key"]
    assert uuid.UUID(key).version == 5
    assert pushed.body["to"] == LINE_ID
    [sent] = pushed.body["messages"]
    assert sent["type"] == "text"
    assert sent["text"] == "檢測到異常登入"
    items = sent["quickReply"]["items"]
    assert [i["action"]["data"] for i in items] == ["IT_WAS_ME", "NOT_ME"]
    assert {i["action"]["type"] for i in items} == {"postback"}
    assert first.status == again.status == "accepted"
    assert again.provider_message_id == line.accepted_keys[key]  # the first request's id, from the 409


async def test_a_flex_bubble_goes_as_a_flex_message(line: FakeLine) -> None:
    provider = LinePushProvider(line.base_url, LINE_TOKEN)
    try:
        await provider.send(
            on_line(key="logistics_delay-c1-s1", category="utility", flex=FLEX, body="您的包裹可能延誤")
        )
    finally:
        await provider.close()
    [sent] = line.received[0].body["messages"]
    assert sent["type"] == "flex"
    assert sent["altText"] == "您的包裹可能延誤"
    assert sent["contents"] == json.loads(FLEX)


async def test_lines_answers_mean_what_they_say(line: FakeLine) -> None:
    provider = LinePushProvider(line.base_url, LINE_TOKEN)
    try:
        line.script.extend([NOT_A_FRIEND, line_error(403, "Access to this API is not available"), RATE_LIMIT])
        with pytest.raises(RecipientUnreachableError):
            await provider.send(on_line(key="a"))
        with pytest.raises(PermanentError):
            await provider.send(on_line(key="b"))
        with pytest.raises(ThrottledError) as throttled:
            await provider.send(on_line(key="c"))
        assert throttled.value.retry_after > 0
        line.script.append(MONTHLY_LIMIT)
        with pytest.raises(ChannelUnavailableError):
            await provider.send(on_line(key="d", category="marketing"))
        calls = len(line.received)
        with pytest.raises(ChannelUnavailableError):  # the month's messages are spent: LINE is not called
            await provider.send(on_line(key="e", category="marketing"))
        assert len(line.received) == calls
        await provider.send(on_line(key="f", category="security"))  # another category still goes
        assert len(line.received) == calls + 1
    finally:
        await provider.close()


async def test_an_unreachable_line_customer_moves_on_at_once_and_is_remembered(line: FakeLine) -> None:
    provider = LinePushProvider(line.base_url, LINE_TOKEN)
    sms = OutboundMessage("k1", "anomalous_login", "c1", "+886912345678", "zh-TW", "security", "SMS", channel="sms")
    message = on_line(key="k1", fallbacks=(sms.to_dict(),), fallback_after=120.0)
    line.script.append(NOT_A_FRIEND)
    try:
        outcome = await deliver(provider, message, 1000.0, 1100.0, 1, Metrics())
    finally:
        await provider.close()
    assert outcome.status == "failover"
    assert outcome.feedback == "unreachable"
    assert outcome.next is not None
    assert outcome.next.channel == "sms"
    assert outcome.next.tried == (("line", "400"),)


async def test_an_sms_has_the_documented_form_and_stop_is_the_sms_opt_out(twilio: FakeTwilio) -> None:
    provider = TwilioProvider(ACCOUNT, TOKEN, "", base_url=twilio.base_url, sms_sender="+15005550006",
                              status_callback="https://shop.example/v1/webhooks/twilio")  # fmt: skip
    sms = OutboundMessage("cart_idle-c1-k1", "cart_idle", "c1", "+886912345678", "zh-TW", "marketing",
                          "購物車還保留著。回覆 STOP 退訂", channel="sms")  # fmt: skip
    try:
        receipt = await provider.send(sms)
        twilio.script.append(twilio_error(21610))
        outcome = await deliver(provider, sms, 1000.0, 1100.0, 1, Metrics())
        twilio.script.append(twilio_error(21610))
        with pytest.raises(MarketingRefusedError):
            await provider.send(sms)
    finally:
        await provider.close()
    form = twilio.received[0].form
    assert receipt.provider_message_id.startswith("SM")
    assert form["To"] == "+886912345678"
    assert form["From"] == "+15005550006"
    assert form["Body"] == "購物車還保留著。回覆 STOP 退訂"
    callback = urlsplit(form["StatusCallback"])
    assert parse_qs(callback.query) == {"key": ["cart_idle-c1-k1"], "channel": ["sms"]}
    assert (outcome.status, outcome.feedback, outcome.code) == ("failed", "opted_out", "21610")


async def test_a_twilio_account_without_a_whatsapp_sender_refuses_whatsapp_so_the_send_moves_on(
    twilio: FakeTwilio,
) -> None:
    provider = TwilioProvider(ACCOUNT, TOKEN, "", base_url=twilio.base_url, sms_sender="MG" + "0" * 32)
    wa = OutboundMessage("k", "anomalous_login", "c1", "+886912345678", "en", "security", "hi")
    try:
        with pytest.raises(ChannelUnavailableError):
            await provider.send(wa)
        await provider.send(OutboundMessage.from_dict({**wa.to_dict(), "channel": "sms"}))
    finally:
        await provider.close()
    assert twilio.received[0].form["MessagingServiceSid"] == "MG" + "0" * 32
