"""Reading whole topics once, from outside the workers: every partition from the first record at or
after a time to its end when the reading began, merged in the order the broker took them
(`engagement events export --worker`, `engagement report --worker`, the worker's `/v1/report`)."""

from __future__ import annotations

import heapq
from typing import Any

PAGE = 5_000


async def partition_counts(brokers: str, topics: tuple[str, ...]) -> dict[str, int]:
    """Topic -> its number of partitions, for the topics that exist."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 (Kafka only for the workers)

    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code") and d.get("partitions")}


Timed = tuple[int, bytes]  # (broker time in ms, value)


async def read_topics(brokers: str, topics: tuple[str, ...], since: float = 0.0) -> dict[str, list[Timed]]:
    """Topic -> its records (tombstones left out), its partitions merged by broker time."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415 (Kafka only for the workers)

    counts = await partition_counts(brokers, topics)
    partitions = [TopicPartition(topic, number) for topic, count in counts.items() for number in range(count)]
    found: dict[str, list[Timed]] = {topic: [] for topic in topics}
    if not partitions:
        return found
    consumer = AIOKafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times({tp: int(since * 1000) for tp in partitions})
        streams: dict[str, list[list[Timed]]] = {topic: [] for topic in topics}
        for tp in partitions:
            start = starts.get(tp)
            if start is None or start.offset >= ends[tp]:
                continue
            consumer.seek(tp, start.offset)
            streams[tp.topic].append(await _read_partition(consumer, tp, ends[tp]))
        for topic, parts in streams.items():
            found[topic] = list(heapq.merge(*parts))
        return found
    finally:
        await consumer.stop()


async def _read_partition(consumer: Any, tp: Any, end: int) -> list[Timed]:
    taken: list[Timed] = []
    while True:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=PAGE)
        for message in batch.get(tp, []):
            if message.value is not None:
                taken.append((message.timestamp, message.value))
            if message.offset + 1 >= end:
                return taken
        if not batch and await consumer.position(tp) >= end:
            return taken
