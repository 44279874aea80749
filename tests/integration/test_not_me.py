"""A customer taps "not me" on a login alert: one security report, published to the
`engagement.security` topic by a worker and POSTed to ENGAGEMENT_SECURITY_WEBHOOK_URL by both
runtimes (retried when the receiver fails), however often Meta delivers the webhook."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from aiohttp import web

from engagement.timefmt import rfc3339
from tests.integration.loopback import ScriptedServer
from tests.integration.processes import RunProcess, free_port, until
from tests.integration.whatsapp_payloads import ENV, PHONE, signed, webhook
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration


@dataclass
class Receiver(ScriptedServer[dict[str, Any]]):
    """The shop's security endpoint: answers 503 to the first POST, then records each report."""

    ROUTE: ClassVar[str] = "/security"
    calls: int = 0

    @property
    def reports(self) -> list[dict[str, Any]]:
        return self.received

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        if self.calls == 1:
            return web.Response(status=503)
        self.received.append(await request.json())
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as fake:
        yield fake


def profile(cid: str) -> str:
    return json.dumps({"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid,
                       "occurred_at": rfc3339(time.time() - 60), "phone": PHONE, "whatsapp_opt_in": True})  # fmt: skip


def not_me_tap() -> bytes:
    tap = {"from": PHONE[1:], "id": "wamid.NOTME", "timestamp": str(int(time.time())), "type": "button",
           "context": {"from": "15550001111", "id": "wamid.ALERT"},
           "button": {"payload": "NOT_ME", "text": "Not me"}}  # fmt: skip
    return webhook({"messages": [tap]})


async def tap_twice(url: str) -> None:
    body = not_me_tap()
    for _ in range(2):  # Meta delivers a webhook again when it doubts the first delivery
        answer = await asyncio.to_thread(httpx.post, url, content=body, headers=signed(body))
        assert answer.status_code == 200


async def test_run_posts_one_report_to_the_security_webhook(tmp_path: Path, receiver: Receiver) -> None:
    env = {**ENV, "ENGAGEMENT_SECURITY_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/security"}
    run = RunProcess(tmp_path, free_port(), env)
    await asyncio.to_thread(run.start)
    try:
        await asyncio.to_thread(run.post_lines, [profile("c-victim")])
        await tap_twice(f"{run.url}/v1/webhooks/whatsapp")
        await until(lambda: receiver.reports, 20, "the report")
        await asyncio.sleep(1.5)
    finally:
        await asyncio.to_thread(run.kill)
    [report] = receiver.reports
    assert receiver.calls == 2  # the first answer was a 503: retried once
    assert (report["kind"], report["customer_id"], report["phone"]) == ("login_not_me", "c-victim", PHONE)
    assert (report["message_id"], report["replied_to"]) == ("wamid.NOTME", "wamid.ALERT")


async def test_a_worker_publishes_the_report_to_the_security_topic(tmp_path: Path, receiver: Receiver) -> None:
    space = Namespace("notme")
    await asyncio.to_thread(space.create_topics)
    env = {**ENV, "ENGAGEMENT_SECURITY_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/security"}
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", env)
    try:
        await asyncio.to_thread(worker.start, 4)
        await asyncio.to_thread(space.produce, [profile("c-victim")])
        await until(lambda: worker.metric("engagement_events_total", result="accepted") >= 1, 30, "the profile")
        await asyncio.sleep(0.5)  # the batch's phone index is written with the batch
        await tap_twice(f"{worker.url}/v1/webhooks/whatsapp")
        await until(lambda: space.read(space.names.security), 20, "the security topic")
        await until(lambda: receiver.reports, 20, "the webhook report")
        await asyncio.sleep(1.5)
        published = [json.loads(v) for v in await asyncio.to_thread(space.read, space.names.security)]
    except BaseException:
        print(worker.log()[-8000:])
        raise
    finally:
        await asyncio.to_thread(worker.kill)
    assert [(r["customer_id"], r["replied_to"]) for r in published] == [("c-victim", "wamid.ALERT")]
    assert [r["customer_id"] for r in receiver.reports] == ["c-victim"]
