"""The send-rate limit shared by every worker of an app id: GCRA in one Lua script on Redis's clock."""

from __future__ import annotations

import asyncio
from typing import Any

from engagement.worker.outbox import RedisOutbox

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat - tolerance
if allowed_at > now then return tostring(allowed_at - now) end
local ttl = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', ttl)
return '0'
"""


_HOLD = """
local t = redis.call('TIME')
local hold_until = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold_until > tat then
  redis.call('SET', KEYS[1], tostring(hold_until), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


class RedisGcra:
    def __init__(self, outbox: RedisOutbox, rate: float, burst: int = 1, name: str = "whatsapp") -> None:
        self.outbox = outbox
        self.key = f"{outbox.namespace}:rate:{name}"
        self.interval = 1.0 / rate
        self.tolerance = self.interval * max(burst - 1, 0)
        self._script = outbox.redis.register_script(_GCRA)
        self._hold = outbox.redis.register_script(_HOLD)

    async def wait_for(self) -> float:
        args: list[str | float] = [repr(self.interval), repr(self.tolerance)]
        answer: Any = await self.outbox.retrying(lambda: self._script(keys=[self.key], args=args))
        return float(answer)

    async def acquire(self) -> None:
        while (wait := await self.wait_for()) > 0:
            await asyncio.sleep(wait)

    async def hold(self, seconds: float) -> None:
        """Every worker's next send waits `seconds`: the theoretical arrival time moves forward."""
        await self.outbox.retrying(lambda: self._hold(keys=[self.key], args=[repr(seconds)]))
