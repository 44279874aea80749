"""How far the worker has read each input partition, to tell which inputs still have a backlog."""

from __future__ import annotations

import logging
from typing import Any

from engagement.worker.stall import StallClock

log = logging.getLogger("engagement.worker")

STALL_SECONDS = 5.0


class InputProgress:
    def __init__(self, input_topics: tuple[str, ...], stall_seconds: float = STALL_SECONDS) -> None:
        self.inputs = frozenset(input_topics)
        self.processed: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}  # the group's, read after each rebalance
        self._reported: dict[int, float] = {}
        self._clock = StallClock(stall_seconds)  # on the first unprocessed offset of each partition
        self.broker_ends: dict[tuple[str, int], int] = {}  # asked of the broker where nothing was fetched yet
        self.ends_asked_at = float("-inf")  # monotonic

    def unfetched(self, consumer: Any) -> list[Any]:
        """Assigned input partitions whose end the consumer does not know: nothing fetched from them
        yet (a fetcher that never starts on them would look caught up for ever)."""
        return [tp for tp in consumer.assignment() if tp.topic in self.inputs and consumer.highwater(tp) is None]

    def learn_ends(self, ends: Any) -> None:
        """The broker's end offsets of partitions the consumer fetched nothing from (`unfetched`)."""
        self.broker_ends = {(tp.topic, tp.partition): int(end) for tp, end in dict(ends).items() if end is not None}

    def stalled(self, consumer: Any, now: float) -> list[tuple[Any, int]]:
        """Input partitions with unread messages that have not moved on for `stall_seconds`, and the
        offset to read them from again. Faust drops messages it fetched while a rebalance was
        settling (`clear_on_resume`) and re-reads from the committed offset only at the next
        rebalance; a partition the group never committed would wait for ever. Reading again from
        the first unprocessed offset loses nothing and repeats nothing."""
        out: list[tuple[Any, int]] = []
        for tp in consumer.assignment():
            if tp.topic not in self.inputs:
                continue
            key = (tp.topic, tp.partition)
            end = consumer.highwater(tp)
            if end is None:  # nothing fetched in this assignment: the group's committed offset is where it starts
                end, done = self.broker_ends.get(key), self.committed.get(key, 0)
            else:
                done = max(self.processed.get(key, -1) + 1, self.committed.get(key, 0))
            if end is None or done >= end:
                self._clock.caught_up(key)
            elif self._clock.stalled(key, done, now):
                out.append((tp, done))
        return out

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

    def rebalanced(self, committed: dict[tuple[str, int], int]) -> None:
        """After a rebalance: the group's committed offsets, and stall clocks started afresh."""
        self.committed = committed
        self._clock.restart()

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
