"""Restoring the state table after a rebalance: a changelog partition whose restore stops short of
its end is read again from its last restored offset, and one that moves on or is done is left."""

from __future__ import annotations

from engagement.worker.restore_watch import RestoreWatch


def test_a_restore_that_stops_short_of_its_end_is_read_again_from_the_last_restored_offset() -> None:
    watch = RestoreWatch(stall_seconds=10.0)
    remaining, restored = {"p2": 6, "p3": 0}, {"p2": 3, "p3": 8}
    assert watch.stalled(remaining, restored, 100.0) == []  # the stall clock starts
    assert watch.stalled(remaining, restored, 109.0) == []
    assert watch.stalled(remaining, restored, 110.0) == [("p2", 3)]  # p3 is done
    assert watch.stalled(remaining, restored, 111.0) == []  # and not again at once
    assert watch.stalled(remaining, restored, 120.0) == [("p2", 3)]  # still stuck: once more


def test_a_partition_never_restored_is_read_from_the_start() -> None:
    watch = RestoreWatch(stall_seconds=10.0)
    assert watch.stalled({"p0": 4}, {"p0": -1}, 0.0) == []
    assert watch.stalled({"p0": 4}, {"p0": -1}, 10.0) == [("p0", 0)]


def test_a_restore_that_moves_on_is_not_stalled() -> None:
    watch = RestoreWatch(stall_seconds=10.0)
    assert watch.stalled({"p1": 9}, {"p1": 0}, 0.0) == []
    assert watch.stalled({"p1": 5}, {"p1": 4}, 8.0) == []  # moved: the clock starts again
    assert watch.stalled({"p1": 5}, {"p1": 4}, 17.0) == []
    assert watch.stalled({"p1": 5}, {"p1": 4}, 18.0) == [("p1", 4)]


def test_each_restore_starts_its_clocks_afresh() -> None:
    watch = RestoreWatch(stall_seconds=10.0)
    assert watch.stalled({"p1": 2}, {"p1": 7}, 0.0) == []
    watch.restore_ended()
    assert watch.stalled({"p1": 2}, {"p1": 7}, 10.0) == []  # a new restore: not stalled yet
    assert watch.stalled({"p1": 2}, {"p1": 7}, 20.0) == [("p1", 7)]
