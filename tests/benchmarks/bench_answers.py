"""From a customer's reply to its automatic answer: p50 and p99 of the time from the signed
webhook's POST to `engagement run` until the fake Graph API receives the answer, with 3 % of
calls answered 130429 (the number's throughput) and 3 % answered 500.

Usage: python -m tests.benchmarks.bench_answers [--customers 500] [--rate 25]

It loads `--customers` customers (each with a dispatched parcel and its tracking link, and a login
from a new country: the alert is the send their reply follows), then sends each one reply
"where is my order?" at `--rate` webhooks a second, and prints, over the replies:
p50, p99 and max to the first provider call and to the accepted call, the faults met, and whether
each reply was answered exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from aiohttp import web

from engagement.timefmt import rfc3339
from tests.integration.fake_graph import FakeGraph, Received, error, server_error
from tests.integration.processes import RunProcess, free_port
from tests.integration.whatsapp_payloads import ENV, signed, webhook


def customers(count: int, now: float) -> list[str]:
    lines = []
    for n in range(count):
        cid = f"b{n}"
        lines.append(json.dumps({"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid,
                                 "occurred_at": rfc3339(now - 3600), "phone": f"+8869130{n:05d}", "locale": "en",
                                 "whatsapp_opt_in": True}))  # fmt: skip
        lines.append(json.dumps({"event_id": f"{cid}-s", "type": "shipment.dispatched", "customer_id": cid,
                                 "occurred_at": rfc3339(now - 1800), "order_id": f"o{n}", "shipment_id": f"s{n}",
                                 "promised_delivery_at": rfc3339(now + 86400),
                                 "tracking_url": f"https://track.shop.example/s{n}"}))  # fmt: skip
        for suffix, dt, device, country in (("a", 1200, "phone", "TW"), ("b", 30, "laptop", "RU")):
            lines.append(json.dumps({"event_id": f"{cid}-{suffix}", "type": "login.succeeded", "customer_id": cid,
                                     "occurred_at": rfc3339(now - dt), "device_id": f"{cid}-{device}",
                                     "country": country}))  # fmt: skip
    return lines


def _alerts(graph: FakeGraph) -> int:
    return sum(r.body.get("type") == "template" for r in graph.received)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(count: int, rate: float) -> None:
    rng = random.Random(27)
    first_call: dict[str, float] = {}
    accepted: dict[str, float] = {}
    calls: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    accepted_calls: Counter[str] = Counter()
    throttled, failing = error(130429), server_error(500)

    def answer(request: Received) -> web.Response | None:
        if request.body.get("type") != "text":
            return None  # the login alerts the replies follow
        to = str(request.body.get("to"))
        now = time.perf_counter()
        calls[to] += 1
        first_call.setdefault(to, now)
        roll = rng.random()
        if roll < 0.03:
            faults["130429"] += 1
            return throttled(request)  # type: ignore[no-any-return]
        if roll < 0.06:
            faults["500"] += 1
            return failing(request)  # type: ignore[no-any-return]
        accepted.setdefault(to, now)
        accepted_calls[to] += 1
        return None

    async with FakeGraph() as graph:
        graph.default = answer
        with tempfile.TemporaryDirectory() as tmp:
            env = {**ENV, "ENGAGEMENT_PROVIDER": "whatsapp", "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
                   "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922", "ENGAGEMENT_WHATSAPP_TOKEN": "t",
                   "ENGAGEMENT_LINK_DOMAINS": "shop.example"}  # fmt: skip
            run = RunProcess(Path(tmp), free_port(), env)
            await asyncio.to_thread(run.start)
            try:
                await asyncio.to_thread(run.post_lines, customers(count, time.time()))
                deadline = time.monotonic() + 60
                while _alerts(graph) < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)
                posted: dict[str, float] = {}
                async with httpx.AsyncClient(timeout=30) as http:

                    async def reply(n: int) -> None:
                        phone = f"8869130{n:05d}"
                        said = {"from": phone, "id": f"wamid.b{n}", "timestamp": str(int(time.time())),
                                "type": "text", "text": {"body": "Hi, where is my order?"}}  # fmt: skip
                        body = webhook({"messages": [said]})
                        posted[phone] = time.perf_counter()
                        answer = await http.post(f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body))
                        assert answer.status_code == 200, answer.text

                    tasks = []
                    for n in range(count):
                        tasks.append(asyncio.create_task(reply(n)))
                        await asyncio.sleep(1 / rate)
                    await asyncio.gather(*tasks)
                deadline = time.monotonic() + 60
                while len(accepted) < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                await asyncio.sleep(3.0)  # anything sent twice would show by now
            finally:
                await asyncio.to_thread(run.kill)
    to_first = [first_call[p] - posted[p] for p in posted if p in first_call]
    to_accepted = [accepted[p] - posted[p] for p in posted if p in accepted]
    twice = sum(1 for p, n in calls.items() if n > 1 and p in accepted)
    print(f"replies: {count} at {rate:g}/s; answered: {len(accepted)}; faults met: {dict(faults)}")
    print(f"webhook -> first provider call: p50 {quantile(to_first, 0.5) * 1000:.0f} ms, "
          f"p99 {quantile(to_first, 0.99) * 1000:.0f} ms, max {max(to_first) * 1000:.0f} ms")  # fmt: skip
    print(f"webhook -> accepted call:       p50 {quantile(to_accepted, 0.5) * 1000:.0f} ms, "
          f"p99 {quantile(to_accepted, 0.99) * 1000:.0f} ms, max {max(to_accepted) * 1000:.0f} ms")  # fmt: skip
    once = all(accepted_calls[p] == 1 for p in posted)
    print(f"replies whose answer was called more than once (a fault, then the retry): {twice}; "
          f"each answer accepted exactly once: {once}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    asyncio.run(main(args.customers, args.rate))
