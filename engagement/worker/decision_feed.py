"""The workers' decisions for the decisions webhook: the decisions topic, read by a consumer group
of its own (`<app id>-decisions-webhook`) whose offsets are committed only after the receiver took
a batch. The workers share its partitions; a worker killed mid-batch leaves the batch to the one
that takes its partitions over (at least once). A group that never committed starts at the end."""

from __future__ import annotations

import logging
from typing import Any

from engagement.decision_feed.push import RETRY_FOR_SECONDS

log = logging.getLogger("engagement.decision_feed")
RETRY_FOR_MS = int((RETRY_FOR_SECONDS + 3600) * 1000)


class TopicDecisions:
    def __init__(self, brokers: str, topic: str, group: str) -> None:
        self.brokers, self.topic, self.group = brokers, topic, group
        self._consumer: Any = None
        self._offsets: dict[Any, int] = {}  # the batch handed out: where each partition goes on after it
        self._firsts: dict[Any, int] = {}  # ... and where it began

    async def _started(self) -> Any:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener  # noqa: PLC0415 (Kafka only for workers)

            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.brokers,
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                # a batch is retried for up to 24 h without polling: the group keeps the reader meanwhile
                max_poll_interval_ms=RETRY_FOR_MS,
            )

            class StartWhereAssigned(ConsumerRebalanceListener):  # type: ignore[misc]
                """A partition the group never committed starts at its end, and that start is
                committed at once: a worker that dies before its first batch leaves the next
                reader that start, not the end of a topic that has grown since."""

                async def on_partitions_revoked(self, revoked: Any) -> None:
                    return None

                async def on_partitions_assigned(self, assigned: Any) -> None:
                    fresh = {}
                    for tp in assigned:
                        if await consumer.committed(tp) is None:
                            fresh[tp] = await consumer.position(tp)
                    if fresh:
                        await consumer.commit(fresh)

            consumer.subscribe([self.topic], listener=StartWhereAssigned())
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def next_batch(self, limit: int) -> list[str]:
        consumer = await self._started()
        for tp, first in self._firsts.items():  # a batch not taken (the feed failed): read again
            if tp in consumer.assignment():
                consumer.seek(tp, first)
        found = await consumer.getmany(timeout_ms=500, max_records=limit)
        lines: list[str] = []
        self._offsets, self._firsts = {}, {}
        for tp, records in found.items():
            for record in records:
                if record.value:
                    lines.append(record.value.decode("utf-8", errors="replace"))
            if records:
                self._offsets[tp] = records[-1].offset + 1
                self._firsts[tp] = records[0].offset
        return lines

    async def done(self) -> None:
        if not self._offsets:
            return
        try:
            await self._consumer.commit(self._offsets)
        except Exception as exc:  # a rebalance took the partitions: their new reader posts the batch again
            log.warning("decisions webhook: offsets not committed (%s); the batch may be posted again", exc)
        self._offsets, self._firsts = {}, {}

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
