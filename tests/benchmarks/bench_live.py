"""Live timing of one `engagement worker` on the local Kafka and Redis: anomalous-login latency from
the event produced to the provider called, and timer lateness, under steady background traffic.

Usage: deploy/local/services start && python -m tests.benchmarks.bench_live [--rate 1000] [--seconds 60]

Background: page views at `--rate` events/s, with profiles and carts of their own; every 0.25 s
a customer with a login history logs in from a new device in a new country (an alert, sent at
once); every 0.5 s a cart is left idle (its reminder falls due 10 s later, the demo triggers).
Login latency is `sent_at` (the file provider's clock at the call) minus the produce time.
Timer lateness is `sent_at` minus (the reminder's due time + the allowed lateness): what a timer
adds beyond the lateness the watermark must wait by definition.
Targets: login p99 < 500 ms; timer lateness p99 < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import statistics
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from engagement.timefmt import parse_rfc3339, rfc3339
from tests.integration.workers import KAFKA, Namespace, WorkerProcess, sent

LATENESS_SECONDS = 2.0
TICK_SECONDS = 0.01


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Traffic:
    def __init__(self, space: Namespace, run: str) -> None:
        self.space, self.run, self.seq = space, run, 0
        self.login_sent_at: dict[str, float] = {}  # customer -> when its anomalous login was produced

    def event(self, kind: str, customer: str, t: float, **fields: object) -> tuple[str, str, bytes]:
        self.seq += 1
        record: dict[str, object] = {
            "event_id": f"{self.run}-{self.seq}",
            "type": kind,
            "customer_id": customer,
            "occurred_at": rfc3339(t),
        }
        record.update(fields)
        return self.space.names.for_event(kind), customer, json.dumps(record).encode()

    def profile(self, customer: str, t: float) -> tuple[str, str, bytes]:
        phone = f"+8869{abs(hash(customer)) % 10**8:08d}"
        return self.event(
            "customer.updated", customer, t, name=customer, phone=phone, locale="en", whatsapp_opt_in=True
        )


async def drive(traffic: Traffic, rate: int, seconds: float, logins: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=0)
    await producer.start()
    run = traffic.run
    try:
        now = time.time()
        # Login customers: a profile and a first, ordinary login each, well before the test.
        for n in range(logins):
            cid = f"{run}-login-{n}"
            for topic, key, value in (
                traffic.profile(cid, now - 3600),
                traffic.event("login.succeeded", cid, now - 3600, device_id=f"{cid}-phone", country="TW"),
            ):
                await producer.send(topic, key=key.encode(), value=value)
        await producer.flush()
        await asyncio.sleep(3.0)
        started = time.perf_counter()
        sent_events, tick, next_login, next_cart, carts = 0, 0, 0, 0, 0
        while (elapsed := time.perf_counter() - started) < seconds:
            target = int(elapsed * rate)
            now = time.time()
            while sent_events < target:
                cid = f"{run}-bg-{sent_events % 5000}"
                topic, key, value = traffic.event("page.viewed", cid, now, product_id=f"p-{sent_events % 300}")
                await producer.send(topic, key=key.encode(), value=value)
                sent_events += 1
            if elapsed >= next_login * 0.25 and next_login < logins:
                cid = f"{run}-login-{next_login}"
                topic, key, value = traffic.event(
                    "login.succeeded", cid, now, device_id=f"{cid}-laptop", country="RU", latitude=55.7, longitude=37.6
                )
                traffic.login_sent_at[cid] = time.time()
                await producer.send(topic, key=key.encode(), value=value)
                next_login += 1
            if elapsed >= next_cart * 0.5:
                cid = f"{run}-cart-{carts}"
                items = [{"product_id": "p-1", "name": "Linen shirt", "quantity": 1, "unit_price": 1280}]
                for topic, key, value in (
                    traffic.profile(cid, now - 1),
                    traffic.event("cart.updated", cid, now, cart_id=f"{cid}-c", items=items, currency="TWD"),
                ):
                    await producer.send(topic, key=key.encode(), value=value)
                next_cart += 1
                carts += 1
            tick += 1
            await asyncio.sleep(max(0.0, tick * TICK_SECONDS - (time.perf_counter() - started)))
        await producer.flush()
        print(f"background: {sent_events:,} page views in {seconds:.0f} s; {next_login} logins; {carts} carts")
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    space = Namespace("live")
    atexit.register(space.delete_topics)  # the broker keeps no benchmark topics
    space.create_topics()
    logins = int(args.seconds * 4)
    with tempfile.TemporaryDirectory() as tmp:
        sent_file = Path(tmp) / "sent.jsonl"
        worker = WorkerProcess(
            space, Path(tmp) / "w", sent_file, {"ENGAGEMENT_ALLOWED_LATENESS": f"{LATENESS_SECONDS:.0f}s"}
        )
        worker.start(wait_for_partitions=4)
        try:
            traffic = Traffic(space, space.app_id)
            asyncio.run(drive(traffic, args.rate, args.seconds, logins))
            time.sleep(35.0)  # the last carts' reminders
            messages = sent(sent_file)
        finally:
            worker.kill()
    decisions = {str(d["key"]): d for d in space.decisions() if d["outcome"] == "send"}
    latencies = [
        (float(str(m["sent_at"])) - traffic.login_sent_at[str(m["customer_id"])]) * 1000
        for m in messages
        if m["trigger"] == "anomalous_login" and str(m["customer_id"]) in traffic.login_sent_at
    ]
    lateness = [
        float(str(m["sent_at"])) - parse_rfc3339(str(decisions[str(m["key"])]["due_at"])) - LATENESS_SECONDS
        for m in messages
        if m["trigger"] == "cart_idle" and str(m["key"]) in decisions
    ]
    if latencies:
        print(
            f"anomalous login, produced -> provider called: n={len(latencies)}, "
            f"p50 {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
            f"max {max(latencies):.0f} ms (target p99 < 500 ms)"
        )
    if lateness:
        print(
            f"cart timer lateness beyond the allowed {LATENESS_SECONDS:.0f} s: n={len(lateness)}, "
            f"p50 {statistics.median(lateness):.2f} s, p99 {percentile(lateness, 0.99):.2f} s, "
            f"max {max(lateness):.2f} s (target p99 < 2 s)"
        )
    print(f"login alerts expected {logins}, sent {len(latencies)}; cart reminders sent {len(lateness)}")


if __name__ == "__main__":
    main()
