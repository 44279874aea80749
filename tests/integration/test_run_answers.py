"""`engagement run` answering replies: signed Cloud API webhooks in (a button naming our message,
a keyword, a request for a person, text from a number we never messaged, an echo, a status),
answers out through the fake Graph API (its first answer meets 130429), hand-offs to a receiver
that checks the signature (its first attempt meets a 500), and `run` killed with -9 between two
deliveries of the same webhooks: every inbound message is handled exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from aiohttp import web

from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.integration.fake_graph import FakeGraph, Received, error
from tests.integration.loopback import ScriptedServer
from tests.integration.processes import RunProcess, free_port, running, until
from tests.integration.whatsapp_payloads import ENV, PHONE, signed, webhook

pytestmark = pytest.mark.integration

HANDOFF_SECRET = "handoff-secret-for-tests"  # noqa: S105 (a test fixture)
CART_URL = "https://shop.example/cart/k1"
TRACKING_URL = "https://track.shop.example/s1"
BUSINESS = "15550001111"


@dataclass
class HandoffReceiver(ScriptedServer[dict[str, Any]]):
    """The people side: refuses any request whose signature is wrong (401), records the rest."""

    ROUTE: ClassVar[str] = "/handoff"
    refused: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        stamp = request.headers.get("X-Engagement-Timestamp", "")
        expected = hmac.new(HANDOFF_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if request.headers.get("X-Engagement-Signature") != f"sha256={expected}" or abs(time.time() - int(stamp)) > 300:
            self.refused += 1
            return web.Response(status=401)
        behaviour = self.behaviour()
        if behaviour is not None:
            answer = behaviour(json.loads(body))
            if isinstance(answer, web.StreamResponse):
                return answer
        self.received.append(json.loads(body))
        return web.Response(status=204)


def answering_env(graph: FakeGraph, receiver: HandoffReceiver) -> dict[str, str]:
    """A runtime that sends through the fake Graph API and hands off to `receiver`."""
    return {
        **ENV,
        "ENGAGEMENT_PROVIDER": "whatsapp",
        "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
        "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
        "ENGAGEMENT_LINK_DOMAINS": "shop.example",
        "ENGAGEMENT_HANDOFF_URL": f"{receiver.base_url}/handoff",
        "ENGAGEMENT_HANDOFF_SECRET": HANDOFF_SECRET,
    }


def profile_and_cart(now: float) -> list[str]:
    return [
        json.dumps(line)
        for line in (
            {"event_id": "p1", "type": "customer.updated", "customer_id": "c1", "occurred_at": rfc3339(now - 7200),
             "phone": PHONE, "locale": "zh-TW", "whatsapp_opt_in": True, "name": "Mei"},
            {"event_id": "k1", "type": "cart.updated", "customer_id": "c1", "occurred_at": rfc3339(now - 12),
             "cart_id": "k1", "items": [{"product_id": "p1", "name": "Tee", "quantity": 1, "unit_price": 490}],
             "currency": "TWD", "cart_url": CART_URL},
            {"event_id": "s1", "type": "shipment.dispatched", "customer_id": "c1", "occurred_at": rfc3339(now - 11),
             "order_id": "o1", "shipment_id": "s1", "promised_delivery_at": rfc3339(now + 86400),
             "tracking_url": TRACKING_URL},
        )
    ]  # fmt: skip


def inbound(message_id: str, *, text: str | None = None, button: str | None = None, context: str | None = None,
            sender: str = PHONE) -> dict[str, Any]:  # fmt: skip
    item: dict[str, Any] = {"from": sender.lstrip("+"), "id": message_id, "timestamp": str(int(time.time()))}
    if button is not None:
        item |= {"type": "button", "button": {"payload": button, "text": text or button}}
    else:
        item |= {"type": "text", "text": {"body": text}}
    if context is not None:
        item["context"] = {"from": BUSINESS, "id": context}
    return item


def deliver(url: str, messages: list[dict[str, Any]], statuses: list[dict[str, Any]] | None = None) -> None:
    metadata = {"display_phone_number": BUSINESS, "phone_number_id": "106540352242922"}
    body = webhook({"metadata": metadata, "messages": messages, "statuses": statuses or []})
    answer = httpx.post(f"{url}/v1/webhooks/whatsapp", content=body, headers=signed(body), timeout=10)
    assert answer.status_code in (200, 204), answer.text


def answers_to(graph: FakeGraph) -> list[Received]:
    return [r for r in graph.received if r.body.get("type") == "text"]


async def test_replies_are_answered_or_handed_off_once_through_faults_and_kill_9(
    tmp_path: Path, graph: FakeGraph
) -> None:
    graph.script.extend([lambda _: None, error(130429)])  # the reminder goes; the first answer is throttled
    async with HandoffReceiver() as receiver:
        receiver.script.append(lambda _: web.Response(status=500))
        env = answering_env(graph, receiver) | {"ENGAGEMENT_CONSOLE_URL": "https://engagement.shop.example/console/"}
        run = RunProcess(tmp_path, free_port(), env)
        await asyncio.to_thread(run.start)
        try:
            await asyncio.to_thread(run.post_lines, profile_and_cart(time.time()))
            await until(lambda: graph.received, 20, "the cart reminder")
            reminder = graph.received[0]
            assert reminder.body["type"] == "template"
            wamid = "wamid.fake00000000"  # the fake Graph's first accepted message
            first = [
                inbound("wamid.in1", button="CHECKOUT", text="幫我結帳", context=wamid),
                inbound("wamid.in2", text="請問我的包裹在哪?"),
                inbound("wamid.in3", text="我要找真人客服"),
                inbound("wamid.in4", text="hello", sender="+886900000001"),  # a number we never messaged
                inbound("wamid.echo", text="our own words", sender=f"+{BUSINESS}"),  # an echo of ours
            ]
            read = {"id": wamid, "status": "read", "timestamp": str(int(time.time())), "recipient_id": PHONE[1:]}
            await asyncio.to_thread(deliver, run.url, first, [read])
            await until(lambda: len(answers_to(graph)) >= 2 and receiver.received, 30, "two answers and a hand-off")
            await asyncio.sleep(1.5)  # anything extra would show by now
            await asyncio.to_thread(run.kill)  # kill -9
            await asyncio.to_thread(run.start)
            second = [inbound("wamid.in5", text="something else entirely", context=wamid)]
            await asyncio.to_thread(deliver, run.url, first + second)  # Meta delivers again after a failure
            await until(lambda: len(receiver.received) >= 2, 30, "the second hand-off")
            await asyncio.sleep(2.0)
            decisions = await asyncio.to_thread(run.decisions)
            report = httpx.get(f"{run.url}/v1/report", headers=run.headers, timeout=30).json()
        finally:
            await asyncio.to_thread(run.kill)

    answered = answers_to(graph)
    texts = sorted({str(r.body["text"]["body"]) for r in answered})
    assert texts == sorted([f"這是您的購物車,點此結帳:{CART_URL}", f"您的包裹:{TRACKING_URL}"])
    # the throttled answer was retried once; each answer reached "Meta" once as accepted
    keys = Counter(str(r.body["biz_opaque_callback_data"]) for r in answered)
    assert sorted(keys.values()) == [1, 2]
    assert all(r.body["to"] == PHONE[1:] for r in answered)

    by_id: dict[str, list[dict[str, Any]]] = {}
    for handoff in receiver.received:
        by_id.setdefault(handoff["id"], []).append(handoff)
    assert sorted(by_id) == ["wa-wamid.in3", "wa-wamid.in5"]
    asked = by_id["wa-wamid.in3"][0]
    assert asked["reply"] == {"text": "我要找真人客服", "button": None}
    assert asked["reason"] == "asked:keyword:真人"
    assert asked["phone"] == PHONE
    assert asked["customer_id"] == "c1"
    assert asked["context"]["cart_url"] == CART_URL
    assert asked["console_url"] == "https://engagement.shop.example/console/#/customers/c1"
    later = by_id["wa-wamid.in5"][0]
    assert later["trigger"] == "cart_idle"
    assert later["message"].startswith("Mei,為您保留的Tee")
    assert later["reason"] == "conversation_open:default"
    assert receiver.refused == 0

    cart = next(row for row in report if row["trigger"] == "cart_idle")
    figures = cart["answers"]
    assert (figures["replies"], figures["answered"], figures["handed_off"]) == (4, 2, 2)
    assert figures["automation_share"] == 0.5
    assert 0 <= figures["answer_seconds_p99"] < 5
    assert {a["answer"] for a in figures["by_answer"]} == {"CHECKOUT", "keyword:物流", "keyword:真人", "default"}
    assert cart["sent"] == 1  # the answers are not counted as the trigger's sends
    replies = [d for d in decisions if d["outcome"] in ("answer", "handoff", "ignore")]
    assert sorted(str(d["event_id"]) for d in replies) == [f"wa-wamid.in{n}" for n in (1, 2, 3, 5)]


def test_resolving_a_handoff_needs_an_admin_key_and_a_plausible_customer_id(tmp_path: Path) -> None:
    with running(tmp_path / "state") as run:
        ingest_only = create_key(Path(run.env["ENGAGEMENT_API_KEYS_FILE"]), "shop-backend", ("ingest",))
        time.sleep(1.5)  # run reads its keys file again each second
        url = f"{run.url}/v1/conversations/c1/resolve"
        assert httpx.post(url).status_code == 401
        assert httpx.post(url, headers=[(b"Authorization", "Bearer ключ".encode())]).status_code == 401  # non-ASCII key
        assert httpx.post(url, headers={"Authorization": f"Bearer {ingest_only}"}).status_code == 403
        for bad in ("x" * 200, "a%00b", "..", "a%0Ab"):
            answer = httpx.post(f"{run.url}/v1/conversations/{bad}/resolve", headers=run.headers)
            assert answer.status_code in (400, 404), (bad, answer.status_code)
            assert answer.json()["error"]
        assert httpx.get(url, headers=run.headers).status_code == 405
        done = httpx.post(url, headers=run.headers, content=b"{" * 100_000)  # a body is never read
        assert done.status_code == 202
        assert done.json() == {"customer_id": "c1", "resolved": True}
        resolved = [e for e in httpx.get(f"{run.url}/v1/events", params={"since": 0}, headers=run.headers).text
                    .splitlines() if "conversation.resolved" in e]  # fmt: skip
        assert len(resolved) == 1
        assert "hand-off resolved by key" in run.log()
