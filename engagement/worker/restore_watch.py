"""Restoring the state table from its changelog after a rebalance: a changelog partition whose
restore stops short of its end is read again.

Faust restores a partition it takes over by reading its changelog up to the end it saw when the
rebalance settled. Messages it fetched but lost on the way (its changelog queue is cleared when
flow resumes, while the consumer's position has already moved past them) never come again: the
restore then waits for ever and the worker never processes that partition. Seeking the partition
back to the last offset restored repairs that; it loses nothing, and a changelog message applied
twice writes the same value twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from engagement.live.metrics import Metrics
from engagement.worker.stall import StallClock

log = logging.getLogger("engagement.worker")

STALL_SECONDS = 10.0
CHECK_EVERY_SECONDS = 1.0
REREADS = "engagement_changelog_rereads_total"


class RestoreWatch:
    def __init__(self, stall_seconds: float = STALL_SECONDS) -> None:
        self._clock = StallClock(stall_seconds)

    def stalled(self, remaining: Mapping[Any, int], restored: Mapping[Any, int], now: float) -> list[tuple[Any, int]]:
        """Changelog partitions with messages left to restore whose last restored offset has not
        moved for `stall_seconds`, each with the offset to read it again from."""
        out: list[tuple[Any, int]] = []
        for tp, left in remaining.items():
            offset = restored.get(tp, -1)
            if left <= 0:
                self._clock.caught_up(tp)
            elif self._clock.stalled(tp, offset, now):
                out.append((tp, max(offset, 0)))
        return out

    def restore_ended(self) -> None:
        self._clock.restart()


async def reread_stalled_restores(app: Any, metrics: Metrics, watch: RestoreWatch, clock: Callable[[], float]) -> None:
    """Runs for the worker's life: while faust restores tables, seek stalled changelog partitions."""
    metrics.describe(REREADS, "counter", "changelog partitions read again because their restore stopped")
    recovery = app.tables.recovery
    while True:
        await asyncio.sleep(CHECK_EVERY_SECONDS)
        if not recovery.in_recovery:
            watch.restore_ended()
            continue
        for tp, offset in watch.stalled(recovery.active_remaining(), recovery.active_offsets, clock()):
            log.warning("%s[%d]: restore stopped short of its end; reading again from offset %d", *tp, offset)
            metrics.inc(REREADS)
            try:
                await app.consumer.seek_wait({tp: offset})
            except Exception as error:  # a rebalance took the partition meanwhile: the next restore reads it
                log.warning("%s[%d]: reading again failed: %r", *tp, error)
