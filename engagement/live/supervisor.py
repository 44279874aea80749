"""One supervisor for the background tasks of `run` and the workers (timers, sender, configuration
watcher, retention, report retries): nothing fails silently.

A task that raises is logged with its traceback, counted in
`engagement_task_failures_total{task}` and started again after a backoff that doubles up to a
ceiling. A task that has failed `unhealthy_after` times in a row turns `/healthz` to 503 with
its name and last error, until it has run for `healthy_after` seconds without failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engagement.live.metrics import Metrics

log = logging.getLogger("engagement.supervisor")

FAILURES = "engagement_task_failures_total"


@dataclass
class _Record:
    failures: int = 0  # in a row
    last_error: str = ""
    started: float = 0.0


class Supervisor:
    def __init__(
        self,
        metrics: Metrics,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        unhealthy_after: int = 3,
        healthy_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics, self.backoff, self.backoff_max = metrics, backoff, backoff_max
        self.unhealthy_after, self.healthy_after, self.clock = unhealthy_after, healthy_after, clock
        self._records: dict[str, _Record] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        metrics.describe(FAILURES, "counter", "background task failures, by task (each is restarted)")

    def start(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run `body` as a supervised task until `stop`."""
        task = asyncio.create_task(self.run(name, body), name=name)
        self._tasks.append(task)
        return task

    async def run(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run `body` again and again: after a failure (with backoff), or when it returns."""
        record = self._records.setdefault(name, _Record())
        while not self._stopped:
            record.started = self.clock()
            try:
                await body()
                if self._stopped:
                    return
                log.warning("task %s ended; starting it again", name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(name, record, exc)
                await asyncio.sleep(self._delay(record))
                continue
            await asyncio.sleep(self.backoff)

    async def once(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """One round of a task that something else repeats (a faust timer): failures are logged,
        counted and reported to health the same way, and never propagate."""
        record = self._records.setdefault(name, _Record())
        record.started = self.clock()
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(name, record, exc)
            return
        record.failures = 0  # a round that went through ends the row

    async def until_done(self, name: str, body: Callable[[], Awaitable[None]], undo: Callable[[], None]) -> None:
        """A piece of work that must not be skipped (a batch of the worker's agent, whose messages
        are acknowledged when this returns): after a failure, `undo` and try `body` again, with
        backoff, until it goes through. Failures are logged, counted and reported to health as a
        task's are; a cancellation undoes and propagates."""
        record = self._records.setdefault(name, _Record())
        while True:
            record.started = self.clock()
            try:
                await body()
            except asyncio.CancelledError:
                undo()
                raise
            except Exception as exc:
                undo()
                self._failed(name, record, exc, again="trying it again")
                await asyncio.sleep(self._delay(record))
                continue
            record.failures = 0
            return

    def health(self) -> str | None:
        """None while every task is healthy, else why not."""
        now = self.clock()
        failing = []
        for name, record in sorted(self._records.items()):
            if record.failures and now - record.started >= self.healthy_after:
                record.failures = 0  # it has run long enough since its last failure
            if record.failures >= self.unhealthy_after:
                failing.append(f"task {name} failed {record.failures} times in a row: {record.last_error}")
        return "; ".join(failing) or None

    async def stop(self) -> None:
        """Stop every task. A cancellation can be lost inside `asyncio.wait_for` on Python 3.11, so
        a task is cancelled again until it has ended (and no task is started again meanwhile)."""
        self._stopped = True
        for task in self._tasks:
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks.clear()

    def _delay(self, record: _Record) -> float:
        """The backoff after a failure: doubling with each failure in a row, up to the ceiling."""
        return min(self.backoff * 2.0 ** (record.failures - 1), self.backoff_max)

    def _failed(self, name: str, record: _Record, exc: Exception, again: str = "starting it again") -> None:
        if record.failures and self.clock() - record.started >= self.healthy_after:
            record.failures = 0  # it ran long enough since the last failure: a new row starts
        record.failures += 1
        record.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self.metrics.inc(FAILURES, task=name)
        log.error("task %s failed (%d in a row); %s", name, record.failures, again, exc_info=exc)
