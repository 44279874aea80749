"""The messaging-tier budget in Redis, shared by every worker: one sorted set of the numbers
messaged in the last 24 h, checked and updated atomically by a Lua script."""

from __future__ import annotations

from typing import Any

from engagement.live.recipient_budget import DAY_SECONDS
from engagement.worker.outbox import RedisOutbox

_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2] - ARGV[4])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return nil
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + ARGV[4])
"""


class RedisRecipientBudget:
    def __init__(self, outbox: RedisOutbox, limit: int) -> None:
        self.outbox, self.limit = outbox, limit
        self.key = outbox.recipients
        self._admit = outbox.redis.register_script(_ADMIT)

    async def admit(self, phone: str, now: float) -> float | None:
        args: list[Any] = [phone, repr(now), self.limit, repr(DAY_SECONDS)]
        free_at = await self.outbox.retrying(lambda: self._admit(keys=[self.key], args=args))
        return None if free_at is None else float(free_at)
