"""Login alerts on two workers (real Kafka and Redis) over WhatsApp, LINE and SMS fakes: of 999
customers a third are not on WhatsApp (131026), a third never get a delivery report and a third
are delivered; one worker is killed with -9 in the middle of the sends. Each alert reaches its
customer on exactly one channel (a call cut short is never repeated on WhatsApp, and LINE executes
a repeated push once), all within the send window."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from engagement.timefmt import rfc3339
from tests.integration.channel_setup import delivered, group_phone, line_id, login_alerts_on
from tests.integration.fake_graph import FakeGraph, Received, error
from tests.integration.fake_line import LINE_SECRET, LINE_TOKEN, FakeLine, Pushed
from tests.integration.fake_twilio import ACCOUNT, TOKEN, FakeTwilio
from tests.integration.processes import DEMO_TRIGGERS, until
from tests.integration.whatsapp_payloads import ENV, signed, webhook
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration

PER_GROUP = 333
GROUPS = ("notwa", "silent", "delivered")
FALLBACK_AFTER = 8.0
WINDOW = 120.0


@pytest.fixture
def space() -> Namespace:
    namespace = Namespace("ch")
    namespace.create_topics()
    return namespace


def phone(group: str, n: int) -> str:
    return group_phone(GROUPS, group, n)


def profiles(now: float) -> list[str]:
    out: list[str] = []
    for group in GROUPS:
        for n in range(PER_GROUP):
            cid = f"{group}-{n}"
            out.append(json.dumps({"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid,
                                   "occurred_at": rfc3339(now - 7200), "phone": phone(group, n), "locale": "en",
                                   "whatsapp_opt_in": True, "line_user_id": line_id(group, n), "line_opt_in": True,
                                   "sms_opt_in": True}))  # fmt: skip
    return out


def logins(now: float) -> list[str]:
    out: list[str] = []
    for group in GROUPS:
        for n in range(PER_GROUP):
            cid = f"{group}-{n}"
            for suffix, dt, device, country in (("a", 300, "phone", "TW"), ("b", 0, "laptop", "JP")):
                out.append(json.dumps({"event_id": f"{cid}-{suffix}", "type": "login.succeeded", "customer_id": cid,
                                       "occurred_at": rfc3339(now - dt), "device_id": f"{cid}-{device}",
                                       "country": country}))  # fmt: skip
    return out


async def test_a_thousand_alerts_fail_over_on_two_workers_one_killed(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess], graph: FakeGraph, line: FakeLine,
    twilio: FakeTwilio,
) -> None:  # fmt: skip
    group_of = {phone(g, n): g for g in GROUPS for n in range(PER_GROUP)}
    group_of.update({line_id(g, n): g for g in GROUPS for n in range(PER_GROUP)})
    customer_of = {phone(g, n): (g, n) for g in GROUPS for n in range(PER_GROUP)}
    customer_of.update({line_id(g, n): (g, n) for g in GROUPS for n in range(PER_GROUP)})
    whatsapp_at: dict[str, float] = {}
    line_at: dict[str, float] = {}

    def on_graph(request: Received) -> web.Response | None:
        to = "+" + str(request.body["to"]).lstrip("+")
        whatsapp_at.setdefault(to, time.time())
        if group_of.get(to) == "notwa":
            answer: web.Response = error(131026, 400)(request)
            return answer
        return None

    def on_line(pushed: Pushed) -> None:
        line_at.setdefault(str(pushed.body["to"]), time.time())

    graph.default, line.default = on_graph, on_line
    channel_triggers = login_alerts_on(DEMO_TRIGGERS, tmp_path, "[whatsapp, line, sms]", FALLBACK_AFTER)
    env = {**ENV, "ENGAGEMENT_PROVIDER": "whatsapp", "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
           "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922", "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
           "ENGAGEMENT_WHATSAPP_TIMEOUT": "5s", "ENGAGEMENT_WHATSAPP_MAX_RPS": "40",
           "ENGAGEMENT_LINE_API_BASE": line.base_url, "ENGAGEMENT_LINE_CHANNEL_TOKEN": LINE_TOKEN,
           "ENGAGEMENT_LINE_CHANNEL_SECRET": LINE_SECRET, "ENGAGEMENT_TWILIO_API_BASE": twilio.base_url,
           "ENGAGEMENT_TWILIO_ACCOUNT_SID": ACCOUNT, "ENGAGEMENT_TWILIO_AUTH_TOKEN": TOKEN,
           "ENGAGEMENT_TWILIO_SMS_FROM": "+15005550006",
           "ENGAGEMENT_TRIGGERS_DIR": str(channel_triggers)}  # fmt: skip
    for name in ("w1", "w2"):
        (tmp_path / name).mkdir()
    first = WorkerProcess(space, tmp_path / "w1", tmp_path / "unused.jsonl", env)
    second = WorkerProcess(space, tmp_path / "w2", tmp_path / "unused.jsonl", env)
    workers.extend([first, second])
    await asyncio.to_thread(first.start, 4)
    await asyncio.to_thread(second.start, 1)
    await asyncio.to_thread(space.produce, profiles(time.time()))  # the shop's customers, known before
    await until(lambda: first.events_handled() + second.events_handled() >= len(GROUPS) * PER_GROUP, 60, "profiles")
    produced = time.time()
    stream = logins(produced)

    reported: set[str] = set()

    async def report_deliveries(url: str) -> None:
        """Meta's delivered statuses for the delivered third, as their calls arrive."""
        fresh = [r for r in list(graph.received) if group_of.get("+" + str(r.body["to"]).lstrip("+")) == "delivered"
                 and str(r.body["biz_opaque_callback_data"]) not in reported]  # fmt: skip
        if not fresh:
            return
        statuses = [delivered(f"wamid.{r.body['biz_opaque_callback_data']}", r) for r in fresh]
        body = webhook({"statuses": statuses})
        answer = await asyncio.to_thread(httpx.post, f"{url}/v1/webhooks/whatsapp", content=body, headers=signed(body))
        assert answer.status_code == 200
        reported.update(str(r.body["biz_opaque_callback_data"]) for r in fresh)

    killed = False
    deadline = time.monotonic() + 240
    await asyncio.to_thread(space.produce, stream)
    await until(lambda: first.events_handled() + second.events_handled() >= len(GROUPS) * PER_GROUP * 3, 60, "logins")
    while time.monotonic() < deadline:
        await report_deliveries((second if killed else first).url)
        if not killed and len(graph.received) >= len(GROUPS) * PER_GROUP // 3:
            await asyncio.to_thread(first.kill)  # kill -9, in the middle of the sends
            killed = True
        texted = {sent.form["To"] for sent in list(twilio.received)}
        done = (
            {customer_of[a] for a in line_at}
            | {customer_of[p] for p in texted}
            | {customer_of[p] for p in reported_phones(graph, reported) if group_of[p] == "delivered"}
        )
        if len(done) >= len(GROUPS) * PER_GROUP:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(FALLBACK_AFTER + 2)  # anything still to come would show now
    await report_deliveries(second.url)
    metrics = await asyncio.to_thread(httpx.get, f"{second.url}/metrics")
    answer = await asyncio.to_thread(httpx.get, f"{second.url}/v1/report", headers=second.headers, timeout=120)
    assert answer.status_code == 200, answer.text

    pushes = Counter(p.headers["X-Line-Retry-Key"] for p in line.received)
    assert len(line.accepted_keys) == len(pushes)  # each push accepted once: a repeat got 409
    accepted_to = {str(p.body["to"]) for p in line.received if p.headers["X-Line-Retry-Key"] in line.accepted_keys}
    texts = Counter(sent.form["To"] for sent in twilio.received)
    delivered_phones = reported_phones(graph, reported)
    reached: Counter[tuple[str, int]] = Counter()
    for group in GROUPS:
        for n in range(PER_GROUP):
            ways = int(line_id(group, n) in accepted_to) + texts[phone(group, n)]
            ways += int(group == "delivered" and phone(group, n) in delivered_phones)
            reached[(group, ways)] += 1
    twice = second.metric("engagement_deliveries_total", channel="whatsapp", result="twice")
    assert reached == {(g, 1): PER_GROUP for g in GROUPS}, (reached, twice, metrics.text[-2000:])
    for group in GROUPS:  # within the send window (the alert's login + 2 min)
        for n in range(PER_GROUP):
            at = line_at.get(line_id(group, n)) or whatsapp_at[phone(group, n)]
            assert at <= produced + WINDOW + 1, (group, n, at - produced)
    gaps = [line_at[line_id("silent", n)] - whatsapp_at[phone("silent", n)] for n in range(PER_GROUP)
            if line_id("silent", n) in line_at]  # fmt: skip
    assert min(gaps) >= FALLBACK_AFTER - 1.0  # no report: LINE only after fallback_after
    assert killed

    # the report, from the topics: every alert called on WhatsApp first; each move to LINE with its
    # reason; LINE's accepted pushes and WhatsApp's reported deliveries; nothing delivered twice
    (row,) = [r for r in answer.json() if r["trigger"] == "anomalous_login"]
    on = {c["channel"]: c for c in row["channels"]}
    assert on["whatsapp"]["tried"] == len(GROUPS) * PER_GROUP
    moved = on["whatsapp"]["moved_on"]
    assert set(moved) <= {"131026", "no_report", "unknown"}
    assert moved["131026"] > PER_GROUP // 2
    assert moved["no_report"] > PER_GROUP // 2
    assert on["line"]["tried"] == sum(moved.values()) == len(accepted_to)
    assert on["line"]["delivered"] == len(accepted_to)
    wa_delivered = sum(1 for n in range(PER_GROUP) if phone("delivered", n) in delivered_phones)
    assert on["whatsapp"]["delivered"] == wa_delivered
    assert row["delivered"] == wa_delivered + len(accepted_to)
    assert row["delivered_twice"] == 0


def reported_phones(graph: FakeGraph, reported: set[str]) -> set[str]:
    return {"+" + str(r.body["to"]).lstrip("+") for r in list(graph.received)
            if str(r.body["biz_opaque_callback_data"]) in reported}  # fmt: skip
