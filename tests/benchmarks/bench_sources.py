"""The platforms' webhooks on a live `engagement run`: how long a Segment batch of 4,000 events
takes to be answered (Segment waits; the route gives up at 8 s), and Shopify checkouts per second
one delivery at a time (Shopify waits 5 s for each).

    python -m tests.benchmarks.bench_sources [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from engagement.sources.shopify import signature
from tests.integration.processes import running

SHOPIFY, SEGMENT = "bench-shopify-secret", "bench-segment-secret"


def segment_batch(round_: int, size: int = 4000) -> bytes:
    events = []
    for n in range(size):
        customer = f"u-{round_}-{n % 400}"
        kind = ("Product Viewed", "Product Added", "Cart Viewed", "Product Removed")[n % 4]
        events.append({"type": "track", "event": kind, "messageId": f"m-{round_}-{n}", "userId": customer,
                       "timestamp": "2026-11-20T02:00:00Z",
                       "properties": {"cart_id": f"k-{customer}", "product_id": f"p-{n % 7}", "name": "保溫瓶",
                                      "price": 600, "quantity": 1, "currency": "TWD",
                                      "products": [{"product_id": "p-1", "quantity": 2, "price": 600}]}})  # fmt: skip
    return json.dumps(events).encode()


def checkout(n: int) -> bytes:
    return json.dumps({"id": n, "token": f"ck-{n}", "phone": f"+8869123{n % 100000:05d}", "currency": "TWD",
                       "completed_at": None, "updated_at": "2026-11-20T10:00:00+08:00",
                       "line_items": [{"product_id": 1, "title": "保溫瓶", "quantity": 1, "price": "600.00"}],
                       "customer": {"id": 10_000 + n}}).encode()  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {"ENGAGEMENT_SHOPIFY_SECRET": SHOPIFY, "ENGAGEMENT_SEGMENT_SECRET": SEGMENT}
    batches, rates = [], []
    with running(Path(tempfile.mkdtemp(prefix="bench-sources-")), env) as run, httpx.Client(timeout=60) as client:
        for round_ in range(args.rounds):
            body = segment_batch(round_)
            sig = hmac.new(SEGMENT.encode(), body, hashlib.sha1).hexdigest()
            start = time.perf_counter()
            answer = client.post(f"{run.url}/v1/sources/segment", content=body, headers={"X-Signature": sig})
            batches.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text[:300]
            count = 500
            start = time.perf_counter()
            for n in range(count):
                raw = checkout(round_ * count + n)
                headers = {"X-Shopify-Topic": "checkouts/update", "X-Shopify-Hmac-Sha256": signature(SHOPIFY, raw)}
                assert client.post(f"{run.url}/v1/sources/shopify", content=raw, headers=headers).status_code == 200
            rates.append(count / (time.perf_counter() - start))
    print(f"segment batch of 4,000 events answered in: median {statistics.median(batches):.2f} s "
          f"(rounds: {', '.join(f'{b:.2f}' for b in batches)})")  # fmt: skip
    print(f"shopify checkouts, one delivery at a time: median {statistics.median(rates):,.0f}/s "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in rates)})")  # fmt: skip


if __name__ == "__main__":
    main()
