"""An erasure reaches every worker's kept backtests. The worker that erases a customer writes a new
random mark in Redis (`RedisOutbox.forget`); every worker looks at the mark every few seconds and,
when it differs from the one it saw last (changed, gone, or the first look since the worker
started), deletes its console's kept backtest live sides (`engagement.console.backtests.forget_kept`:
each may hold the erased customer's data), and a backtest it is running keeps none. A mark, not a
count: a Redis that lost its data and counted again could come back to the number last seen.
A console looks once more right before it starts a backtest (`up_to_date`), so that no backtest
starts from a live side kept from before an erasure elsewhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from engagement.console.backtests import forget_kept, kept_left

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
LOOK_SECONDS = 2.0  # a look before a backtest waits no longer for Redis
_NOT_YET = object()  # no look yet: the first one deletes whatever is kept


class ErasureWatch:
    def __init__(
        self, mark: Callable[[], Awaitable[bytes | None]], state_dir: Path, poll: float = POLL_SECONDS
    ) -> None:
        self.mark, self.state_dir, self.poll = mark, state_dir, poll
        self.seen: object = _NOT_YET  # the mark of the last look whose deletion left nothing kept

    async def check(self) -> int:
        """One look at the mark: the kept live sides deleted unless it is the one seen last; how
        many were deleted. A deletion that left something is tried again at the next look."""
        mark = await self.mark()
        if mark == self.seen:
            return 0
        removed = await asyncio.to_thread(forget_kept, self.state_dir)
        if removed:
            log.info("a customer was erased: %d kept backtest live sides deleted", removed)
        if not await asyncio.to_thread(kept_left, self.state_dir):
            self.seen = mark
        return removed

    async def up_to_date(self, timeout: float = LOOK_SECONDS) -> None:
        """One look now. When the mark cannot be read in time (or Redis answers with an error), the
        kept live sides go all the same: an erasure may have been made that this worker cannot see."""
        try:
            await asyncio.wait_for(self.check(), timeout)
        except Exception as exc:  # any failure to read the mark: as if an erasure was made
            log.warning(
                "the erasure mark could not be read (%s): the kept backtest live sides are deleted", type(exc).__name__
            )
            await asyncio.to_thread(forget_kept, self.state_dir)

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.poll)
