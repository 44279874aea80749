"""A login alert's latency on each path through the channels: p50 and p99 of the time from the
login's POST to `engagement run` until the provider that reaches the customer accepts the call.

Usage: python -m tests.benchmarks.bench_channels [--alerts 300] [--rate 20] [--fallback-after 10]

Three paths, a third of the alerts each, posted at `--rate` logins a second:
- direct: WhatsApp accepts the alert (and a delivery report follows);
- after 131026: the number is not on WhatsApp; the alert moves to LINE at once;
- after no report: WhatsApp accepts it and no delivery report comes; LINE after `--fallback-after`.
It prints p50, p99 and max per path, and how many alerts reached their customer more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from aiohttp import web

from engagement.config.loader import default_triggers_dir
from engagement.timefmt import rfc3339
from tests.integration.channel_setup import delivered, login_alerts_on
from tests.integration.fake_graph import FakeGraph, Received, error
from tests.integration.fake_line import LINE_SECRET, LINE_TOKEN, FakeLine, Pushed
from tests.integration.processes import RunProcess, free_port
from tests.integration.whatsapp_payloads import ENV, signed, webhook

PATHS = ("direct", "after 131026", "after no report")


def profile(n: int, now: float) -> str:
    return json.dumps({"event_id": f"b{n}-p", "type": "customer.updated", "customer_id": f"b{n}",
                       "occurred_at": rfc3339(now - 3600), "phone": f"+8869140{n:05d}", "locale": "en",
                       "whatsapp_opt_in": True, "line_user_id": f"U{n:032x}", "line_opt_in": True})  # fmt: skip


def logins(n: int, now: float) -> list[str]:
    return [json.dumps({"event_id": f"b{n}-{s}", "type": "login.succeeded", "customer_id": f"b{n}",
                        "occurred_at": rfc3339(now - dt), "device_id": f"b{n}-{d}", "country": c})
            for s, dt, d, c in (("a", 600, "phone", "TW"), ("b", 0, "laptop", "RU"))]  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main(alerts: int, rate: float, fallback_after: float) -> None:
    path_of = {n: PATHS[n % 3] for n in range(alerts)}
    posted: dict[int, float] = {}
    reached: dict[int, list[float]] = {n: [] for n in range(alerts)}

    def on_graph(request: Received) -> web.Response | None:
        n = int(str(request.body["to"]).lstrip("+")[-5:])
        if path_of[n] == "after 131026":
            refused: web.Response = error(131026, 400)(request)
            return refused
        if path_of[n] == "direct":
            reached[n].append(time.monotonic())
        return None

    def on_line(pushed: Pushed) -> None:
        reached[int(str(pushed.body["to"])[1:], 16)].append(time.monotonic())

    async with FakeGraph() as graph, FakeLine() as line:
        graph.default, line.default = on_graph, on_line
        with tempfile.TemporaryDirectory() as tmp:
            channel_triggers = login_alerts_on(default_triggers_dir(), Path(tmp), "[whatsapp, line]", fallback_after)
            env = {**ENV, "ENGAGEMENT_PROVIDER": "whatsapp", "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
                   "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922", "ENGAGEMENT_WHATSAPP_TOKEN": "t",
                   "ENGAGEMENT_LINE_API_BASE": line.base_url, "ENGAGEMENT_LINE_CHANNEL_TOKEN": LINE_TOKEN,
                   "ENGAGEMENT_LINE_CHANNEL_SECRET": LINE_SECRET,
                   "ENGAGEMENT_TRIGGERS_DIR": str(channel_triggers)}  # fmt: skip
            run = RunProcess(Path(tmp) / "state", free_port(), env)
            await asyncio.to_thread(run.start)
            try:
                now = time.time()
                await asyncio.to_thread(run.post_lines, [profile(n, now) for n in range(alerts)])
                async with httpx.AsyncClient(headers={**run.headers, "Content-Type": "application/x-ndjson"}) as http:
                    for n in range(alerts):
                        body = "\n".join(logins(n, time.time())) + "\n"
                        posted[n] = time.monotonic()
                        answer = await http.post(f"{run.url}/v1/events", content=body)
                        assert answer.status_code == 202, answer.text
                        await asyncio.sleep(1 / rate)
                        await report_direct(graph, run.url, path_of, http)
                    give_up = time.monotonic() + fallback_after + 60
                    while time.monotonic() < give_up and any(not reached[n] for n in range(alerts)):
                        await report_direct(graph, run.url, path_of, http)
                        await asyncio.sleep(0.2)
                    await asyncio.sleep(2.0)
            finally:
                await asyncio.to_thread(run.kill)
    print(f"{alerts} login alerts at {rate:g}/s, fallback_after {fallback_after:g} s (engagement run, loopback fakes)")
    for path in PATHS:
        waits = [reached[n][0] - posted[n] for n in range(alerts) if path_of[n] == path and reached[n]]
        missing = sum(1 for n in range(alerts) if path_of[n] == path and not reached[n])
        print(f"  {path:16} n={len(waits):4}  p50 {percentile(waits, 0.5) * 1000:8.0f} ms  "
              f"p99 {percentile(waits, 0.99) * 1000:8.0f} ms  max {max(waits, default=0) * 1000:8.0f} ms"
              + (f"  ({missing} not reached)" if missing else ""))  # fmt: skip
    twice = Counter(len(times) for times in reached.values())
    print(f"  reached once: {twice[1]}, more than once: {sum(v for k, v in twice.items() if k > 1)}")


_reported: set[str] = set()


async def report_direct(graph: FakeGraph, url: str, path_of: dict[int, str], http: httpx.AsyncClient) -> None:
    """Meta's delivered status for each direct alert's call, as it arrives."""
    fresh = [r for r in list(graph.received) if path_of[int(str(r.body["to"]).lstrip("+")[-5:])] == "direct"
             and str(r.body["biz_opaque_callback_data"]) not in _reported]  # fmt: skip
    if not fresh:
        return
    statuses = [delivered(f"wamid.{r.body['biz_opaque_callback_data']}", r) for r in fresh]
    body = webhook({"statuses": statuses})
    await http.post(f"{url}/v1/webhooks/whatsapp", content=body, headers=signed(body))
    _reported.update(str(r.body["biz_opaque_callback_data"]) for r in fresh)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--fallback-after", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.alerts, args.rate, args.fallback_after))
