"""Heavy reads (reports, the backtest archive, customer timelines) off the event loop and bounded:
at most a few run at once, a few more wait, and beyond that a request is answered 429 at once,
so that ten reports asked together neither stall ingest and webhooks nor fill the memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

RUNNING = 2  # the machine's cores: a heavy read is CPU-bound once its rows are read
WAITING = 8
RETRY_AFTER_SECONDS = 5


class ReadsBusy(RuntimeError):
    """Too many heavy reads asked at once; the HTTP API answers 429 with Retry-After."""


class HeavyReads:
    def __init__(self, running: int = RUNNING, waiting: int = WAITING, what: str = "reports and archive reads") -> None:
        self._slots, self._what = asyncio.Semaphore(running), what
        self._waiting, self._most = 0, running + waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the running slots for the read (waiting for one, unless too many already wait)."""
        if self._waiting >= self._most:
            raise ReadsBusy(f"{self._waiting} {self._what} are running or waiting; try again shortly")
        self._waiting += 1
        try:
            async with self._slots:
                yield
        finally:
            self._waiting -= 1
