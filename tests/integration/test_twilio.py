"""The Twilio provider against a fake Messages API on loopback (form-encoded, ContentSid and
ContentVariables, the error table), and `engagement run` with ENGAGEMENT_PROVIDER=twilio:
login alerts delivered once under faults, and Twilio's signed callbacks (statuses, replies)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from engagement.providers.base import (
    MarketingRefusedError,
    OutboundMessage,
    PermanentError,
    RecipientUnreachableError,
    SendingHaltedError,
    TemplateParameter,
    TemplateSend,
    ThrottledError,
    TransientError,
)
from engagement.providers.twilio.messages_api import TwilioProvider
from engagement.timefmt import rfc3339
from tests.integration.fake_twilio import ACCOUNT, TOKEN, FakeTwilio, Sent, twilio_error
from tests.integration.processes import RunProcess, free_port

pytestmark = pytest.mark.integration

SENDER = "whatsapp:+15550001111"
CONTENT = {
    "login_alert": {"en_US": "HX11111111111111111111111111111111", "zh_TW": "HX22222222222222222222222222222222"}
}


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def provider(fake: FakeTwilio, callback: str | None = "https://shop.example/v1/webhooks/twilio") -> TwilioProvider:
    return TwilioProvider(ACCOUNT, TOKEN, SENDER, base_url=fake.base_url, content=CONTENT, status_callback=callback)


def alert(key: str = "anomalous_login-abc", named: bool = False) -> OutboundMessage:
    parameter = TemplateParameter("11月22日 14:05", name="login_time" if named else None)
    template = TemplateSend("login_alert", "zh_TW", (parameter,))
    return OutboundMessage(
        key, "anomalous_login", "c1", "+886912345678", "zh-TW", "security", "檢測到異常登入", template
    )


async def test_a_template_send_is_form_encoded_with_content_sid_and_variables(twilio: FakeTwilio) -> None:
    adapter = provider(twilio)
    try:
        receipt = await adapter.send(alert())
        await adapter.send(alert("anomalous_login-def", named=True))
        text = OutboundMessage("k3", "anomalous_login", "c1", "+886912345678", "en", "security", "Was it you?")
        await adapter.send(text)
    finally:
        await adapter.close()
    assert receipt.provider_message_id.startswith("SM")
    first, named, free_form = (sent.form for sent in twilio.received)
    assert first["To"] == "whatsapp:+886912345678"
    assert first["From"] == SENDER
    assert first["ContentSid"] == "HX" + "2" * 32
    assert json.loads(first["ContentVariables"]) == {"1": "11月22日 14:05"}
    assert "Body" not in first
    callback = urlsplit(first["StatusCallback"])
    assert (callback.netloc, callback.path) == ("shop.example", "/v1/webhooks/twilio")
    assert parse_qs(callback.query) == {"key": ["anomalous_login-abc"]}
    assert json.loads(named["ContentVariables"]) == {"login_time": "11月22日 14:05"}
    assert free_form["Body"] == "Was it you?"
    assert "ContentSid" not in free_form


@pytest.mark.parametrize(
    ("answer", "expected", "detail"),
    [
        (twilio_error(20429, 429, retry_after="3"), ThrottledError, "sender"),
        (twilio_error(63018, 429), ThrottledError, "sender"),
        (twilio_error(21610), MarketingRefusedError, "opted_out"),
        (twilio_error(63049), MarketingRefusedError, "paused"),
        (twilio_error(21211), RecipientUnreachableError, None),
        (twilio_error(63024), RecipientUnreachableError, None),
        (twilio_error(20003, 401), SendingHaltedError, None),
        (twilio_error(63016), PermanentError, None),
        (twilio_error(20500, 500), TransientError, None),
    ],
)
async def test_the_error_table(
    twilio: FakeTwilio, answer: object, expected: type[Exception], detail: str | None
) -> None:
    twilio.default = answer  # type: ignore[assignment]
    adapter = provider(twilio)
    try:
        with pytest.raises(expected) as caught:
            await adapter.send(alert())
    finally:
        await adapter.close()
    error = caught.value
    if isinstance(error, ThrottledError):
        assert error.scope == detail
        assert error.retry_after >= (3.0 if error.code == "20429" else 2.0)
    if isinstance(error, MarketingRefusedError):
        assert error.opted_out == (detail == "opted_out")


async def test_a_template_without_a_content_sid_is_refused_before_any_call(twilio: FakeTwilio) -> None:
    adapter = TwilioProvider(ACCOUNT, TOKEN, SENDER, base_url=twilio.base_url, content={})
    try:
        with pytest.raises(PermanentError, match="no ContentSid"):
            await adapter.send(alert())
    finally:
        await adapter.close()
    assert twilio.received == []


def twilio_signature(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    """Twilio's documented scheme, written out independently of the code under test."""
    data = url
    for key in sorted(params):
        data += key + params[key]
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


async def test_run_delivers_every_alert_once_and_takes_signed_callbacks(tmp_path: Path, twilio: FakeTwilio) -> None:
    attempts: Counter[str] = Counter()

    def first_attempt_fails(sent: Sent) -> object:
        attempts[sent.form["To"]] += 1
        if attempts[sent.form["To"]] == 1:
            return [twilio_error(20429, 429, "1"), twilio_error(20500, 503)][len(attempts) % 2](sent)
        return None

    twilio.default = first_attempt_fails
    content = tmp_path / "content.yaml"
    content.write_text(json.dumps(CONTENT), encoding="utf-8")
    port = free_port()
    public = "https://shop.example/v1/webhooks/twilio"
    env = {
        "ENGAGEMENT_PROVIDER": "twilio",
        "ENGAGEMENT_TWILIO_API_BASE": twilio.base_url,
        "ENGAGEMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
        "ENGAGEMENT_TWILIO_AUTH_TOKEN": TOKEN,
        "ENGAGEMENT_TWILIO_FROM": SENDER,
        "ENGAGEMENT_TWILIO_CONTENT_SIDS": str(content),
        "ENGAGEMENT_TWILIO_WEBHOOK_URL": public,
    }
    run = RunProcess(tmp_path, port, env)
    await asyncio.to_thread(run.start)
    try:
        now = time.time()
        lines = []
        for n in range(6):
            cid = f"tw-{n}"
            lines.append({"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid,
                          "occurred_at": rfc3339(now - 600), "phone": f"+88691260000{n}", "locale": "zh-TW",
                          "whatsapp_opt_in": True})  # fmt: skip
            lines.append({"event_id": f"{cid}-a", "type": "login.succeeded", "customer_id": cid,
                          "occurred_at": rfc3339(now - 300), "device_id": "d-home", "country": "TW"})  # fmt: skip
            lines.append({"event_id": f"{cid}-b", "type": "login.succeeded", "customer_id": cid,
                          "occurred_at": rfc3339(now), "device_id": "d-new", "country": "RU"})  # fmt: skip
        await asyncio.to_thread(run.post_lines, [json.dumps(line, ensure_ascii=False) for line in lines])
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len([n for n in attempts.values() if n >= 2]) < 6:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)

        url = f"{run.url}/v1/webhooks/twilio"
        accepted = [s for s in twilio.received if attempts[s.form["To"]] >= 2][-1]
        key_query = urlsplit(accepted.form["StatusCallback"]).query
        status = {"MessageSid": "SM-delivered", "MessageStatus": "delivered", "To": accepted.form["To"],
                  "From": SENDER, "AccountSid": ACCOUNT}  # fmt: skip
        headers = {"X-Twilio-Signature": twilio_signature(f"{public}?{key_query}", status)}
        ok = await asyncio.to_thread(httpx.post, f"{url}?{key_query}", data=status, headers=headers)
        forged = await asyncio.to_thread(
            httpx.post, f"{url}?{key_query}", data=status, headers={"X-Twilio-Signature": "forged"}
        )
        moved = await asyncio.to_thread(httpx.post, url, data=status, headers=headers)  # signed for another URL
        reply = {"MessageSid": "SM-in", "SmsStatus": "received", "From": "whatsapp:+886912600001", "To": SENDER,
                 "Body": "退訂", "AccountSid": ACCOUNT}  # fmt: skip
        replied = await asyncio.to_thread(
            httpx.post, url, data=reply, headers={"X-Twilio-Signature": twilio_signature(public, reply)}
        )
        metrics = await asyncio.to_thread(lambda: httpx.get(f"{run.url}/metrics", timeout=5).text)
    finally:
        await asyncio.to_thread(run.kill)
    assert sorted(attempts.values()) == [2] * 6  # one refused attempt each, then accepted once
    assert [ok.status_code, forged.status_code, moved.status_code, replied.status_code] == [204, 401, 401, 204]
    assert all(s.form["ContentSid"] == CONTENT["login_alert"]["zh_TW"] for s in twilio.received)
    assert 'engagement_whatsapp_statuses_total{status="delivered"} 1.0' in metrics
    assert 'engagement_twilio_webhooks_total{result="bad_signature"} 2.0' in metrics
    assert 'engagement_whatsapp_inbound_total{result="reply"} 1.0' in metrics
