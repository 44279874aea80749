"""Answers on the workers (real Kafka and Redis): replies arrive on the webhook of either worker,
the owner of the customer's partition decides, answers go out through the fake Graph API and
hand-offs to a signing-checking receiver; one worker killed with -9 and every webhook delivered
again to the other: each inbound message is handled exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fake_graph import FakeGraph
from tests.integration.processes import until
from tests.integration.test_run_answers import (
    CART_URL,
    TRACKING_URL,
    HandoffReceiver,
    answering_env,
    answers_to,
    deliver,
    inbound,
    profile_and_cart,
)
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def space() -> Namespace:
    namespace = Namespace("wa")
    namespace.create_topics()
    return namespace


async def test_replies_on_two_workers_one_killed_are_handled_once(
    tmp_path: Path, space: Namespace, workers: list[WorkerProcess], graph: FakeGraph
) -> None:
    async with HandoffReceiver() as receiver:
        env = answering_env(graph, receiver)
        for directory in (tmp_path / "w1", tmp_path / "w2"):
            directory.mkdir(exist_ok=True)
        first = WorkerProcess(space, tmp_path / "w1", tmp_path / "unused.jsonl", env)
        second = WorkerProcess(space, tmp_path / "w2", tmp_path / "unused.jsonl", env)
        workers.extend([first, second])
        await asyncio.to_thread(first.start, 4)
        await asyncio.to_thread(second.start, 1)
        await asyncio.to_thread(space.produce, profile_and_cart(time.time()))
        await until(lambda: graph.received, 60, "the cart reminder")
        wamid = "wamid.fake00000000"
        messages = [
            inbound("wamid.w1", button="CHECKOUT", text="幫我結帳", context=wamid),
            inbound("wamid.w2", text="where is my order?"),
            inbound("wamid.w3", text="human please"),
            inbound("wamid.w4", text="hello", sender="+886900000002"),
        ]
        # each message arrives on a worker of its own: the partition's owner decides
        for n, message in enumerate(messages):
            await asyncio.to_thread(deliver, (first, second)[n % 2].url, [message])
        await until(lambda: len({_key(r) for r in answers_to(graph)}) >= 2 and receiver.received, 60, "answers")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(first.kill)  # kill -9
        later = inbound("wamid.w5", text="and one more thing", context=wamid)
        await asyncio.to_thread(deliver, second.url, [*messages, later])
        await until(lambda: len({h["id"] for h in receiver.received}) >= 2, 90, "the second hand-off")
        await asyncio.sleep(3.0)

    answered = answers_to(graph)
    assert Counter(_key(r) for r in answered).most_common(1)[0][1] == 1  # no answer twice
    texts = sorted(str(r.body["text"]["body"]) for r in answered)
    assert texts == sorted([f"這是您的購物車,點此結帳:{CART_URL}", f"您的包裹:{TRACKING_URL}"])
    ids = sorted({h["id"] for h in receiver.received})
    assert ids == ["wa-wamid.w3", "wa-wamid.w5"]
    lines = await asyncio.to_thread(space.decisions)
    # a decision line per inbound message (a batch replayed after kill -9 may write one again)
    decided = [d for d in lines if d["outcome"] in ("answer", "handoff", "ignore")]
    assert sorted({str(d["event_id"]) for d in decided}) == [f"wa-wamid.w{n}" for n in (1, 2, 3, 5)]
    assert receiver.refused == 0


def _key(received: Any) -> str:
    return str(received.body["biz_opaque_callback_data"])
