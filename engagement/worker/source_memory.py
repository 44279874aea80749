"""What the sources remember (`engagement.sources.mapping.SourceMemory`), in Redis, shared by every
worker: a value per key with its time to live, and per customer the set of their keys, which
erasure deletes (`RedisOutbox.forget`)."""

from __future__ import annotations

import math

from engagement.worker.outbox import RedisOutbox


def memory_key(namespace: str, key: str) -> str:
    return f"{namespace}:source:{key}"


def customer_keys(namespace: str, customer_id: str) -> str:
    return f"{namespace}:source-of:{customer_id}"


class RedisMemory:
    def __init__(self, outbox: RedisOutbox) -> None:
        self.outbox = outbox
        self.namespace = outbox.namespace

    async def recall(self, key: str) -> str | None:
        redis = self.outbox.redis
        value = await self.outbox.retrying(lambda: redis.get(memory_key(self.namespace, key)))
        return None if value is None else value.decode() if isinstance(value, bytes) else str(value)

    async def remember(self, key: str, customer_id: str, value: str, ttl_seconds: float) -> None:
        ttl = max(1, math.ceil(ttl_seconds))
        name, owned = memory_key(self.namespace, key), customer_keys(self.namespace, customer_id)

        async def write() -> None:
            async with self.outbox.redis.pipeline(transaction=True) as pipe:
                pipe.set(name, value, ex=ttl)
                pipe.sadd(owned, name)
                pipe.expire(owned, ttl, gt=True)
                pipe.expire(owned, ttl, nx=True)
                await pipe.execute()

        await self.outbox.retrying(write)

    async def drop(self, key: str) -> None:
        redis = self.outbox.redis
        await self.outbox.retrying(lambda: redis.delete(memory_key(self.namespace, key)))
