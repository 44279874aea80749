"""Worker throughput on the local Kafka: one `engagement worker` draining a backlog of a synthetic
shop day, against a bare aiokafka consumer reading the same topics.

Usage: deploy/local/services start && python -m tests.benchmarks.bench_worker [--events N]

Prints the bare consumer's messages/s, the worker's events/s end to end (decode, state table
with its changelog, decisions topic, sends claimed in Redis and written by the file provider),
and their ratio. Targets: >= 5,000 events/s and a ratio >= 0.3.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import itertools
import json
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engagement.embedded.demo import retimed_lines
from engagement.timefmt import parse_rfc3339
from tests.benchmarks.shop_day import generate
from tests.integration.processes import ROOT
from tests.integration.workers import KAFKA, Namespace, WorkerProcess, sent


def shop_lines(count: int, run_id: str) -> list[str]:
    """The first `count` events of a synthetic shop day, moved to end a minute ago (so that the
    triggers of its last half hour are still inside their send windows and do send)."""
    path = Path(tempfile.gettempdir()) / "engagement-shop-day-20000.jsonl"
    if not path.exists():
        generate(path, 20_000, seed=11)
    with path.open(encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in itertools.islice(handle, count)]
    span = json.loads(lines[-1])["occurred_at"], json.loads(lines[0])["occurred_at"]
    seconds = parse_rfc3339(span[0]) - parse_rfc3339(span[1])
    return retimed_lines(lines, time.time() - 60 - seconds, run_id)


async def produce(space: Namespace, lines: list[str]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        for line in lines:
            event = json.loads(line)
            await producer.send(
                space.names.for_event(event["type"]), key=event["customer_id"].encode(), value=line.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def bare_consumer(space: Namespace, count: int) -> float:
    """Seconds a plain consumer group member takes from its first message to the last of `count`,
    taking messages one at a time and decoding each JSON value (and nothing else)."""
    consumer = AIOKafkaConsumer(
        *space.names.inputs,
        bootstrap_servers=KAFKA,
        group_id=f"{space.app_id}-bare",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    seen, first = 0, 0.0
    try:
        async for message in consumer:
            if not first:
                first = time.perf_counter()
            json.loads(message.value or b"null")
            seen += 1
            if seen >= count:
                break
        return time.perf_counter() - first
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    space = Namespace("bench")
    atexit.register(space.delete_topics)  # the broker keeps no benchmark topics
    lines = shop_lines(args.events, space.app_id)
    space.create_topics()
    produced = asyncio.run(produce(space, lines))
    print(f"produced {len(lines):,} events in {produced:.1f} s ({len(lines) / produced:,.0f}/s)")

    bare = asyncio.run(bare_consumer(space, len(lines)))
    print(f"bare aiokafka consumer (one message at a time, json.loads): {len(lines) / bare:,.0f} messages/s")

    with tempfile.TemporaryDirectory() as tmp:
        worker = WorkerProcess(
            space, Path(tmp) / "w", Path(tmp) / "sent.jsonl", {"ENGAGEMENT_TRIGGERS_DIR": str(ROOT / "triggers")}
        )
        worker.start(wait_for_partitions=4)
        try:
            first, done, last = 0.0, 0.0, time.perf_counter()
            while done < len(lines):
                time.sleep(0.25)
                done = worker.events_handled()
                if done and not first:
                    first = time.perf_counter()
                if time.perf_counter() - last > 600:
                    raise SystemExit(f"the worker processed only {done:,.0f} events in 10 min")
            elapsed = time.perf_counter() - first
        finally:
            worker.kill()
        sends = len(sent(Path(tmp) / "sent.jsonl"))
    rate = len(lines) / elapsed
    print(f"worker: {len(lines):,} events in {elapsed:.1f} s = {rate:,.0f} events/s (target >= 5,000); {sends:,} sends")
    print(f"worker / bare consumer = {rate / (len(lines) / bare):.2f} (target >= 0.3)")


if __name__ == "__main__":
    main()
