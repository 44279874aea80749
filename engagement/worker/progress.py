"""How far the worker has read each input partition, to tell which inputs still have a backlog."""

from __future__ import annotations

from typing import Any


class InputProgress:
    def __init__(self, input_topics: tuple[str, ...]) -> None:
        self.inputs = frozenset(input_topics)
        self.processed: dict[tuple[str, int], int] = {}

    def record(self, topic: str, partition: int, offset: int) -> None:
        self.processed[(topic, partition)] = offset

    def lagging(self, consumer: Any, partition: int) -> frozenset[str]:
        """The input topics of a partition not yet processed up to their end (as last fetched).
        Offsets committed by an earlier run count as processed."""
        committed = getattr(consumer, "_committed_offset", {})
        behind: list[str] = []
        for tp in consumer.assignment():
            if tp.partition != partition or tp.topic not in self.inputs:
                continue
            end = consumer.highwater(tp)
            done = max(self.processed.get((tp.topic, tp.partition), -1) + 1, committed.get(tp) or 0)
            if end is None or done < end:
                behind.append(tp.topic)
        return frozenset(behind)
