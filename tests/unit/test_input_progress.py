"""The worker's view of its input partitions: which still have unread messages, and which have
stopped moving (their messages are then read again from the first unprocessed offset)."""

from __future__ import annotations

from typing import NamedTuple

from engagement.worker.progress import InputProgress


class TP(NamedTuple):
    topic: str
    partition: int


class Consumer:
    def __init__(self, ends: dict[TP, int | None]) -> None:
        self.ends = ends

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]


def test_a_partition_with_messages_that_never_arrive_is_read_again_from_the_first_unprocessed() -> None:
    orders, cart, ticks = TP("orders", 3), TP("cart", 3), TP("ticks", 3)
    consumer = Consumer({orders: 3, cart: 2, ticks: 9})
    progress = InputProgress(("orders", "cart"), stall_seconds=5.0)
    progress.rebalanced({("cart", 3): 2})  # the group committed all of cart[3]
    assert progress.lagging(consumer, 3) == frozenset({"orders"})
    assert progress.stalled(consumer, 100.0) == []  # the stall clock starts
    assert progress.stalled(consumer, 104.0) == []
    assert progress.stalled(consumer, 105.0) == [(orders, 0)]  # never committed: from the start
    assert progress.stalled(consumer, 106.0) == []  # and not again at once


def test_a_partition_that_moves_on_is_not_stalled() -> None:
    orders = TP("orders", 0)
    consumer = Consumer({orders: 10})
    progress = InputProgress(("orders",), stall_seconds=5.0)
    progress.rebalanced({})
    progress.record("orders", 0, 4)
    assert progress.stalled(consumer, 0.0) == []
    consumer.ends[orders] = 5  # caught up
    assert progress.stalled(consumer, 10.0) == []
    assert progress.lagging(consumer, 0) == frozenset()
    consumer.ends[orders] = 8  # new messages: the clock starts when they are first seen unread
    assert progress.stalled(consumer, 11.0) == []
    assert progress.stalled(consumer, 16.5) == [(orders, 5)]


def test_a_partition_nothing_was_fetched_from_is_read_again_once_the_broker_tells_its_end() -> None:
    """A fetcher that never starts on a partition leaves its end unknown: the broker's end, asked
    for, shows its messages unread, and after the stall time it is read again from the group's
    committed offset (what this worker processed in an earlier assignment does not count)."""
    orders, cart = TP("orders", 1), TP("cart", 1)
    consumer = Consumer({orders: None, cart: None})
    progress = InputProgress(("orders", "cart"), stall_seconds=5.0)
    progress.record("orders", 1, 40)  # processed in an earlier assignment, maybe never committed
    progress.rebalanced({("orders", 1): 30})  # the group committed orders[1] up to 30; cart[1] never
    assert sorted(progress.unfetched(consumer)) == [cart, orders]
    assert progress.stalled(consumer, 0.0) == []  # their ends unknown: they look caught up
    assert progress.stalled(consumer, 10.0) == []
    progress.learn_ends({orders: 45, cart: 7})
    assert progress.stalled(consumer, 11.0) == []  # the stall clocks start
    assert sorted(progress.stalled(consumer, 16.0)) == [(cart, 0), (orders, 30)]
    consumer.ends[orders] = 45  # fetched at last: the consumer's own end counts from now on
    assert progress.unfetched(consumer) == [cart]
