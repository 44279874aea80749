"""Sends through the Cloud API adapter to a fake Graph API on loopback, under the rate limiter.

Usage: python -m tests.benchmarks.bench_whatsapp [--rate 1000] [--seconds 10] [--concurrency 8]

The fake runs in a process of its own (a real HTTP server on loopback). Prints the sustained
sends/s against the limit (target >= 95 % of it from one process), the end-to-end latency of a
send to loopback, and the adapter's own CPU time per send (building the payload and reading the
answer, measured apart from the network), p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import httpx

from engagement.live.rate_limit import LocalGcra, burst_for
from engagement.providers.base import OutboundMessage, TemplateParameter, TemplateSend
from engagement.providers.whatsapp.cloud_api import CloudApiProvider, _receipt
from engagement.providers.whatsapp.payloads import message_body
from tests.integration.fake_graph import FakeGraph, Received
from tests.integration.processes import free_port

TEMPLATE = TemplateSend(
    "cart_reminder",
    "zh_TW",
    body=(
        TemplateParameter("Amy", name="customer_name"),
        TemplateParameter("NT$1,280", kind="currency", amount=1280, currency="TWD", name="total"),
    ),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def adapter_cpu_microseconds(samples: int = 20_000) -> list[float]:
    fake = FakeGraph()
    answer = httpx.Response(200, json=fake.accepted_body(Received("/", {}, {"to": "886912345678"})))
    times: list[float] = []
    for n in range(samples):
        message = OutboundMessage(f"k-{n}", "cart_idle", "c1", "+886912345678", "zh-TW", "marketing", "x", TEMPLATE)
        started = time.perf_counter()
        message_body(message)
        _receipt(answer)
        times.append((time.perf_counter() - started) * 1e6)
    return times


async def run(base_url: str, rate: float, seconds: float, concurrency: int) -> None:
    provider = CloudApiProvider(base_url, "v23.0", "106540352242922", "token", max_connections=concurrency)
    limiter = LocalGcra(rate, burst_for(rate))
    latencies: list[float] = []
    sent = 0
    stop_at = time.monotonic() + seconds

    async def sender(worker: int) -> None:
        nonlocal sent
        n = 0
        while time.monotonic() < stop_at:
            await limiter.acquire()
            n += 1
            key = f"bench-{worker}-{n}"
            message = OutboundMessage(key, "cart_idle", "c1", "+886912345678", "zh-TW", "marketing", "x", TEMPLATE)
            started = time.perf_counter()
            await provider.send(message)
            latencies.append((time.perf_counter() - started) * 1000)
            sent += 1

    started = time.monotonic()
    await asyncio.gather(*(sender(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    await provider.close()
    achieved = sent / elapsed
    print(
        f"sends: {sent:,} in {elapsed:.1f} s = {achieved:,.0f}/s with the limiter at {rate:,.0f}/s "
        f"({achieved / rate:.1%} of the limit; target >= 95 %)"
    )
    print(
        f"send latency to loopback: p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.integration.fake_graph", str(port)])  # noqa: S603
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{port}/v0/x/messages", json={"to": "1"}, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(run(f"http://127.0.0.1:{port}", args.rate, args.seconds, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)
    cpu = adapter_cpu_microseconds()
    p50, p99 = statistics.median(cpu), percentile(cpu, 0.99)
    print(f"adapter CPU per send (payload + answer): p50 {p50:.1f} µs, p99 {p99:.1f} µs")


if __name__ == "__main__":
    main()
