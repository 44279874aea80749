"""The workers' send outbox in Redis, shared by every worker of an app id.

A `send` decision is claimed and queued in one atomic step (a Lua script): the key's claim is set
with NX, so a decision that is reprocessed after a crash or a rebalance is never queued twice.
Queued sends sit in a sorted set scored by the time they may go out (pacing, retries), and a
sender takes due ones atomically under a lease (`leased`), so two workers never take the same
send. Each send is marked `sending` only right before its own provider call. A worker that dies
therefore loses only the calls it had in flight: those become `unknown` when their lease ends
and are never sent again (one message at most, as in `run`; a status webhook may settle them),
while the sends it had taken but not yet called go back to the queue for another sender.

Keys, under the namespace `<app_id>:`: `send:<key>` (the claim's status, kept 30 days), `sent-to:<key>`
(the customer the send was decided for, as long), `outbox`
(the sorted set), `outbox:payload` (a hash of the queued messages) and `outbox:leased` (taken
sends by the end of their lease).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engagement.live.phone_owners import customer_of_holder, line_holder
from engagement.providers.base import OutboundMessage

log = logging.getLogger("engagement.outbox")

CLAIM_TTL_SECONDS = 30 * 86_400
LEASE_SECONDS = 30.0  # how long taken sends wait for their call before another sender may take them
T = TypeVar("T")

_ENQUEUE = """
if redis.call('SET', KEYS[1], 'queued', 'NX', 'EX', ARGV[4]) then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  redis.call('SET', KEYS[4], ARGV[5], 'EX', ARGV[4])
  return 1
end
return 0
"""

_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local taken = {}
for _, key in ipairs(due) do
  redis.call('ZREM', KEYS[1], key)
  local payload = redis.call('HGET', KEYS[2], key)
  if payload then
    redis.call('SET', ARGV[3] .. key, 'leased', 'EX', ARGV[4])
    redis.call('ZADD', KEYS[3], ARGV[5], key)
    table.insert(taken, key)
    table.insert(taken, payload)
  end
end
return taken
"""

_MARK_SENDING = """
if redis.call('GET', KEYS[1]) ~= 'leased' then return 0 end
redis.call('SET', KEYS[1], 'sending', 'EX', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[4], ARGV[3], ARGV[5]) else redis.call('HDEL', KEYS[4], ARGV[3]) end
return 1
"""

_WAIT = """
if redis.call('GET', KEYS[1]) ~= 'sending' then
  -- a delivery report named the call while it was under way: the send is settled
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('HDEL', KEYS[5], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], 'waiting', 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
return 1
"""

_DELIVERED = """
local status = redis.call('GET', KEYS[1])
if not status or status == 'erased' then return 0 end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current then
  if status == 'queued' then return 0 end  -- never called: not a report of ours
  current = 'whatsapp'
end
local known = redis.call('HGET', KEYS[3], ARGV[1]) or ''
if string.find(',' .. known .. ',', ',' .. ARGV[2] .. ',', 1, true) then return 0 end
if known == '' then known = ARGV[2] else known = known .. ',' .. ARGV[2] end
redis.call('HSET', KEYS[3], ARGV[1], known)
if current == ARGV[2] and (status == 'waiting' or status == 'leased' or status == 'sent' or status == 'unknown'
    or status == 'sending') then
  redis.call('SET', KEYS[1], 'delivered', 'EX', ARGV[3])
  if status == 'waiting' or status == 'leased' then
    redis.call('ZREM', KEYS[4], ARGV[1])
    redis.call('HDEL', KEYS[5], ARGV[1])
    redis.call('ZREM', KEYS[6], ARGV[1])
  end
  if string.find(known, ',', 1, true) then return 2 end
  return 1
end
if string.find(known, ',', 1, true) then return 2 end
return 1
"""

_REFUSED_ON = """
if redis.call('GET', KEYS[1]) ~= 'waiting' then return 0 end
if (redis.call('HGET', KEYS[2], ARGV[1]) or 'whatsapp') ~= ARGV[2] then return 0 end
local due = redis.call('ZSCORE', KEYS[3], ARGV[1])
if due and tonumber(due) > tonumber(ARGV[3]) then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return 1
"""

_REAP = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
local back, unknown = 0, 0
for _, key in ipairs(expired) do
  redis.call('ZREM', KEYS[1], key)
  local status = redis.call('GET', ARGV[2] .. key)
  if status == 'leased' then
    redis.call('SET', ARGV[2] .. key, 'queued', 'EX', ARGV[3])
    redis.call('ZADD', KEYS[2], ARGV[1], key)
    back = back + 1
  elseif status == 'sending' and string.sub(key, 1, 8) == 'handoff-' then
    redis.call('SET', ARGV[2] .. key, 'queued', 'EX', ARGV[3])
    redis.call('ZADD', KEYS[2], ARGV[1], key)
    back = back + 1
  elseif status == 'sending' then
    local plan = redis.call('HGET', KEYS[4], key)
    if plan then
      -- a call cut short with a next channel: that channel once no status named the call in time
      local gap = string.find(plan, ' ', 1, true)
      local due = tonumber(string.sub(plan, 1, gap - 1))
      if due < tonumber(ARGV[1]) then due = tonumber(ARGV[1]) end
      redis.call('SET', ARGV[2] .. key, 'waiting', 'EX', ARGV[3])
      redis.call('HSET', KEYS[3], key, string.sub(plan, gap + 1))
      redis.call('ZADD', KEYS[2], due, key)
      redis.call('HDEL', KEYS[4], key)
      back = back + 1
    else
      redis.call('SET', ARGV[2] .. key, 'unknown', 'EX', ARGV[3])
      redis.call('HDEL', KEYS[3], key)
    end
    unknown = unknown + 1
  end
end
return {back, unknown}
"""

_SETTLE = """
if redis.call('GET', KEYS[1]) ~= 'delivered' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[4], ARGV[3])
return 1
"""

_RECONCILE = """
local current = redis.call('GET', KEYS[1])
if current ~= 'unknown' and current ~= 'sending' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
"""

_REQUEUE = """
redis.call('SET', KEYS[1], 'queued', 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
return 1
"""


_LOOKUP_PHONES = """
local owners = {}
local numbers = {}
local count = tonumber(ARGV[1])
for i = 2, count + 1 do table.insert(owners, redis.call('HGET', KEYS[1], ARGV[i]) or '') end
for i = count + 2, #ARGV do table.insert(numbers, redis.call('HGET', KEYS[2], ARGV[i]) or '') end
return {owners, numbers}
"""

_FOLLOW_NUMBERS = """
local moving = {}
for i = 1, #ARGV, 2 do moving[ARGV[i]] = ARGV[i + 1] end
for i = 1, #ARGV, 2 do
  local customer, phone = ARGV[i], ARGV[i + 1]
  if phone ~= '' then
    local owner = redis.call('HGET', KEYS[1], phone)
    -- held by another customer, unless this batch moves that customer to another number
    if owner and owner ~= customer and (moving[owner] == nil or moving[owner] == phone) then return customer end
  end
end
for i = 1, #ARGV, 2 do
  local customer, phone = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', KEYS[2], customer)
  if old and old ~= phone and redis.call('HGET', KEYS[1], old) == customer then
    redis.call('HDEL', KEYS[1], old)
  end
  if phone == '' then
    redis.call('HDEL', KEYS[2], customer)
  else
    redis.call('HSET', KEYS[1], phone, customer)
    redis.call('HSET', KEYS[2], customer, phone)
  end
end
return false
"""

_FORGET_PHONES = """
local erased = 0
local phones = {}
for h = 1, 2 do
  local held = redis.call('HGET', KEYS[2], ARGV[h])
  if held then table.insert(phones, held) end
end
for i = 3, #ARGV do table.insert(phones, ARGV[i]) end
for _, phone in ipairs(phones) do
  local owner = redis.call('HGET', KEYS[1], phone)
  if owner == ARGV[1] or owner == ARGV[2] then
    erased = erased + redis.call('HDEL', KEYS[1], phone)
  end
  redis.call('ZREM', KEYS[3], phone)
end
redis.call('HDEL', KEYS[2], ARGV[1], ARGV[2])
return erased
"""


@dataclass(frozen=True, slots=True)
class QueuedSend:
    message: OutboundMessage
    deadline: float
    attempts: int = 0
    due_at: float | None = None  # when the send was decided, for the send delay metric

    def encode(self) -> str:
        return json.dumps(
            {
                "message": self.message.to_dict(),
                "deadline": self.deadline,
                "attempts": self.attempts,
                "due_at": self.due_at,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> QueuedSend:
        data = json.loads(raw)
        due_at = data.get("due_at")
        return cls(
            OutboundMessage.from_dict(data["message"]),
            float(data["deadline"]),
            int(data["attempts"]),
            None if due_at is None else float(due_at),
        )


class RedisOutbox:
    def __init__(self, url: str, namespace: str) -> None:
        self.redis: Redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.namespace = namespace
        self._queue = f"{namespace}:outbox"
        self._payloads = f"{namespace}:outbox:payload"
        self._leased = f"{namespace}:outbox:leased"  # taken by a sender, by when its lease ends
        self._channels = f"{namespace}:outbox:channel"  # the channel of each send's latest call
        self._plans = f"{namespace}:outbox:plan"  # "<due> <payload>": a call's next channel, should it die
        self._delivered = f"{namespace}:outbox:delivered"  # the channels that reported each send delivered
        self._wait = self.redis.register_script(_WAIT)
        self._delivered_script = self.redis.register_script(_DELIVERED)
        self._refused_on = self.redis.register_script(_REFUSED_ON)
        self._enqueue = self.redis.register_script(_ENQUEUE)
        self._take_due = self.redis.register_script(_TAKE_DUE)
        self._settle = self.redis.register_script(_SETTLE)
        self._requeue = self.redis.register_script(_REQUEUE)
        self._reconcile = self.redis.register_script(_RECONCILE)
        self._mark_sending = self.redis.register_script(_MARK_SENDING)
        self._reap = self.redis.register_script(_REAP)
        self._lookup_phones = self.redis.register_script(_LOOKUP_PHONES)
        self._follow_numbers = self.redis.register_script(_FOLLOW_NUMBERS)
        self._forget_phones = self.redis.register_script(_FORGET_PHONES)
        self._phones = f"{namespace}:phones"  # phone -> customer
        self._owners = f"{namespace}:phone-owners"  # customer -> phone
        self.recipients = f"{namespace}:recipients-24h"  # the messaging tier's numbers of the last 24 h
        self.erasures = f"{namespace}:erasures"  # a new random mark at each erasure (`worker.erasure_watch`)
        self.queued = asyncio.Event()

    def claim_key(self, key: str) -> str:
        return f"{self.namespace}:send:{key}"

    def _sent_to(self, key: str) -> str:
        return f"{self.namespace}:sent-to:{key}"

    def _message(self, message_id: str) -> str:
        return f"{self.namespace}:message:{message_id}"

    async def remember_message(self, message_id: str, key: str) -> None:
        """The provider's id of a send, for the replies that name it (kept as long as a claim)."""
        await self.retrying(lambda: self.redis.set(self._message(message_id), key, ex=CLAIM_TTL_SECONDS))

    async def send_of_message(self, message_id: str) -> str | None:
        value: Any = await self.retrying(lambda: self.redis.get(self._message(message_id[:256])))
        return None if value is None else bytes(value).decode()

    async def customer_of_send(self, key: str) -> str | None:
        """The customer a send was decided for (kept as long as its claim), whoever holds its number now."""
        value: Any = await self.retrying(lambda: self.redis.get(self._sent_to(key)))
        return None if value is None else bytes(value).decode()

    async def enqueue(self, send: QueuedSend, at: float) -> bool:
        """Claim and queue a send; False when its key was claimed before (then nothing changes).
        Waits while Redis is unreachable: sends pause, none is lost or doubled."""
        key = send.message.key
        keys = [self.claim_key(key), self._queue, self._payloads, self._sent_to(key)]
        args: list[str | int] = [repr(at), key, send.encode(), CLAIM_TTL_SECONDS, send.message.customer_id]
        added = bool(await self.retrying(lambda: self._enqueue(keys=keys, args=args)))
        if added:
            self.queued.set()
        return added

    async def take_due(self, now: float, limit: int) -> list[QueuedSend]:
        """Due sends, each leased to this caller only for `LEASE_SECONDS`. A lease is not yet a
        call: `mark_sending` comes right before each provider call, so a worker that dies holding
        leases loses none of them (`reap` puts them back in the queue when the lease ends)."""
        prefix = f"{self.namespace}:send:"
        keys = [self._queue, self._payloads, self._leased]
        args: list[str | int] = [repr(now), limit, prefix, CLAIM_TTL_SECONDS, repr(now + LEASE_SECONDS)]
        flat: list[Any] = await self.retrying(lambda: self._take_due(keys=keys, args=args))
        return [QueuedSend.decode(flat[i + 1]) for i in range(0, len(flat), 2)]

    async def mark_sending(
        self,
        key: str,
        now: float,
        timeout: float,
        channel: str = "whatsapp",
        plan: tuple[QueuedSend, float] | None = None,
    ) -> bool:
        """Just before the provider call on `channel`: False when the lease was lost (the send went
        back to the queue, for a sender that will make the call instead). `plan`: the send on its
        next channel and when, should this worker die during the call."""
        keys = [self.claim_key(key), self._leased, self._channels, self._plans]
        planned = "" if plan is None else f"{plan[1]!r} {plan[0].encode()}"
        args: list[str | int] = [CLAIM_TTL_SECONDS, repr(now + timeout + LEASE_SECONDS), key, channel, planned]
        return bool(await self.retrying(lambda: self._mark_sending(keys=keys, args=args)))

    async def reap(self, now: float) -> tuple[int, int]:
        """Leases that ended: sends never called go back to the queue; calls whose worker died
        during them become `unknown` (never resent; a status webhook may settle them)."""
        prefix = f"{self.namespace}:send:"
        keys = [self._leased, self._queue, self._payloads, self._plans]
        args: list[str | int] = [repr(now), prefix, CLAIM_TTL_SECONDS]
        back, unknown = await self.retrying(lambda: self._reap(keys=keys, args=args))
        return int(back), int(unknown)

    async def settle(self, key: str, status: str) -> None:
        """A final status (sent, failed, unknown, expired); the key is never sent again."""
        keys = [self.claim_key(key), self._payloads, self._leased, self._plans]
        args: list[str | int] = [status, CLAIM_TTL_SECONDS, key]
        await self.retrying(lambda: self._settle(keys=keys, args=args))

    async def reconcile(self, key: str, outcome: str) -> bool:
        """A send left unknown (read timeout) or sending (its worker died during the call), settled
        from a status webhook; False for any other send."""
        keys = [self.claim_key(key), self._payloads, self._leased]
        args: list[str | int] = [outcome, CLAIM_TTL_SECONDS, key]
        return bool(await self.retrying(lambda: self._reconcile(keys=keys, args=args)))

    async def requeue(self, send: QueuedSend, at: float) -> None:
        """Back into the queue for a retry at `at`, one attempt more."""
        again = QueuedSend(send.message, send.deadline, send.attempts + 1, send.due_at)
        keys = [self.claim_key(send.message.key), self._queue, self._payloads, self._leased, self._plans]
        args: list[str | int] = [repr(at), send.message.key, again.encode(), CLAIM_TTL_SECONDS]
        await self.retrying(lambda: self._requeue(keys=keys, args=args))

    async def wait_for_report(self, send: QueuedSend, at: float) -> None:
        """The call went out (or may have): `send` (on the next channel) goes out at `at` unless a
        delivery report of the call comes first (`delivered`)."""
        key = send.message.key
        keys = [self.claim_key(key), self._queue, self._payloads, self._leased, self._plans]
        args: list[str | int] = [repr(at), key, send.encode(), CLAIM_TTL_SECONDS]
        await self.retrying(lambda: self._wait(keys=keys, args=args))
        self.queued.set()

    async def delivered(self, key: str, channel: str) -> str | None:
        """A delivery report of the send's call on `channel` (see `WebhookPort.delivered`)."""
        keys = [self.claim_key(key), self._channels, self._delivered, self._queue, self._payloads, self._leased]
        args: list[str | int] = [key, channel, CLAIM_TTL_SECONDS]
        said: Any = await self.retrying(lambda: self._delivered_script(keys=keys, args=args))
        return {1: "delivered", 2: "twice"}.get(int(said))

    async def refused_on(self, key: str, channel: str, now: float) -> bool:
        """The call on `channel` failed after all: a send waiting for its report moves on now."""
        keys = [self.claim_key(key), self._channels, self._queue]
        args: list[str | int] = [key, channel, repr(now)]
        moved = bool(await self.retrying(lambda: self._refused_on(keys=keys, args=args)))
        if moved:
            self.queued.set()
        return moved

    async def channel_of(self, key: str) -> tuple[str, list[str]]:
        """The channel of the send's latest call, and the channels that reported it delivered."""
        current: Any = await self.retrying(lambda: self.redis.hget(self._channels, key))
        known: Any = await self.retrying(lambda: self.redis.hget(self._delivered, key))
        channel = "whatsapp" if current is None else bytes(current).decode()
        return channel, [c for c in (b"" if known is None else bytes(known)).decode().split(",") if c]

    async def next_due(self) -> float | None:
        first: list[Any] = await self.retrying(lambda: self.redis.zrange(self._queue, 0, 0, withscores=True))
        return float(first[0][1]) if first else None

    async def status(self, key: str) -> str | None:
        value: Any = await self.retrying(lambda: self.redis.get(self.claim_key(key)))
        return None if value is None else bytes(value).decode()

    # ---- what the WhatsApp webhook needs -----------------------------------------------

    async def set_once(self, name: str, value: str, ttl: int) -> bool:
        return bool(await self.retrying(lambda: self.redis.set(name, value, nx=True, ex=ttl)))

    async def phone_index(
        self, phones: list[str], customers: list[str]
    ) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """What the phone index holds now, in one call: the owner of each number in `phones` and the
        number of each customer in `customers` (for a batch's `PhoneBook`)."""
        if not phones and not customers:
            return {}, {}
        keys = [self._phones, self._owners]
        args = [str(len(phones)), *phones, *customers]
        owners, numbers = await self.retrying(lambda: self._lookup_phones(keys=keys, args=args))
        return (
            {p: (bytes(o).decode() or None) for p, o in zip(phones, owners, strict=True)},
            {c: (bytes(n).decode() or None) for c, n in zip(customers, numbers, strict=True)},
        )

    async def follow_numbers(self, numbers: list[tuple[str, str | None]]) -> str | None:
        """The index takes each customer's number as their state names it, all or nothing, and
        releases the numbers they held before. Returns None, or (changing nothing) a customer whose
        number another customer took since the batch read the index."""
        if not numbers:
            return None
        args = [item for customer, phone in numbers for item in (customer, phone or "")]
        keys = [self._phones, self._owners]
        taken: Any = await self.retrying(lambda: self._follow_numbers(keys=keys, args=args))
        return None if taken is None else bytes(taken).decode()

    async def customer_for_phone(self, phone: str) -> str | None:
        value: Any = await self.retrying(lambda: self.redis.hget(self._phones, phone))
        return None if value is None else bytes(value).decode()

    async def customer_for_line(self, line_user_id: str) -> str | None:
        """The customer who holds a LINE user id (one owner per id, like numbers)."""
        return customer_of_holder(await self.customer_for_phone(line_user_id))

    async def forget(self, customer_id: str, phones: tuple[str, ...]) -> dict[str, int]:
        """Erase a customer's Redis keys: their phone numbers (index and messaging-tier budget) and
        their queued sends, whose claims are marked `erased` so nothing queues them again. The
        erasure is marked first, for every worker to delete its kept backtests."""
        await self.retrying(lambda: self.redis.set(self.erasures, secrets.token_hex(16)))
        keys = [self._phones, self._owners, self.recipients]
        holder = line_holder(customer_id)
        numbers: Any = await self.retrying(lambda: self._forget_phones(keys=keys, args=[customer_id, holder, *phones]))
        theirs: list[str] = []
        cursor = 0
        while True:
            cursor, chunk = await self._scan_payloads(cursor)
            for key, payload in chunk.items():
                try:
                    owner = QueuedSend.decode(payload).message.customer_id
                except (ValueError, KeyError, TypeError):
                    continue
                if owner == customer_id:
                    theirs.append(key.decode())
            if cursor == 0:
                break
        for name in theirs:
            await self._drop(name)
        return {
            "phones": int(numbers),
            "queued_sends": len(theirs),
            "sends": await self._forget_sends(customer_id),
            "source_memory": await self._forget_source_memory(customer_id),
        }

    async def erasure_mark(self) -> bytes | None:
        """The mark of the last erasure by any worker (`forget`), None before the first."""
        mark: Any = await self.retrying(lambda: self.redis.get(self.erasures))
        return None if mark is None else bytes(mark)

    async def _forget_source_memory(self, customer_id: str) -> int:
        """What the sources remembered about the customer (`source_memory.RedisMemory`)."""
        owned = f"{self.namespace}:source-of:{customer_id}"
        names = list(await self.retrying(lambda: self.redis.smembers(owned)))
        if names:
            await self.retrying(lambda: self.redis.delete(*names))
        await self.retrying(lambda: self.redis.delete(owned))
        return len(names)

    async def _forget_sends(self, customer_id: str) -> int:
        """Who each send was for, erased for this customer (`sent-to:<key>`)."""
        redis, erased, cursor, pattern = self.redis, 0, 0, f"{self.namespace}:sent-to:*"

        async def page(at: int) -> tuple[int, int]:
            found: Any = await redis.scan(at, match=pattern, count=500)
            names = list(found[1])
            owners: Any = await redis.mget(names) if names else []
            mine = [name for name, owner in zip(names, owners, strict=True) if owner == customer_id.encode()]
            return int(found[0]), int(await redis.delete(*mine)) if mine else 0

        while True:
            cursor, count = await self.retrying(partial(page, cursor))
            erased += count
            if cursor == 0:
                return erased

    async def _scan_payloads(self, cursor: int) -> tuple[int, dict[bytes, bytes]]:
        answer: Any = await self.retrying(lambda: self.redis.hscan(self._payloads, cursor, count=500))
        return int(answer[0]), dict(answer[1])

    async def _drop(self, key: str) -> None:
        """A queued send taken out of the queue, its claim marked `erased` (never queued again)."""

        async def drop() -> None:
            pipe: Any = self.redis.pipeline(transaction=True)
            pipe.zrem(self._queue, key)
            pipe.hdel(self._payloads, key)
            pipe.zrem(self._leased, key)
            pipe.set(self.claim_key(key), "erased", ex=CLAIM_TTL_SECONDS)
            await pipe.execute()

        await self.retrying(drop)

    async def close(self) -> None:
        await self.redis.aclose()

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.2
        while True:
            try:
                return await call()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis unreachable (%s); sends wait %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
