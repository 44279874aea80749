"""The send-rate limit shared by every worker of an app id: GCRA in one Lua script on Redis's clock,
with the adaptive rate of `live/rate_limit.py` (cut on throttling, recovering linearly) kept in
Redis too, so a throttle seen by one worker slows them all. Priorities (security, utility,
marketing) order the waiters within each worker."""

from __future__ import annotations

from typing import Any

from engagement.live.rate_limit import (
    DECREASE,
    DECREASE_GAP,
    MARKETING,
    AdaptiveRate,
    Priorities,
)
from engagement.worker.outbox import RedisOutbox

# The current rate from the last cut (KEYS[2]: rate, at) and the recovery since.
_RATE = """
local function current_rate(now, key, max_rate, recover)
  local cut = redis.call('HMGET', key, 'rate', 'at')
  if not cut[1] then return max_rate end
  return math.min(max_rate, tonumber(cut[1]) + recover * (now - tonumber(cut[2])))
end
"""

_GCRA = (
    _RATE
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = 1 / current_rate(now, KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
local tolerance = interval * tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat - tolerance
if allowed_at > now then return tostring(allowed_at - now) end
local ttl = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', ttl)
return '0'
"""
)

_SLOW_DOWN = (
    _RATE
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local last = tonumber(redis.call('HGET', KEYS[2], 'at') or '0')
if now - last < tonumber(ARGV[5]) then return 0 end
local rate = current_rate(now, KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
local cut = math.max(tonumber(ARGV[3]), rate * tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], 'rate', tostring(cut), 'at', tostring(now))
redis.call('EXPIRE', KEYS[2], 3600)
return 1
"""
)

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
        self.cut_key = f"{outbox.namespace}:rate:{name}:cut"
        self.rate = AdaptiveRate(rate)
        self.burst = max(burst, 1)
        self._script = outbox.redis.register_script(_GCRA)
        self._slow_down = outbox.redis.register_script(_SLOW_DOWN)
        self._hold = outbox.redis.register_script(_HOLD)
        self.priorities = Priorities()

    async def wait_for(self) -> float:
        args: list[str | float] = [repr(self.rate.max_rate), repr(self.rate.recover_per_second), self.burst - 1]
        keys = [self.key, self.cut_key]
        answer: Any = await self.outbox.retrying(lambda: self._script(keys=keys, args=args))
        return float(answer)

    async def acquire(self, priority: int = MARKETING) -> None:
        await self.priorities.acquire(priority, self.wait_for, 1.0 / self.rate.max_rate)

    async def slow_down(self) -> None:
        """Every worker's rate is cut (once per `DECREASE_GAP`, whoever saw the throttle)."""
        rate = self.rate
        args: list[str | float] = [
            repr(rate.max_rate),
            repr(rate.recover_per_second),
            repr(rate.floor),
            repr(DECREASE),
            repr(DECREASE_GAP),
        ]
        keys = [self.key, self.cut_key]
        await self.outbox.retrying(lambda: self._slow_down(keys=keys, args=args))

    async def hold(self, seconds: float) -> None:
        """Every worker's next send waits `seconds`: the theoretical arrival time moves forward."""
        await self.outbox.retrying(lambda: self._hold(keys=[self.key], args=[repr(seconds)]))
