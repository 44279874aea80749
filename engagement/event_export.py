"""`engagement events export --since 7d > last-week.jsonl`: recent real traffic, replayable, for a backtest.

- `run` keeps every accepted event in its store (erased with the customer, and deleted after
  `RETENTION_DAYS` like the decisions: CONTRACT.md §8). Read from its state directory, or, while
  `run` has it open, through its API (`GET /v1/events`, a `read` key in `ENGAGEMENT_API_KEY`).
- `--url URL`: through that API of a running `run`.
- `--worker`: the workers' input topics, from the first message at or after the start of the
  window (Kafka keeps them for `RETENTION_DAYS` too), merged in the order the broker took them.

Events are written as JSON lines in the order they were taken, `occurred_at` at or after the
start of the window: what `engagement replay` reads.
"""

from __future__ import annotations

import asyncio
import heapq
import os
from collections.abc import Iterator
from typing import IO, Any

import httpx

from engagement.decode import Rejection, decode_event
from engagement.embedded.store import EmbeddedStore, StoreBusy
from engagement.settings import Settings
from engagement.worker.topics import TopicNames

PAGE = 5_000


class ExportError(RuntimeError):
    """The events cannot be read; the message says why."""


def export_events(settings: Settings, since: float, out: IO[str], url: str | None, worker: bool) -> int:
    """Write the window's events to `out`; how many."""
    if worker:
        lines: Iterator[str] = iter(asyncio.run(_from_topics(settings, since)))
    elif url is not None:
        lines = _from_api(url, since)
    else:
        try:
            store = EmbeddedStore(settings.state_dir)
        except StoreBusy:
            lines = _from_api(f"http://127.0.0.1:{settings.http_port}", since)
        else:
            lines = _from_store(store, since)
    count = 0
    for line in lines:
        out.write(line)
        count += 1
    return count


def _from_store(store: EmbeddedStore, since: float) -> Iterator[str]:
    try:
        after = 0
        while True:
            rows = store.read_events(after, PAGE, since)
            if not rows:
                return
            yield from (line for _, line in rows)
            after = rows[-1][0]
    finally:
        store.close()


def _from_api(url: str, since: float) -> Iterator[str]:
    key = os.environ.get("ENGAGEMENT_API_KEY", "")
    if not key:
        raise ExportError(f"{url}: set ENGAGEMENT_API_KEY to a key with the read scope to export through the API")
    after = 0
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        while True:
            try:
                response = client.get(
                    f"{url.rstrip('/')}/v1/events", params={"after": after, "limit": PAGE, "since": int(since)}
                )
            except httpx.HTTPError as exc:
                raise ExportError(f"{url}: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise ExportError(f"{url}: {response.status_code} {response.text[:200]}")
            if not response.text:
                return
            yield from response.text.splitlines(keepends=True)
            after = int(response.headers["X-Last-Seq"])


async def _from_topics(settings: Settings, since: float) -> list[str]:
    """Every input partition from the first offset at or after `since` to its end at the start."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415 (Kafka only for the workers)

    names = TopicNames(settings.topic_prefix)
    counts = await input_partitions(settings.kafka_brokers, names.inputs)
    if not counts:
        raise ExportError(f"no input topics {', '.join(names.inputs)} at {settings.kafka_brokers}")
    partitions = [TopicPartition(topic, number) for topic, count in counts.items() for number in range(count)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_brokers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times({tp: int(since * 1000) for tp in partitions})
        streams: list[list[tuple[int, str]]] = []
        for tp in partitions:
            found = starts.get(tp)
            if found is None or found.offset >= ends[tp]:
                continue
            consumer.seek(tp, found.offset)
            streams.append(await _read_partition(consumer, tp, ends[tp], since))
        return [line for _, line in heapq.merge(*streams)]
    finally:
        await consumer.stop()


async def input_partitions(brokers: str, topics: tuple[str, ...]) -> dict[str, int]:
    """Topic -> its number of partitions, for the topics that exist."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 (Kafka only for the workers)

    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code") and d.get("partitions")}


async def _read_partition(consumer: Any, tp: Any, end: int, since: float) -> list[tuple[int, str]]:
    taken: list[tuple[int, str]] = []
    while True:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=PAGE)
        for message in batch.get(tp, []):
            if message.value is None:
                continue
            event = decode_event(message.value)
            if not isinstance(event, Rejection) and event.occurred_at.timestamp() >= since:
                taken.append((message.timestamp, event.model_dump_json(exclude_none=True) + "\n"))
            if message.offset + 1 >= end:
                return taken
        if not batch and await consumer.position(tp) >= end:
            return taken
