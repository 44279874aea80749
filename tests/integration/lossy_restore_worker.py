"""`engagement worker` with faust's changelog queue losing what it is given during the first
seconds of each changelog partition's first read: what faust does when it clears the queue on a
flow resume after the consumer has moved past those messages. The restore of a partition the
worker takes over then stalls, as it can on a loaded machine, every time instead of rarely.

Run as `python -m tests.integration.lossy_restore_worker worker` (the arguments of `engagement`)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from faust.tables.manager import TableManager

from engagement.cli import main

LOSS_SECONDS = 3.0
log = logging.getLogger("engagement.worker")
_queue = TableManager.changelog_queue


class LossyQueue:
    """Wraps the two ways faust's conductor puts into the changelog queue."""

    def __init__(self, queue: Any) -> None:
        self.first_seen: dict[Any, float] = {}
        self.put, self.put_nowait_enhanced = queue.put, queue.put_nowait_enhanced
        queue.put, queue.put_nowait_enhanced, queue.lossy = self.lossy_put, self.lossy_put_nowait, True

    def lost(self, event: Any) -> bool:
        tp, now = event.message.tp, time.monotonic()
        if now - self.first_seen.setdefault(tp, now) < LOSS_SECONDS:
            log.warning("lossy restore: %s[%d] offset %d lost", *tp, event.message.offset)
            return True
        return False

    async def lossy_put(self, value: Any) -> None:
        if not self.lost(value):
            await self.put(value)

    def lossy_put_nowait(self, value: Any, **kwargs: Any) -> bool:
        return False if self.lost(value) else bool(self.put_nowait_enhanced(value, **kwargs))


def changelog_queue(manager: TableManager) -> Any:
    queue = _queue.fget(manager)  # type: ignore[attr-defined]
    if not getattr(queue, "lossy", False):
        LossyQueue(queue)
    return queue


TableManager.changelog_queue = property(changelog_queue)  # type: ignore[assignment,method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
