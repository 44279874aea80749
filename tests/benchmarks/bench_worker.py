"""Worker throughput on the local Kafka: one `engagement worker` draining a backlog of a synthetic
shop day, against a bare aiokafka consumer reading the same topics.

Usage: deploy/local/services start && python -m tests.benchmarks.bench_worker [--events N] [--rounds N] [--no-pair]

Prints, over the same topics and backlog: a bare aiokafka consumer's messages/s; a faust agent
that does nothing (noop_agent.py: the worker's faust settings, topics and batches); the worker's
events/s end to end (decode, state table with its changelog, decisions topic, sends claimed in
Redis and written by the file provider); their ratios; and two worker processes together.
Target: the worker >= 0.8 of the no-op faust agent (faust itself is the ceiling we cannot lift),
in the median of `--rounds` rounds (each the no-op agent, then the worker, back to back).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engagement.embedded.demo import retimed_lines
from engagement.timefmt import parse_rfc3339
from tests.benchmarks.shop_day import generate
from tests.integration.processes import ROOT
from tests.integration.workers import KAFKA, PARTITIONS, Namespace, WorkerProcess, sent


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


def noop_agent(space: Namespace, count: int, tmp: Path, group: str) -> float:
    """Seconds a faust agent that does nothing (tests/benchmarks/noop_agent.py) takes from its
    first message to the last of `count`, over the worker's topics with the worker's settings
    (`group`: the app id it runs under, a consumer group of its own that reads the backlog from the start)."""
    env = WorkerProcess(space, tmp / group, tmp / f"{group}-sent.jsonl", {"ENGAGEMENT_APP_ID": group}).env
    count_file = tmp / f"{group}-count"
    with (tmp / f"{group}.log").open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (the benchmark's own module)
            [sys.executable, "-m", "tests.benchmarks.noop_agent", str(count_file)], env=env, stdout=log, stderr=log
        )
    try:
        return _until_counted(lambda: _count(count_file), count, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _count(path: Path) -> float:
    try:
        return float(path.read_text(encoding="utf-8") or 0)
    except (OSError, ValueError):
        return 0.0


def _until_counted(done: Callable[[], float], count: int, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds from the first message counted to the last; at most 10 minutes."""
    first, started = 0.0, time.perf_counter()
    while True:
        time.sleep(0.25)
        seen = done()
        if seen and not first:
            first = time.perf_counter()
        if seen >= count:
            return time.perf_counter() - first
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the process exited after {seen:,.0f} of {count:,} messages")
        if time.perf_counter() - started > 600:
            raise SystemExit(f"only {seen:,.0f} of {count:,} messages in 10 min")


def workers_rate(space: Namespace, count: int, tmp: Path, processes: int, group: str) -> tuple[float, int]:
    """Events/s of `processes` worker processes sharing the backlog (`group`: a consumer group of their own)."""
    env = {"ENGAGEMENT_TRIGGERS_DIR": str(ROOT / "triggers"), "ENGAGEMENT_APP_ID": group}
    workers = [
        WorkerProcess(space, tmp / f"{group}-{n}", tmp / f"{group}-sent-{n}.jsonl", env) for n in range(processes)
    ]
    for worker in workers:
        worker.start(wait_for_partitions=0)
    try:
        deadline = time.monotonic() + 120
        while sum(w.assigned() for w in workers) < PARTITIONS and time.monotonic() < deadline:
            time.sleep(0.25)
        elapsed = _until_counted(lambda: sum(w.events_handled() for w in workers), count)
    finally:
        for worker in workers:
            worker.kill()
    sends = sum(len(sent(tmp / f"{group}-sent-{n}.jsonl")) for n in range(processes))
    return count / elapsed, sends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--no-pair", action="store_true", help="skip the run of two worker processes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of no-op agent + worker, back to back")
    args = parser.parse_args()
    space = Namespace("bench")
    atexit.register(space.delete_topics)  # the broker keeps no benchmark topics
    lines = shop_lines(args.events, space.app_id)
    space.create_topics()
    produced = asyncio.run(produce(space, lines))
    print(f"produced {len(lines):,} events in {produced:.1f} s ({len(lines) / produced:,.0f}/s)")

    bare = len(lines) / asyncio.run(bare_consumer(space, len(lines)))
    print(f"bare aiokafka consumer (one message at a time, json.loads): {bare:,.0f} messages/s")
    with tempfile.TemporaryDirectory() as tmp:
        # Each round runs the no-op agent and then the worker, so that a ratio compares runs made
        # under the same load of a shared machine; the median round is the figure.
        ratios: list[tuple[float, float, float]] = []
        for n in range(1, max(1, args.rounds) + 1):
            noop = len(lines) / noop_agent(space, len(lines), Path(tmp), f"{space.app_id}-r{n}")
            rate, sends = workers_rate(space, len(lines), Path(tmp), 1, f"{space.app_id}-r{n}-1w")
            ratios.append((rate / noop, rate, noop))
            print(
                f"round {n}: no-op faust agent (the worker's settings, topics and batches) {noop:,.0f} messages/s; "
                f"worker {rate:,.0f} events/s ({sends:,} sends); worker / no-op = {rate / noop:.2f}"
            )
        ratio, rate, noop = sorted(ratios)[len(ratios) // 2]
        print(f"median round: worker {rate:,.0f} events/s, no-op faust agent {noop:,.0f} messages/s")
        print(f"worker / no-op faust agent = {ratio:.2f} (target >= 0.8)")
        print(f"worker / bare consumer = {rate / bare:.2f}")
        if not args.no_pair:
            pair, sends = workers_rate(space, len(lines), Path(tmp), 2, f"{space.app_id}-2w")
            print(
                f"two worker processes together: {pair:,.0f} events/s ({pair / rate:.2f}x one; "
                f"Kafka, Redis and both workers share this machine's {os.cpu_count()} CPUs); {sends:,} sends"
            )


if __name__ == "__main__":
    main()
