"""How far the worker has read each input partition, to tell which inputs still have a backlog."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("engagement.worker")


class InputProgress:
    def __init__(self, input_topics: tuple[str, ...]) -> None:
        self.inputs = frozenset(input_topics)
        self.processed: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}  # the group's, read after each rebalance
        self._reported: dict[int, float] = {}

    def report_held(
        self, consumer: Any, partition: int, behind: frozenset[str], next_wakeup: float | None, now: float
    ) -> None:
        """Log (at most every 10 s) when a backlog holds back timers the wall clock has made due."""
        if next_wakeup is None or next_wakeup > now - 5 or now - self._reported.get(partition, 0.0) < 10:
            return
        self._reported[partition] = now
        detail = [
            f"{tp.topic}: processed {self.processed.get((tp.topic, tp.partition))}, "
            f"committed {self.committed.get((tp.topic, tp.partition))}, "
            f"end {consumer.highwater(tp)}"
            for tp in consumer.assignment()
            if tp.partition == partition and tp.topic in behind
        ]
        log.warning("partition %d: timers due %.0f s ago wait for %s", partition, now - next_wakeup, "; ".join(detail))

    def record(self, topic: str, partition: int, offset: int) -> None:
        self.processed[(topic, partition)] = offset

    def lagging(self, consumer: Any, partition: int) -> frozenset[str]:
        """The input topics of a partition not yet processed up to their end (as last fetched).
        Offsets the group committed before this worker took the partition count as processed."""
        behind: list[str] = []
        for tp in consumer.assignment():
            if tp.partition != partition or tp.topic not in self.inputs:
                continue
            end = consumer.highwater(tp)
            key = (tp.topic, tp.partition)
            done = max(self.processed.get(key, -1) + 1, self.committed.get(key, 0))
            if end is None or done < end:
                behind.append(tp.topic)
        return frozenset(behind)
