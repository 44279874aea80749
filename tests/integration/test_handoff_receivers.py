"""The hand-off receivers against real HTTP servers on loopback: a fake Chatwoot that checks the
Application API's documented paths and the `api_access_token` header, and webhook receivers that
answer 500, 400, or hang."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from engagement.embedded.store import EmbeddedStore, Prepared
from engagement.handoff.chatwoot import Chatwoot
from engagement.handoff.routing import WithHandoff
from engagement.handoff.webhook import HandoffWebhook
from engagement.live.http import serve
from engagement.providers.base import OutboundMessage, PermanentError, SendReceipt, TransientError
from engagement.providers.console import ConsoleProvider
from tests.integration.processes import free_port

pytestmark = pytest.mark.integration

TOKEN = "chatwoot-token-for-tests"  # noqa: S105 (a test fixture)
ACCOUNT, INBOX = 7, 3


def body(reply: str = "我要找真人客服") -> dict[str, Any]:
    return {
        "id": "wa-wamid.1", "customer_id": "c1", "phone": "+886912345678", "locale": "zh-TW", "channel": "whatsapp",
        "trigger": "cart_idle", "decision_key": "cart_idle-abc", "message": "為您保留的商品還需要嗎?",
        "reply": {"text": reply, "button": None}, "reason": "asked:keyword:真人", "received_at": "2026-12-03T10:00:00Z",
        "context": {"cart_url": "https://shop.example/cart/k1"}, "console_url": "https://e.example/console/#/customers/c1",
    }  # fmt: skip


class FakeChatwoot:
    """Contacts, contact inboxes, conversations and messages of one account, as Chatwoot keeps them."""

    def __init__(self) -> None:
        self.contacts: list[dict[str, Any]] = []
        self.conversations: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.refuse_incoming = 0
        self.port = free_port()

    def app(self) -> web.Application:
        base = f"/api/v1/accounts/{ACCOUNT}"

        @web.middleware
        async def token(request: web.Request, handler: Any) -> web.StreamResponse:
            self.calls.append(f"{request.method} {request.path}")
            if request.headers.get("api_access_token") != TOKEN:
                return web.json_response({"error": "Invalid Access Token"}, status=401)
            answer: web.StreamResponse = await handler(request)
            return answer

        async def search(request: web.Request) -> web.Response:
            q = request.query["q"]
            found = [c for c in self.contacts if q in (c["phone_number"], c["identifier"])]
            return web.json_response({"payload": found})

        async def create_contact(request: web.Request) -> web.Response:
            data = await request.json()
            assert data["inbox_id"] == INBOX
            contact = {"id": len(self.contacts) + 1, "phone_number": data["phone_number"], "name": data["name"],
                       "identifier": data["identifier"]}  # fmt: skip
            self.contacts.append(contact)
            inbox = {"source_id": f"src-{contact['id']}", "inbox": {"id": INBOX}}
            return web.json_response({"payload": {"contact": contact, "contact_inbox": inbox}})

        async def conversations_of(request: web.Request) -> web.Response:
            contact = int(request.match_info["contact"])
            return web.json_response({"payload": [c for c in self.conversations if c["contact_id"] == contact]})

        async def create_conversation(request: web.Request) -> web.Response:
            data = await request.json()
            assert data["source_id"].startswith("src-")
            assert data["inbox_id"] == INBOX
            conversation = {"id": 100 + len(self.conversations), "inbox_id": INBOX, "status": "open",
                            "contact_id": data["contact_id"]}  # fmt: skip
            self.conversations.append(conversation)
            return web.json_response(conversation)

        async def create_message(request: web.Request) -> web.Response:
            data = await request.json()
            assert data["message_type"] in ("incoming", "outgoing")
            if self.refuse_incoming and data["message_type"] == "incoming":
                self.refuse_incoming -= 1
                return web.json_response({"error": "busy"}, status=503)
            self.messages.append({"conversation": int(request.match_info["conversation"]), **data})
            return web.json_response({"id": len(self.messages)})

        async def list_messages(request: web.Request) -> web.Response:
            conversation = int(request.match_info["conversation"])
            shown = [{"content": m["content"], "private": bool(m.get("private")),
                      "message_type": 0 if m["message_type"] == "incoming" else 1}
                     for m in self.messages if m["conversation"] == conversation]  # fmt: skip
            return web.json_response({"payload": shown})

        app = web.Application(middlewares=[token])
        app.router.add_get(f"{base}/contacts/search", search)
        app.router.add_post(f"{base}/contacts", create_contact)
        app.router.add_get(f"{base}/contacts/{{contact}}/conversations", conversations_of)
        app.router.add_post(f"{base}/conversations", create_conversation)
        app.router.add_post(f"{base}/conversations/{{conversation}}/messages", create_message)
        app.router.add_get(f"{base}/conversations/{{conversation}}/messages", list_messages)
        return app


async def test_chatwoot_finds_or_creates_the_contact_reuses_the_open_conversation_and_adds_a_note() -> None:
    fake = FakeChatwoot()
    runner = await serve(fake.app(), "127.0.0.1", fake.port)
    chatwoot = Chatwoot(f"http://127.0.0.1:{fake.port}", ACCOUNT, INBOX, TOKEN)
    try:
        fake.refuse_incoming = 2  # the reply is refused twice after its note went in: retried, never doubled
        for _ in range(2):
            with pytest.raises(TransientError):
                await chatwoot.deliver(body())
        await chatwoot.deliver(body())
        await chatwoot.deliver(body())  # delivered again (a retry after a lost answer): nothing new
        second = body("還在嗎?") | {"id": "wa-wamid.2"}
        await chatwoot.deliver(second)
        wrong = Chatwoot(f"http://127.0.0.1:{fake.port}", ACCOUNT, INBOX, "wrong")
        with pytest.raises(PermanentError):
            await wrong.deliver(body())
        await wrong.close()
    finally:
        await chatwoot.close()
        await runner.cleanup()
    assert len(fake.contacts) == 1
    assert fake.contacts[0]["phone_number"] == "+886912345678"
    assert len(fake.conversations) == 1  # the open one is reused
    incoming = [m for m in fake.messages if m["message_type"] == "incoming"]
    notes = [m for m in fake.messages if m.get("private")]
    assert [m["content"] for m in incoming] == ["我要找真人客服", "還在嗎?"]
    assert len(notes) == 2
    assert "cart_url: https://shop.example/cart/k1" in notes[0]["content"]
    assert "We sent: 為您保留的商品還需要嗎?" in notes[0]["content"]
    assert "Customer page: https://e.example/console/#/customers/c1" in notes[0]["content"]
    assert repr(chatwoot).count(TOKEN) == 0


async def test_the_webhook_signs_each_delivery_and_sorts_refusals_into_retry_or_not() -> None:
    seen: list[tuple[str, str, bytes]] = []
    answers = [web.Response(status=500), web.Response(status=400), web.Response(status=204)]

    async def receive(request: web.Request) -> web.StreamResponse:
        if request.query.get("hang"):
            await asyncio.sleep(5)
        seen.append((request.headers["X-Engagement-Timestamp"], request.headers["X-Engagement-Signature"],
                     await request.read()))  # fmt: skip
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/hook", receive)
    port = free_port()
    runner = await serve(app, "127.0.0.1", port)
    hook = HandoffWebhook(f"http://127.0.0.1:{port}/hook", "s3cret", timeout=1.0)
    hanging = HandoffWebhook(f"http://127.0.0.1:{port}/hook?hang=1", "s3cret", timeout=0.5)
    try:
        with pytest.raises(TransientError):
            await hook.deliver(body())  # 500: retried later
        with pytest.raises(PermanentError):
            await hook.deliver(body())  # 400: the receiver refuses it
        await hook.deliver(body())
        with pytest.raises(TransientError):
            await hanging.deliver(body())  # no answer in time: retried later
    finally:
        await hook.close()
        await hanging.close()
        await runner.cleanup()
    stamp, signature, raw = seen[-1]
    expected = hmac.new(b"s3cret", f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert json.loads(raw)["id"] == "wa-wamid.1"
    assert "s3cret" not in repr(hook)


async def test_without_a_receiver_a_handoff_stays_on_the_console_and_messages_still_go() -> None:
    provider = WithHandoff(ConsoleProvider(), [])
    message = OutboundMessage("answer-1", "cart_idle", "c1", "+886912345678", "zh-TW", "handoff", "hi",
                              handoff={"id": "wa-1", "reply": {"text": "hi", "button": None}})  # fmt: skip
    assert await provider.send(message) == SendReceipt("handoff-wa-1", "kept")
    plain = OutboundMessage("answer-2", "cart_idle", "c1", "+886912345678", "zh-TW", "service", "hello")
    assert (await provider.send(plain)).provider_message_id == "console-answer-2"


class Receiver:
    def __init__(self, name: str, error: Exception | None = None) -> None:
        self.name, self.error, self.bodies = name, error, []  # type: ignore[var-annotated]

    async def deliver(self, body: dict[str, Any]) -> None:
        self.bodies.append(body)
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        return None


def handoff_message() -> OutboundMessage:
    return OutboundMessage("handoff-1", "cart_idle", "c1", "+886912345678", "zh-TW", "handoff", "hi",
                           handoff={"id": "wa-1", "reply": {"text": "hi", "button": None}})  # fmt: skip


async def test_every_receiver_is_called_whatever_another_answered() -> None:
    refusing, chatwoot = Receiver("webhook", PermanentError("400")), Receiver("chatwoot")
    with pytest.raises(PermanentError):
        await WithHandoff(ConsoleProvider(), [refusing, chatwoot]).send(handoff_message())
    assert len(chatwoot.bodies) == 1  # a webhook's 400 does not keep the hand-off from Chatwoot
    broken, failing = Receiver("webhook", RuntimeError("bug")), Receiver("chatwoot", TransientError("503"))
    with pytest.raises(TransientError):  # retried later, both again
        await WithHandoff(ConsoleProvider(), [broken, failing]).send(handoff_message())


def test_a_handoff_claimed_when_the_process_died_is_retried_and_a_send_is_not(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    rows = [(key, json.dumps({"category": category}), 0.0, 9e9, "c1") for key, category in
            (("handoff-1", "handoff"), ("answer-1", "service"))]  # fmt: skip
    batch = Prepared()
    batch.sends.extend(rows)
    store.write(batch, {})
    assert store.claim("handoff-1")
    assert store.claim("answer-1")
    store.recover_claims()  # what a restart after kill -9 does
    assert [row.key for row in store.due_sends(1.0)] == ["handoff-1"]
    store.close()
