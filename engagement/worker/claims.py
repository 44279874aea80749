"""Send claims in Redis: a key is claimed (SET NX with a lease) before the provider is called and
marked sent after, so a reprocessed decision never reaches the provider twice."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("engagement.claims")

PREFIX = "engagement:send:"
DONE_TTL_SECONDS = 30 * 86_400


class RedisClaims:
    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def claim(self, key: str) -> bool:
        """True once per key, ever (within the retention); waits while Redis is unreachable."""
        return await self._retrying(self._claim, key)

    async def settle(self, key: str, status: str) -> None:
        await self._retrying(self._settle, key, status)

    async def close(self) -> None:
        await self.redis.aclose()

    async def _claim(self, key: str) -> bool:
        return bool(await self.redis.set(PREFIX + key, "claimed", nx=True, ex=DONE_TTL_SECONDS))

    async def _settle(self, key: str, status: str) -> bool:
        await self.redis.set(PREFIX + key, status, ex=DONE_TTL_SECONDS)
        return True

    async def _retrying(self, call: object, *args: str) -> bool:
        delay = 0.2
        while True:
            try:
                return await call(*args)  # type: ignore[operator,no-any-return]
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis unreachable (%s); sends wait %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
