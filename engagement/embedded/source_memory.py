"""What the sources remember (`engagement.sources.mapping.SourceMemory`), kept in the embedded store
beside the customers' state: it survives restarts, and erasing a customer erases it."""

from __future__ import annotations

import time
from collections.abc import Callable

from engagement.embedded.store import EmbeddedStore


class StoreMemory:
    def __init__(self, store: EmbeddedStore, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock

    async def recall(self, key: str) -> str | None:
        return self.store.recall(key, self.clock())

    async def remember(self, key: str, customer_id: str, value: str, ttl_seconds: float) -> None:
        self.store.remember(key, customer_id, value, self.clock() + ttl_seconds)

    async def drop(self, key: str) -> None:
        self.store.drop_memory(key)
