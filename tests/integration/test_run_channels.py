"""`engagement run` with WhatsApp (the fake Graph API), LINE (the fake LINE API) and SMS (the fake
Twilio API): a login alert goes out on WhatsApp; a number not on WhatsApp (131026) moves to LINE
at once; no delivery report within `fallback_after` moves it to LINE then; a delivery report
keeps it on WhatsApp; a customer without LINE gets an SMS; a customer every channel refuses is
suppressed `unreachable` next time, naming each channel. The LINE webhook turns taps into replies
and an unfollow into an unreachable LINE, once per event, and refuses what is not LINE's."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from engagement.config.loader import default_triggers_dir
from engagement.timefmt import rfc3339
from tests.integration.channel_setup import delivered, group_phone, line_id, login_alerts_on
from tests.integration.fake_graph import FakeGraph, Received, error
from tests.integration.fake_line import LINE_SECRET, LINE_TOKEN, NOT_A_FRIEND, FakeLine, Pushed
from tests.integration.fake_twilio import ACCOUNT, TOKEN, FakeTwilio, Sent, twilio_error
from tests.integration.processes import RunProcess, free_port, wait_for
from tests.integration.whatsapp_payloads import ENV, signed, webhook

pytestmark = pytest.mark.integration

FALLBACK_AFTER = 6.0
GROUPS = ("notwa", "silent", "delivered", "smsonly", "nowhere")


def channel_triggers(tmp: Path) -> Path:
    """The shipped triggers, the login alert on WhatsApp, LINE and SMS with a short fall-back."""
    return login_alerts_on(default_triggers_dir(), tmp, "[whatsapp, line, sms]", FALLBACK_AFTER, cooldown="1s")


def phone(group: str, n: int) -> str:
    return group_phone(GROUPS, group, n)


def customer_lines(group: str, n: int, now: float, second: bool = False) -> list[str]:
    cid = f"{group}-{n}"
    profile: dict[str, Any] = {"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid,
                               "occurred_at": rfc3339(now - 7200), "phone": phone(group, n), "locale": "en",
                               "whatsapp_opt_in": True, "sms_opt_in": True}  # fmt: skip
    if group != "smsonly":
        profile.update(line_user_id=line_id(group, n), line_opt_in=True)
    out = [] if second else [json.dumps(profile)]
    tag = "2" if second else "1"
    logins = (("a", 300, "phone", "TW"), ("b", 0, f"laptop{tag}", "RU" if second else "JP"))
    for suffix, dt, device, country in logins:
        login = {"event_id": f"{cid}-{suffix}{tag}", "type": "login.succeeded", "customer_id": cid,
                 "occurred_at": rfc3339(now - dt), "device_id": f"{cid}-{device}", "country": country}  # fmt: skip
        out.append(json.dumps(login))
    return out


def line_signed(body: bytes) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"x-line-signature": digest, "Content-Type": "application/json"}


def line_event(kind: str, user: str, event_id: str, **fields: Any) -> dict[str, Any]:
    source = {"type": "user", "userId": user}
    return {"type": kind, "webhookEventId": event_id, "timestamp": int(time.time() * 1000), "source": source,
            "deliveryContext": {"isRedelivery": False}, **fields}  # fmt: skip


async def test_login_alerts_fail_over_between_channels_on_run(
    tmp_path: Path, graph: FakeGraph, line: FakeLine, twilio: FakeTwilio
) -> None:
    calls: list[tuple[float, str, str]] = []  # (when, channel, customer's address)
    group_of = {phone(g, n): g for g in GROUPS for n in range(4)}

    def on_graph(request: Received) -> web.Response | None:
        to = "+" + str(request.body["to"]).lstrip("+")
        calls.append((time.monotonic(), "whatsapp", to))
        if group_of.get(to) in ("notwa", "smsonly", "nowhere"):
            answer: web.Response = error(131026, 400)(request)
            return answer
        return None

    def on_line(pushed: Pushed) -> web.Response | None:
        calls.append((time.monotonic(), "line", str(pushed.body["to"])))
        if pushed.body["to"] in {line_id("nowhere", n) for n in range(4)}:
            answer: web.Response = NOT_A_FRIEND(pushed)
            return answer
        return None

    def on_twilio(sent: Sent) -> web.Response | None:
        calls.append((time.monotonic(), "sms", sent.form["To"]))
        if group_of.get(sent.form["To"]) == "nowhere":
            return twilio_error(21614)(sent)
        return None

    graph.default, line.default, twilio.default = on_graph, on_line, on_twilio
    env = {**ENV, "ENGAGEMENT_PROVIDER": "whatsapp", "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
           "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922", "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
           "ENGAGEMENT_LINE_API_BASE": line.base_url, "ENGAGEMENT_LINE_CHANNEL_TOKEN": LINE_TOKEN,
           "ENGAGEMENT_LINE_CHANNEL_SECRET": LINE_SECRET, "ENGAGEMENT_TWILIO_API_BASE": twilio.base_url,
           "ENGAGEMENT_TWILIO_ACCOUNT_SID": ACCOUNT, "ENGAGEMENT_TWILIO_AUTH_TOKEN": TOKEN,
           "ENGAGEMENT_TWILIO_SMS_FROM": "+15005550006",
           "ENGAGEMENT_TRIGGERS_DIR": str(channel_triggers(tmp_path))}  # fmt: skip
    run = RunProcess(tmp_path / "state", free_port(), env)
    await asyncio.to_thread(run.start)
    try:
        now = time.time()
        lines = [line for g in GROUPS for n in range(4) for line in customer_lines(g, n, now)]
        answer = await asyncio.to_thread(run.post_lines, lines)
        assert answer["accepted"] == len(lines)

        async def wait_until(test: Any, seconds: float, what: str) -> None:
            await asyncio.to_thread(wait_for, test, seconds, what)

        await wait_until(lambda: sum(1 for _, c, _ in calls if c == "whatsapp") >= 20, 30, "every WhatsApp call")
        delivered_keys = [f for f in graph.received if group_of.get("+" + str(f.body["to"])) == "delivered"]
        statuses = [delivered(f"wamid.d{n}", r) for n, r in enumerate(delivered_keys)]
        body = webhook({"statuses": statuses})
        sent = await asyncio.to_thread(
            httpx.post, f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body)
        )
        assert sent.status_code == 200
        silent = {line_id("silent", n) for n in range(4)}
        await wait_until(lambda: sum(1 for _, c, a in calls if c == "line" and a in silent) == 4,
                         FALLBACK_AFTER + 20, "the silent numbers' fall-back to LINE")  # fmt: skip
        await asyncio.sleep(2.0)

        # a late delivery report of a silent number's WhatsApp call, after its send moved to LINE
        late = next(r for r in graph.received if "+" + str(r.body["to"]).lstrip("+") == phone("silent", 0))
        body = webhook({"statuses": [delivered("wamid.late", late)]})
        await asyncio.to_thread(httpx.post, f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body))
        metrics = (await asyncio.to_thread(httpx.get, f"{run.url}/metrics")).text

        # the customers every channel refused: their next alert is suppressed, naming each channel
        again = [line for n in range(4) for line in customer_lines("nowhere", n, time.time(), second=True)]
        await asyncio.to_thread(run.post_lines, again)
        await wait_until(
            lambda: sum(1 for d in run.decisions() if d["reason"] == "unreachable") == 4, 30, "suppressions"
        )
        decisions = await asyncio.to_thread(run.decisions)
        got = await asyncio.to_thread(httpx.get, f"{run.url}/v1/report", headers=run.headers, timeout=60)
        report = next(row for row in got.json() if row["trigger"] == "anomalous_login")
        timeline = await asyncio.to_thread(
            httpx.get, f"{run.url}/console/api/customers/silent-0", headers=run.headers, timeout=30
        )
    finally:
        await asyncio.to_thread(run.kill)

    per: Counter[tuple[str, str]] = Counter()
    for _, channel, address in calls:
        group = group_of.get(address) or next(g for g in GROUPS if address in {line_id(g, n) for n in range(4)})
        per[(group, channel)] += 1
    assert per == {
        ("notwa", "whatsapp"): 4, ("notwa", "line"): 4,
        ("silent", "whatsapp"): 4, ("silent", "line"): 4,
        ("delivered", "whatsapp"): 4,
        ("smsonly", "whatsapp"): 4, ("smsonly", "sms"): 4,
        ("nowhere", "whatsapp"): 4, ("nowhere", "line"): 4, ("nowhere", "sms"): 4,
    }  # fmt: skip
    first_wa = {a: t for t, c, a in reversed(calls) if c == "whatsapp"}
    for n in range(4):  # no report within fallback_after: LINE then, not before
        line_at = next(t for t, c, a in calls if c == "line" and a == line_id("silent", n))
        assert line_at - first_wa[phone("silent", n)] >= FALLBACK_AFTER - 0.5
    assert 'engagement_deliveries_total{channel="whatsapp",result="twice"} 1.0' in metrics

    sends: dict[str, Any] = {str(d["customer_id"]): d for d in decisions if d["outcome"] == "send"}
    assert len(sends) == 20  # one decision per alert, whatever the channels it took
    assert sends["notwa-0"]["delivery"]["channel"] == "line"
    assert sends["notwa-0"]["delivery"]["tried"] == [["whatsapp", "131026"]]
    assert sends["silent-0"]["delivery"]["tried"] == [["whatsapp", "no_report"]]
    assert sends["silent-0"]["delivery"]["delivered"] == ["line", "whatsapp"]  # delivered twice: counted, shown
    assert sends["delivered-0"]["delivery"] == {"status": "delivered", "channel": "whatsapp", "tried": [],
                                                "delivered": ["whatsapp"]}  # fmt: skip
    assert sends["smsonly-0"]["delivery"]["channel"] == "sms"
    assert sends["nowhere-0"]["delivery"]["status"] == "failed"
    assert sends["nowhere-0"]["delivery"]["tried"] == [["whatsapp", "131026"], ["line", "400"]]
    suppressed = [d for d in decisions if d["reason"] == "unreachable"]
    assert {d["customer_id"] for d in suppressed} == {f"nowhere-{n}" for n in range(4)}
    assert suppressed[0]["channels"] == {"whatsapp": "unreachable", "line": "unreachable", "sms": "unreachable"}

    # the report: each channel's sends, why they moved on, what each delivered, the send delivered twice
    assert report["channels"] == [
        {"channel": "whatsapp", "tried": 20, "moved_on": {"131026": 12, "no_report": 4}, "delivered": 5},
        {"channel": "line", "tried": 12, "moved_on": {"400": 4}, "delivered": 8},
        {"channel": "sms", "tried": 8, "moved_on": {}, "delivered": 0},
    ]
    assert report["delivered_twice"] == 1
    assert report["delivered"] == 12  # on WhatsApp 4, on LINE 8 (the silent number's twice: once)
    # the console's timeline of a customer whose alert moved on: where it went and what delivered it
    assert timeline.status_code == 200, timeline.text
    (item,) = [i for i in timeline.json()["items"] if i["what"] == "decision"]
    assert item["delivery"] == {
        "channel": "line",
        "tried": [["whatsapp", "no_report"]],
        "delivered": ["line", "whatsapp"],
    }


def test_the_line_webhook_takes_replies_and_follows_once_and_refuses_what_is_not_lines(tmp_path: Path) -> None:
    env = {**ENV, "ENGAGEMENT_LINE_CHANNEL_SECRET": LINE_SECRET}
    me, other = line_id("webhook", 0), line_id("webhook", 1)
    run = RunProcess(tmp_path / "state", free_port(), env)
    run.start()
    try:
        now = time.time()
        profile = {"event_id": "w-p", "type": "customer.updated", "customer_id": "c-line", "locale": "zh-TW",
                   "occurred_at": rfc3339(now - 600), "line_user_id": me, "line_opt_in": True}  # fmt: skip
        assert run.post_lines([json.dumps(profile)])["accepted"] == 1
        thief = {**profile, "event_id": "w-t", "customer_id": "c-thief"}
        refused = httpx.post(f"{run.url}/v1/events", content=json.dumps(thief), headers=run.headers)
        assert refused.status_code == 400  # nothing in it was taken
        assert refused.json()["rejections"][0]["field"] == "line_user_id"  # one customer per LINE user id

        url = f"{run.url}/v1/webhooks/line"
        tap = line_event("postback", me, "01HTAP", postback={"data": "NOT_ME"})
        said = line_event("message", me, "01HSAID", message={"type": "text", "id": "m1", "text": "你好"})
        stranger = line_event("message", other, "01HSTRANGER", message={"type": "text", "id": "m2", "text": "hi"})
        odd = {"type": "beacon", "webhookEventId": "01HBEACON", "timestamp": int(now * 1000),
               "source": {"type": "user", "userId": me}}  # fmt: skip
        body = json.dumps({"destination": "Uxxx", "events": [tap, said, stranger, odd]}).encode()
        assert httpx.post(url, content=body, headers=line_signed(body)).status_code == 200
        assert httpx.post(url, content=body, headers=line_signed(body)).status_code == 200  # a redelivery
        unfollow = json.dumps({"events": [line_event("unfollow", me, "01HBYE")]}).encode()
        assert httpx.post(url, content=unfollow, headers=line_signed(unfollow)).status_code == 200

        assert httpx.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
        wrong = {"x-line-signature": base64.b64encode(b"x" * 32).decode(), "Content-Type": "application/json"}
        assert httpx.post(url, content=body, headers=wrong).status_code == 401
        assert httpx.post(url, content=body + b" ", headers=line_signed(body)).status_code == 401  # not this body
        big = b'{"events": [' + b" " * (1024 * 1024) + b"]}"
        assert httpx.post(url, content=big, headers=line_signed(big)).status_code == 413
        broken = b"{not json"
        assert httpx.post(url, content=broken, headers=line_signed(broken)).status_code == 400
        plain = {"type": "text", "text": "x"}
        hostile = [line_event("message", me, "01HINT", message={"type": "text", "text": 7}),
                   line_event("postback", me, "01HDICT", postback={"data": {"a": 1}}),
                   {**line_event("message", me, "01HHUGE", message=plain), "timestamp": 10**400},
                   {**line_event("message", me, "01HNEG", message=plain), "timestamp": -10**400}]  # fmt: skip
        odd_types = json.dumps({"events": hostile}).encode()
        assert httpx.post(url, content=odd_types, headers=line_signed(odd_types)).status_code == 200  # never a 5xx
        empty = b'{"destination": "Uxxx", "events": []}'  # LINE's console checks the URL with this
        assert httpx.post(url, content=empty, headers=line_signed(empty)).status_code == 200
        old = json.dumps({"events": [{**line_event("message", me, "01HOLD", message={"type": "text", "text": "x"}),
                                      "timestamp": int((now - 8 * 86_400) * 1000)}]}).encode()  # fmt: skip
        assert httpx.post(url, content=old, headers=line_signed(old)).status_code == 200

        def exported() -> list[dict[str, Any]]:
            page = httpx.get(f"{run.url}/v1/events", params={"limit": 1000}, headers=run.headers, timeout=10)
            return [json.loads(line) for line in page.text.splitlines()]

        wait_for(lambda: any(e["type"] == "message.failed" for e in exported()), 20, "the unfollow")
        events = [e for e in exported() if e["customer_id"] == "c-line" and e["type"] != "customer.updated"]
        metrics = httpx.get(f"{run.url}/metrics").text
    finally:
        run.kill()
    replies = [e for e in events if e["type"] == "message.replied" and (e.get("text") or e.get("button_payload"))]
    assert sorted((e.get("button_payload") or "", e.get("text") or "", e["channel"]) for e in replies) == [
        ("", "你好", "line"),
        ("NOT_ME", "", "line"),
    ]  # each once, though LINE delivered them twice; the stranger's and the old one are not taken
    [gone] = [e for e in events if e["type"] == "message.failed"]
    assert (gone["reason"], gone["channel"]) == ("unreachable", "line")
    assert 'engagement_line_events_total{result="unknown_sender"} 2.0' in metrics
    assert 'engagement_line_events_total{result="repeated"} 2.0' in metrics
    assert 'engagement_line_events_total{result="ignored"} 4.0' in metrics  # a beacon twice, two impossible times
    assert 'engagement_line_events_total{result="stale"} 1.0' in metrics
    assert 'engagement_line_webhooks_total{result="bad_signature"} 3.0' in metrics
    assert 'engagement_security_reports_total{result="reported"} 1.0' in metrics  # the NOT_ME tap, once


async def test_a_delivery_report_during_a_slow_call_keeps_the_send_on_its_channel(
    tmp_path: Path, graph: FakeGraph, line: FakeLine
) -> None:
    called: list[Received] = []

    async def slow(request: Received) -> None:
        called.append(request)
        await asyncio.sleep(3.0)  # Meta answers late; its delivered report comes first

    graph.default = slow
    env = {**ENV, "ENGAGEMENT_PROVIDER": "whatsapp", "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
           "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922", "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
           "ENGAGEMENT_LINE_API_BASE": line.base_url, "ENGAGEMENT_LINE_CHANNEL_TOKEN": LINE_TOKEN,
           "ENGAGEMENT_TRIGGERS_DIR": str(channel_triggers(tmp_path))}  # fmt: skip
    run = RunProcess(tmp_path / "state", free_port(), env)
    await asyncio.to_thread(run.start)
    try:
        lines = customer_lines("silent", 0, time.time())
        await asyncio.to_thread(run.post_lines, lines)
        await asyncio.to_thread(wait_for, lambda: bool(called), 30, "the WhatsApp call")
        body = webhook({"statuses": [delivered("wamid.slow", called[0])]})
        answer = await asyncio.to_thread(
            httpx.post, f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body)
        )
        assert answer.status_code == 200
        await asyncio.sleep(FALLBACK_AFTER + 5)
        [send] = [d for d in await asyncio.to_thread(run.decisions) if d["outcome"] == "send"]
    finally:
        await asyncio.to_thread(run.kill)
    assert line.received == []  # delivered on WhatsApp: LINE never goes
    assert send["delivery"] == {"status": "delivered", "channel": "whatsapp", "tried": [], "delivered": ["whatsapp"]}
