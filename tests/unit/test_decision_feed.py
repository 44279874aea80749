"""Decisions pushed to the shop's webhook: stored decisions posted in signed batches to a real
receiver on loopback, the cursor moved on only after a batch is taken, retried with backoff,
given up after 24 h or when refused, and the settings checked before a runtime starts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engagement.decision_feed import push
from engagement.decision_feed.push import run_feed
from engagement.decision_feed.settings import FeedSettingsError, decisions_webhook
from engagement.decision_feed.webhook import DecisionsWebhook, decision_id
from engagement.embedded.decision_feed import StoredDecisions
from engagement.embedded.store import EmbeddedStore
from engagement.live.metrics import standard_metrics
from engagement.settings import Settings
from tests.scenario import T0, Events, replay

LATER = T0.timestamp() + 3 * 3600  # the cart reminders are due by then

SECRET = "decisions-secret-for-tests"  # noqa: S105 (a test fixture)


class Receiver:
    """The shop's endpoint: checks each signature, answers from a script, keeps what it took."""

    def __init__(self) -> None:
        self.statuses: deque[int] = deque()
        self.taken: list[dict[str, Any]] = []
        self.attempts = 0
        self.forged = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers["X-Engagement-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if request.headers["X-Engagement-Signature"] != f"sha256={expected}":
            self.forged += 1
            return web.Response(status=401)
        self.attempts += 1
        status = self.statuses.popleft() if self.statuses else 200
        if status == 200:
            self.taken.append(json.loads(body))
        return web.Response(status=status)


def decided(store: EmbeddedStore, customers: int) -> list[str]:
    """Real decisions (a cart reminder per customer) stored as `run` stores them."""
    events = Events()
    for n in range(customers):
        events.profile(-1, customer=f"c{n}", phone=f"+8869120000{n:02d}")
        events.cart(0, customer=f"c{n}")
    decisions = replay(events, until=LATER)
    store.commit([], decisions, {})
    return [line for _, line in store.decision_lines(0, 10_000)]


async def feed_until(receiver: Receiver, store: EmbeddedStore, done: Any, clock: Any = None) -> StoredDecisions:
    source = StoredDecisions(store)
    server = TestServer(web.Application())
    server.app.router.add_post("/hook", receiver.handle)
    await server.start_server()
    webhook = DecisionsWebhook(str(server.make_url("/hook")), SECRET)
    sleeps: list[float] = []

    async def quick(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    task = asyncio.create_task(run_feed(source, webhook, standard_metrics(), clock or (lambda: 0.0), quick))
    try:
        for _ in range(2000):
            if done():
                break
            await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await webhook.close()
        await server.close()
    source.sleeps = sleeps  # type: ignore[attr-defined]
    return source


async def test_decisions_made_after_the_feed_starts_reach_the_receiver_signed_each_with_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push, "BATCH", 3)
    store = EmbeddedStore(tmp_path)
    before = decided(store, 2)  # made before the webhook was set: not pushed
    receiver = Receiver()
    source = StoredDecisions(store)
    assert source.cursor == len(before)
    events = Events()
    for n in range(5):
        events.profile(-1, customer=f"d{n}", phone=f"+8869130000{n:02d}")
        events.cart(0, customer=f"d{n}")
    store.commit([], replay(events, until=LATER), {})
    lines = [line for _, line in store.decision_lines(len(before), 10_000)]
    assert len(lines) >= 5
    await feed_until(receiver, store, lambda: store.meta("decisions_pushed", -1) == len(before) + len(lines))
    posted = [d for batch in receiver.taken for d in batch["decisions"]]
    assert [d["id"] for d in posted] == [decision_id(line) for line in lines]
    assert [{k: v for k, v in d.items() if k != "id"} for d in posted] == [json.loads(line) for line in lines]
    assert all(len(batch["decisions"]) <= 3 for batch in receiver.taken)
    assert receiver.forged == 0
    assert StoredDecisions(store).cursor == len(before) + len(lines)  # kept across a restart
    store.close()


async def test_a_receiver_that_is_down_gets_the_same_batch_again_and_a_refusal_moves_on(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    StoredDecisions(store)  # the cursor starts here
    lines = decided(store, 2)
    receiver = Receiver()
    receiver.statuses.extend([503, 404, 429, 200])  # down, being deployed, busy: retried
    source = await feed_until(receiver, store, lambda: store.meta("decisions_pushed", -1) == len(lines))
    assert receiver.attempts == 4
    assert [d["id"] for d in receiver.taken[0]["decisions"]] == [decision_id(line) for line in lines]
    assert source.sleeps[:3] == [1.0, 2.0, 4.0]  # type: ignore[attr-defined]
    refused = Receiver()
    refused.statuses.append(400)
    more = decided(store, 3)[len(lines) :]
    await feed_until(refused, store, lambda: store.meta("decisions_pushed", -1) == len(lines) + len(more))
    assert refused.attempts == 1
    assert refused.taken == []
    assert StoredDecisions(store).cursor == len(lines) + len(more)  # refused: given up, not retried
    store.close()


async def test_a_batch_is_given_up_24_hours_after_its_decisions(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    StoredDecisions(store)
    lines = decided(store, 1)
    newest = max(push.made_at(line) for line in lines)
    receiver = Receiver()
    receiver.statuses.extend([503] * 50)
    await feed_until(
        receiver, store, lambda: StoredDecisions(store).cursor == len(lines), clock=lambda: newest + 86_401
    )
    assert receiver.taken == []
    assert receiver.attempts == 1
    store.close()


def test_settings_that_cannot_work_refuse_to_start() -> None:
    assert decisions_webhook(Settings()) is None
    with pytest.raises(FeedSettingsError, match="SECRET: at least 16"):
        decisions_webhook(Settings(decisions_webhook_url="https://shop.example/hook", decisions_webhook_secret="short"))  # noqa: S106
    with pytest.raises(FeedSettingsError, match="http"):
        decisions_webhook(Settings(decisions_webhook_url="ftp://shop.example/hook", decisions_webhook_secret=SECRET))
