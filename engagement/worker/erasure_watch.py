"""An erasure reaches every worker's kept backtests. The worker that erases a customer counts it
in Redis (`RedisOutbox.forget`); every worker looks at the count every few seconds and, when it
moved, deletes its console's kept backtest live sides (`engagement.console.backtests.forget_kept`:
each may hold the erased customer's data), and a backtest it is running keeps none."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from engagement.console.backtests import forget_kept

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0


class ErasureWatch:
    def __init__(self, count: Callable[[], Awaitable[int]], state_dir: Path, poll: float = POLL_SECONDS) -> None:
        self.count, self.state_dir, self.poll = count, state_dir, poll
        self.seen: int | None = None  # the count at the last look

    async def check(self) -> int:
        """One look at the count: the kept live sides deleted if it moved since the last look; how
        many were deleted."""
        count = await self.count()
        moved = self.seen is not None and count != self.seen
        self.seen = count
        if not moved:
            return 0
        removed = await asyncio.to_thread(forget_kept, self.state_dir)
        log.info("a customer was erased: %d kept backtest live sides deleted", removed)
        return removed

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.poll)
