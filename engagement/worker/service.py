"""What the worker's agent does with a batch of Kafka messages: plain code over narrow ports.

Per partition it keeps the live watermark and an index of customers' wake-up times (rebuilt
from the state table after a rebalance); customers' states, with their timers, live in a
changelog-backed table. Timers that a batch's events let fall due are decided with the batch;
on a partition without new events they are fired by a "tick" message on a co-partitioned topic,
so that only the agent writes the table and a tick waits behind the partition's backlog.

Messages come in batches: each is applied to the customer's decoded state (kept in a bounded
cache that mirrors the table), and at the end of the batch every changed state is written once.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engagement.console.backtests import forget_kept
from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.decode import Rejection
from engagement.events import Event
from engagement.live.metrics import Metrics, count_decisions
from engagement.live.phone_owners import PhoneBook, customer_of_holder, desired_numbers, updates_phone
from engagement.live.sender import QUEUED_OUTCOMES, outbound_for
from engagement.live.watermark import MergedWatermark
from engagement.providers.base import SendLog
from engagement.replay.output import decision_line
from engagement.state_codec import MAX_STATE_BYTES, TOO_LARGE, StateDecodeError, dump_state, load_state
from engagement.worker.outbox import QueuedSend, RedisOutbox
from engagement.worker.topics import TopicNames

log = logging.getLogger("engagement.worker")

# Queues a message (topic, key, value, partition); what it returns is awaited for its delivery.
Produce = Callable[[str, bytes, bytes, int | None], Awaitable[Awaitable[object]]]


class PhoneRaced(RuntimeError):
    """A number this batch gives a customer was taken by another worker's customer after the batch
    read the phone index: the batch is dropped and applied again (then the update is refused)."""


class StateTable(Protocol):
    def get(self, partition: int, key: str) -> bytes | None: ...
    async def write_all(self, rows: list[tuple[int, str, bytes]]) -> None: ...
    def delete(self, partition: int, key: str) -> None: ...
    def items(self) -> list[tuple[str, bytes]]: ...


@dataclass
class PartitionClock:
    watermark: MergedWatermark
    wakeups: list[tuple[float, str]] = field(default_factory=list)
    ticked: dict[str, float] = field(default_factory=dict)


class WorkerService:
    def __init__(
        self,
        engine: Engine,
        table: StateTable,
        produce: Produce,
        outbox: RedisOutbox,
        metrics: Metrics,
        names: TopicNames,
        cache_size: int = 100_000,
        send_log: SendLog | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.engine, self.table, self.produce = engine, table, produce
        self.outbox, self.metrics, self.names = outbox, metrics, names
        self.partitions: dict[int, PartitionClock] = {}
        self.send_log = send_log
        self.state_dir = state_dir  # where this worker's console keeps backtests' live sides
        self.cache_size = cache_size
        self._cache: dict[str, CustomerState] = {}  # decoded states, the same as the table's
        self._changed: dict[str, tuple[int, CustomerState]] = {}  # this batch's, not written yet
        self._decisions: list[Decision] = []
        self._letters: list[bytes] = []
        self._forgets: list[tuple[int, str]] = []  # (partition, customer) to erase at the end of the batch
        self._woken: list[tuple[int, float, str]] = []  # (partition, wake-up, customer) this batch decided
        self._results: Counter[str] = Counter()  # this batch's events by result, counted when it goes through
        self._phones: PhoneBook | None = None  # the phone index as this batch sees it (`begin_batch`)
        self._profiled: dict[str, None] = {}  # customers whose number this batch may have changed
        self._refused_phones = 0  # this batch's profile updates refused: their number is another's
        self._inputs: dict[str, list[tuple[str, int, int, bytes]]] = {}  # the batch's taken messages, by customer

    def clock_for(self, partition: int) -> PartitionClock:
        clock = self.partitions.get(partition)
        if clock is None:
            clock = self.partitions[partition] = PartitionClock(MergedWatermark(self.engine.settings.allowed_lateness))
        return clock

    def use_engine(self, engine: Engine) -> None:
        """A reloaded configuration goes live: the next batch and tick use it."""
        self.engine = engine

    # ---- a batch of messages --------------------------------------------------------------

    def begin_batch(self, phones: PhoneBook) -> None:
        """The phone index as the batch starts (read from Redis once for the batch's updates)."""
        self._phones = phones

    def on_event(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes,
        now: float,
        lagging: frozenset[str],
        item: Event | Rejection,
        t: float | None = None,
    ) -> None:
        """One input message (`value`) and what it decoded to (`item`, at `t` epoch seconds when the
        caller has it); `lagging`: the partition's input topics that still have unread messages."""
        phones = self._phones
        refusal = None if phones is None or isinstance(item, Rejection) else phones.refusal(item)
        if refusal is not None and not isinstance(item, Rejection):
            known = self._load(partition, item.customer_id)
            if known is None or not Engine.seen(known, item):  # a repeat is a duplicate, whatever its number
                item = refusal
                self._refused_phones += 1
        if isinstance(item, Rejection):
            self._results["rejected"] += 1
            self._dead_letter(topic, partition, offset, value, item)
            return
        clock = self.clock_for(partition)
        if t is None:
            t = item.occurred_at.timestamp()
        current = clock.watermark.value(now, lagging, wall_clock=False)
        if t < current:
            self._results["late"] += 1
        cid = item.customer_id
        state = self._load(partition, cid) or CustomerState(cid)
        if not self.engine.admit(state, item, now, current, self._decisions, t):
            self._results["duplicate"] += 1
            return
        self._results["accepted"] += 1
        self._inputs.setdefault(cid, []).append((topic, partition, offset, value))
        if phones is not None and updates_phone(item):
            phones.follow_state(cid, state)
            self._profiled[cid] = None
        clock.watermark.observe(topic, t)
        upto = clock.watermark.value(now, lagging, wall_clock=False)
        self.engine.run_until(state, upto, now, self._decisions)
        self._changed[cid] = (partition, state)

    def on_tick(self, partition: int, customer_id: str, upto: float, now: float) -> None:
        clock = self.clock_for(partition)
        clock.ticked.pop(customer_id, None)
        state = self._load(partition, customer_id)
        if state is None:
            return
        self.engine.run_until(state, upto, now, self._decisions)
        self._changed[customer_id] = (partition, state)

    def decide_due(self, partition: int, now: float, lagging: frozenset[str]) -> None:
        """The timers this batch's events let fall due on one of its partitions, decided with the
        batch (their wake-ups are put back if the batch is dropped)."""
        clock = self.clock_for(partition)
        for cid, upto in self.due_ticks(partition, now, lagging):
            self._woken.append((partition, clock.ticked[cid], cid))
            self.on_tick(partition, cid, upto, now)

    def on_forget(self, partition: int, customer_id: str) -> None:
        """An erasure request (CONTRACT.md §8): carried out at the end of the batch."""
        self._forgets.append((partition, customer_id))

    def drop_batch(self) -> None:
        """Drop a failed batch and every cached state (some may hold its unwritten changes); the
        wake-ups it took are due again."""
        self._changed, self._decisions, self._letters, self._forgets = {}, [], [], []
        self._phones, self._profiled, self._refused_phones = None, {}, 0
        self._results.clear()  # the batch is tried again: its events count then
        self._cache.clear()
        for partition, wake, cid in self._woken:
            heapq.heappush(self.clock_for(partition).wakeups, (wake, cid))
        self._woken = []

    async def flush(self) -> None:
        """End of a batch: its sends queued and decisions published first, then each changed state
        written to the table once. Nothing of the batch is acknowledged before this returns, so a
        crash replays the whole batch; because the side effects come before the states, a replayed
        batch decides again whatever a crash cut short (and the send claims keep a send single)."""
        changed, decisions, letters, forgets = self._changed, self._decisions, self._letters, self._forgets
        rows = self._encoded()
        decisions = self._decisions
        if self._profiled:
            states = {cid: state for cid, (_, state) in changed.items()}
            raced = await self.outbox.follow_numbers(desired_numbers(states, self._profiled))
            if raced is not None:  # nothing of the batch is out yet: it is dropped and applied again
                who = customer_of_holder(raced) or raced
                raise PhoneRaced(f"customer {who}: their new number or LINE id was taken by another customer meanwhile")
        deliveries = [await self.produce(self.names.dead_letter, b"", letter, None) for letter in letters]
        count_decisions(self.metrics, decisions, time.time())
        for decision in decisions:
            if decision.outcome in QUEUED_OUTCOMES:
                await self._send(decision)
            line = decision_line(decision).encode()
            deliveries.append(await self.produce(self.names.decisions, decision.customer_id.encode(), line, None))
        # The batch's decisions and dead letters are on the broker before its states are written
        # and its offsets committed: a broker that restarts meanwhile loses none of them.
        await asyncio.gather(*deliveries)
        cache = self._cache
        await self.table.write_all(rows)
        for cid, (partition, state) in changed.items():
            wake = state.wake_at()
            if wake is not None:
                heapq.heappush(self.clock_for(partition).wakeups, (wake, cid))
            cache[cid] = state
        while len(cache) > self.cache_size:
            del cache[next(iter(cache))]
        for partition, cid in forgets:
            await self._erase(partition, cid, changed)
        if self._refused_phones:
            self.metrics.inc("engagement_phone_claims_refused_total", self._refused_phones)
        for result, count in self._results.items():
            self.metrics.inc("engagement_events_total", count, result=result)
        self._results.clear()
        self._phones, self._profiled, self._refused_phones, self._inputs = None, {}, 0, {}
        self._changed, self._decisions, self._letters, self._forgets, self._woken = {}, [], [], [], []

    def _encoded(self) -> list[tuple[int, str, bytes]]:
        """The batch's changed states as table rows. A state over `MAX_STATE_BYTES` could not be read
        back, so it is never written: that customer is left out of the batch (their stored state
        stays, their decisions go), and their messages of the batch go to the dead letters."""
        rows: list[tuple[int, str, bytes]] = []
        for cid, (partition, state) in list(self._changed.items()):
            blob = dump_state(state)
            if len(blob) <= MAX_STATE_BYTES:
                rows.append((partition, cid, blob))
                continue
            log.error(
                "customer %s: a state of %d bytes would exceed the limit; their events are refused", cid, len(blob)
            )
            self.metrics.inc("engagement_customer_failures_total")
            del self._changed[cid]
            self._cache.pop(cid, None)  # it holds this batch's changes
            self._profiled.pop(cid, None)
            self._decisions = [d for d in self._decisions if d.customer_id != cid]
            for topic, taken_from, offset, value in self._inputs.pop(cid, []):
                self._dead_letter(topic, taken_from, offset, value, TOO_LARGE)
        return rows

    def _dead_letter(self, topic: str, partition: int, offset: int, value: bytes, rejection: Rejection) -> None:
        """A refused input message for the dead-letter topic: where it was, why, and its start."""
        record = {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "field": rejection.field,
            "reason": rejection.reason,
            "input": value[:2000].decode("utf-8", errors="replace"),
        }
        self._letters.append(json.dumps(record, ensure_ascii=False).encode())

    async def _erase(self, partition: int, cid: str, changed: dict[str, tuple[int, CustomerState]]) -> None:
        entry = changed.get(cid)
        state = entry[1] if entry is not None else self._load(partition, cid)
        phone = state.profile.phone if state is not None and state.profile is not None else None
        self._cache.pop(cid, None)
        self.table.delete(partition, cid)
        line_id = state.profile.line_user_id if state is not None and state.profile is not None else None
        erased = await self.outbox.forget(cid, tuple(a for a in (phone, line_id) if a))
        if self.send_log is not None:
            erased["send_log"] = self.send_log.erase(cid)
        if self.state_dir is not None:
            erased["kept_backtests"] = await asyncio.to_thread(forget_kept, self.state_dir)
        self.metrics.inc("engagement_customers_erased_total")
        log.info("customer erased: %s", erased)

    # ---- the timer side -----------------------------------------------------------------

    def next_wakeup(self, partition: int) -> float | None:
        wakeups = self.clock_for(partition).wakeups
        return wakeups[0][0] if wakeups else None

    def due_ticks(self, partition: int, now: float, lagging: frozenset[str]) -> list[tuple[str, float]]:
        """Customers of a partition whose wake-up the watermark has passed (each asked once). A
        wake-up whose customer's known state no longer wants it (the timer moved or went) asks
        nothing; one that moved is put back at its new time."""
        clock = self.clock_for(partition)
        upto = clock.watermark.value(now, lagging)
        due: list[tuple[str, float]] = []
        wakeups = clock.wakeups
        while wakeups and wakeups[0][0] <= upto:
            wake, cid = heapq.heappop(wakeups)
            if clock.ticked.get(cid) is not None:
                continue
            known = self._known(cid)
            if known is not None:
                current = known.wake_at()
                if current is None:
                    continue
                if current > upto:
                    heapq.heappush(wakeups, (current, cid))
                    continue
            clock.ticked[cid] = wake
            due.append((cid, upto))
        return due

    def due_again(self, partition: int, customers: list[str]) -> None:
        """Ticks that did not reach the broker: their customers' wake-ups are due again."""
        clock = self.clock_for(partition)
        for cid in customers:
            wake = clock.ticked.pop(cid, None)
            if wake is not None:
                heapq.heappush(clock.wakeups, (wake, cid))

    def rebuild(self, partition_of: Callable[[str], int], assigned: set[int]) -> int:
        """The wake-up index from the state table, after an assignment (timers survive rebalances)."""
        for number in list(self.partitions):
            if number not in assigned:
                del self.partitions[number]
        self._cache.clear()  # another worker may have changed what this one cached
        for clock in self.partitions.values():
            clock.wakeups.clear()
            clock.ticked.clear()
        count = 0
        for cid, blob in list(self.table.items()):
            partition = partition_of(cid)
            if partition not in assigned:
                continue
            state = self._decode(cid, blob)
            wake = state.wake_at() if state is not None else None
            if wake is not None:
                heapq.heappush(self.clock_for(partition).wakeups, (wake, cid))
                count += 1
        return count

    def held_state(self, partition: int, customer_id: str) -> CustomerState | None:
        """A customer's state when this worker holds their partition (for the console), else None."""
        if partition not in self.partitions:
            return None
        return self._load(partition, customer_id)

    # ---- internals ------------------------------------------------------------------------

    def _known(self, cid: str) -> CustomerState | None:
        """The customer's state as this batch left it or as cached, without reading the table."""
        changed = self._changed.get(cid)
        return changed[1] if changed is not None else self._cache.get(cid)

    def _load(self, partition: int, cid: str) -> CustomerState | None:
        state = self._known(cid)
        if state is not None:
            return state
        blob = self.table.get(partition, cid)
        return None if blob is None else self._decode(cid, blob)

    def _decode(self, cid: str, blob: bytes) -> CustomerState | None:
        """A stored state, or None (the customer starts afresh) when the blob does not read back."""
        try:
            return load_state(blob)
        except StateDecodeError as exc:
            self.metrics.inc("engagement_state_unreadable_total")
            log.error("customer %s: %s; starting from an empty state", cid, exc)
            return None

    async def _send(self, decision: Decision) -> None:
        """Claim and queue the send in Redis; the sender task carries it out at `decision.at`."""
        message = outbound_for(decision)
        if message is None:
            return
        if not await self.outbox.enqueue(QueuedSend(message, decision.deadline, due_at=decision.at), decision.at):
            self.metrics.inc("engagement_sends_total", result="already_claimed")
