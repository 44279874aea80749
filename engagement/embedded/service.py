"""The embedded runtime: the engine on the live watermark, durable timers, and the outbox sender.

One asyncio task at a time touches the engine (a lock): HTTP batches and the timer loop take turns,
and every batch is committed to the store before its request is answered. While a batch is
being applied the watermark follows event time only; between batches (caught up) it also follows
the wall clock, so timers fire on time without traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.decode import Rejection
from engagement.embedded.store import EmbeddedStore, OutboxRow, Prepared
from engagement.events import Event
from engagement.live.ingest import Taken
from engagement.live.metrics import Metrics, count_decisions
from engagement.live.phone_owners import PhoneBook, desired_numbers, updates_phone
from engagement.live.rate_limit import RateLimiter, Unlimited, limiter_of, priority_of
from engagement.live.recipient_budget import DAY_SECONDS, RecipientBudget
from engagement.live.security_reports import SecurityReport, SecurityReports
from engagement.live.sender import (
    NO_DELIVERY_REPORTS,
    QUEUED_OUTCOMES,
    UNMETERED,
    count_delivery,
    deliver,
    follow_up,
)
from engagement.live.watermark import LiveWatermark
from engagement.live.whatsapp_webhook import StatusUpdate
from engagement.providers.base import OutboundMessage, Provider, SendLog
from engagement.state_codec import TOO_LARGE

log = logging.getLogger("engagement.run")

TICK_SECONDS = 0.2
YIELD_EVERY = 127  # events applied between two yields to the event loop (a power of two less one)
RETENTION_CHECK_SECONDS = 3600.0
CONCURRENT_SENDS = 8  # requests in flight to the provider (keep-alive connections)


NOT_PROCESSED = Rejection(
    "body",
    "this customer's events could not be processed (an internal error, logged); "
    "none of them in this request was kept: send them again",
)


@dataclass
class _Batch:
    """What one batch (or one pass of the timers) changes before it is committed."""

    touched: dict[str, CustomerState] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    failed: dict[str, Rejection] = field(default_factory=dict)  # customers left out of the batch, and why
    accepted: list[Event] = field(default_factory=list)
    profiled: dict[str, None] = field(default_factory=dict)  # customers whose number may have changed
    duplicates: int = 0
    late: int = 0


class StoreBudget:
    """The messaging-tier budget in the SQLite store (it survives restarts)."""

    def __init__(self, store: EmbeddedStore, limit: int) -> None:
        self.store, self.limit = store, limit

    async def admit(self, phone: str, now: float) -> float | None:
        return self.store.admit_recipient(phone, now, self.limit, DAY_SECONDS)


class EmbeddedService:
    def __init__(
        self,
        engine: Engine,
        store: EmbeddedStore,
        provider: Provider,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        channel_limiters: dict[str, RateLimiter] | None = None,
        daily_recipients: int = 0,
        security: SecurityReports | None = None,
        send_log: SendLog | None = None,
        retention_days: int = 90,
    ) -> None:
        self.engine, self.store, self.provider, self.metrics, self.clock = engine, store, provider, metrics, clock
        self.limiter = limiter or Unlimited()
        self.channel_limiters = channel_limiters or {}  # LINE's, SMS's (WhatsApp's: `limiter`)
        self.budget: RecipientBudget | None = StoreBudget(store, daily_recipients) if daily_recipients else None
        self.security = security or SecurityReports("", metrics)
        self.send_log, self.retention_days = send_log, retention_days
        lateness = engine.settings.allowed_lateness
        self.watermark = LiveWatermark(lateness, store.meta("max_seen", float("-inf")))
        self.applied = store.meta("applied", float("-inf"))
        self._wakeups = store.wakeups()
        heapq.heapify(self._wakeups)
        self._lock = asyncio.Lock()
        self._send_wanted = asyncio.Event()
        self._stopping = asyncio.Event()
        recovered = store.recover_claims()
        if recovered:
            log.warning("%d sends were in flight at the last stop; marked unknown, not resent", recovered)

    # ---- ingest (the HTTP port) ---------------------------------------------------

    async def ingest(self, events: list[Event]) -> Taken:
        """Apply and commit a batch; answered only once it is on disk. A customer whose events cannot
        be applied is left out of the batch whole (their events refused, their state as it was on
        disk); the other customers are committed. When the commit fails, nothing of the batch is
        kept, in memory or on disk, and the error propagates."""
        async with self._lock:
            now = self.clock()
            batch = _Batch()
            watermark = self.watermark
            saved = (watermark.max_seen, self.applied)
            refused: dict[int, Rejection] = {}
            book = PhoneBook(self.store.customer_for_phone, self.store.phone_of)
            try:
                for n, event in enumerate(events):
                    if n & YIELD_EVERY == YIELD_EVERY:
                        await asyncio.sleep(0)  # a large batch lets health checks and webhooks through
                    if event.customer_id in batch.failed:
                        continue
                    refusal = book.refusal(event)
                    if refusal is not None and not self._repeated(event, batch):
                        refused[n] = refusal
                        continue
                    self._admit(event, now, batch, book)
                await self._advance(self._current(now, caught_up=False), now, batch)
                await self._commit(batch)
            except BaseException:
                watermark.max_seen, self.applied = saved  # no trace of the batch in memory
                self.store.evict_all()
                raise
            self.metrics.inc("engagement_events_total", batch.late, result="late")
            if refused:
                self.metrics.inc("engagement_phone_claims_refused_total", len(refused))
            for n, event in enumerate(events):
                reason = batch.failed.get(event.customer_id)
                if reason is not None:
                    refused[n] = reason
            return Taken(batch.duplicates, sorted(refused.items()))

    def _repeated(self, event: Event, batch: _Batch) -> bool:
        """An event the customer's state has taken already (then a duplicate, whatever its number)."""
        state = batch.touched.get(event.customer_id) or self.store.load_state(event.customer_id)
        return state is not None and Engine.seen(state, event)

    def _admit(self, event: Event, now: float, batch: _Batch, book: PhoneBook) -> None:
        """One event of a batch into its customer's state; the phone index view follows the state."""
        cid = event.customer_id
        t = event.occurred_at.timestamp()
        current = self._current(now, caught_up=False)
        if t < current:
            batch.late += 1
        state = batch.touched.get(cid) or self.store.load_state(cid) or CustomerState(cid)
        try:
            admitted = self.engine.admit(state, event, now, current, batch.decisions, t)
        except Exception:  # a bug must cost this customer's events, not the batch
            self._fail(cid, batch)
            return
        if not admitted:
            batch.duplicates += 1
            return
        batch.touched[cid] = state
        batch.accepted.append(event)
        if updates_phone(event):
            book.follow_state(cid, state)
            batch.profiled[cid] = None
        self.watermark.observe(t)
        self._wake(state)

    def _fail(self, cid: str, batch: _Batch, reason: Rejection = NOT_PROCESSED) -> None:
        """Leave a customer out of the batch: their state as it is on disk, their decisions dropped."""
        if reason is NOT_PROCESSED:
            log.exception("customer %s: processing failed; their events in this batch are refused", cid)
        else:
            log.error("customer %s: %s", cid, reason.reason)
        self.metrics.inc("engagement_customer_failures_total")
        batch.failed[cid] = reason
        batch.touched.pop(cid, None)
        batch.profiled.pop(cid, None)
        batch.decisions[:] = [d for d in batch.decisions if d.customer_id != cid]
        batch.accepted[:] = [e for e in batch.accepted if e.customer_id != cid]
        self.store.evict(cid)

    # ---- privacy ----------------------------------------------------------------------

    async def forget(self, customer_id: str) -> dict[str, int]:
        """Erase a customer (CONTRACT.md §8) between batches, so no batch writes them back."""
        async with self._lock:
            erased = self.store.forget(customer_id)
            if self.send_log is not None:
                erased["send_log"] = self.send_log.erase(customer_id)
        self.metrics.inc("engagement_customers_erased_total")
        return erased

    async def purge(self) -> dict[str, int]:
        """Retention: what is older than `retention_days` goes."""
        before = self.clock() - self.retention_days * DAY_SECONDS
        async with self._lock:
            purged = self.store.purge(before)
            if self.send_log is not None:
                purged["send_log"] = self.send_log.prune(before)
        return purged

    async def run_retention(self) -> None:
        while not self._stopping.is_set():
            purged = await self.purge()
            if any(purged.values()):
                log.info("retention (%d days): deleted %s", self.retention_days, purged)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RETENTION_CHECK_SECONDS)

    # ---- the WhatsApp webhook port ----------------------------------------------------

    async def record_statuses(self, statuses: list[StatusUpdate]) -> list[StatusUpdate]:
        return [
            s
            for s in statuses
            if self.store.record_status(s.message_id, s.status, s.key, s.timestamp, json.dumps(s.error_codes))
        ]

    async def customer_for_phone(self, phone: str) -> str | None:
        return self.store.customer_for_phone(phone)

    async def customer_for_line(self, line_user_id: str) -> str | None:
        return self.store.customer_for_line(line_user_id)

    def not_me_words(self) -> frozenset[str]:
        return self.engine.answering.not_me_words

    async def send_of_message(self, message_id: str) -> str | None:
        return self.store.send_of_message(message_id)

    async def customer_of_send(self, key: str) -> str | None:
        return self.store.customer_of_send(key)

    async def reconcile(self, key: str, outcome: str) -> bool:
        return self.store.reconcile(key, outcome)

    async def delivered(self, key: str, channel: str) -> str | None:
        return self.store.delivered(key, channel)

    async def refused_on(self, key: str, channel: str) -> bool:
        moved = self.store.refused_on(key, channel, self.clock())
        if moved:
            self._send_wanted.set()
        return moved

    async def report_security(self, report: SecurityReport) -> None:
        await self.security.report(report)

    # ---- the timer loop -------------------------------------------------------------

    async def run_timers(self) -> None:
        while not self._stopping.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_SECONDS)

    async def tick(self) -> None:
        """Fire whatever the wall clock has made due (the service is caught up between batches)."""
        if self._lock.locked():
            return
        async with self._lock:
            now = self.clock()
            current = self._current(now, caught_up=True)
            if not self._wakeups or self._wakeups[0][0] > current:
                self.applied = max(self.applied, current)
                return
            batch, applied = _Batch(), self.applied
            try:
                await self._advance(current, now, batch)
                await self._commit(batch)
            except BaseException:
                self.applied = applied  # nothing of the pass stays in memory
                self.store.evict_all()
                raise

    def pending(self) -> int:
        """Wake-ups still queued (a customer may hold more than one until the stale ones are dropped)."""
        return len(self._wakeups)

    # ---- the sender -------------------------------------------------------------------

    async def run_sender(self) -> None:
        while not self._stopping.is_set():
            await self.send_due()
            next_at = self.store.next_send_at()
            delay = 1.0 if next_at is None else min(1.0, max(0.0, next_at - self.clock()))
            self._send_wanted.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._send_wanted.wait(), delay)

    def use_engine(self, engine: Engine) -> None:
        """A reloaded configuration goes live: the next batch and timer pass use it."""
        self.engine = engine

    async def send_due(self) -> int:
        rows = self.store.due_sends(self.clock())
        lanes = asyncio.Semaphore(CONCURRENT_SENDS)
        done = 0

        async def one(row: OutboxRow) -> None:
            nonlocal done
            limiter = limiter_of(row.message.get("channel", "whatsapp"), self.limiter, self.channel_limiters)
            if row.message.get("category") not in UNMETERED:
                await limiter.acquire(priority_of(row.message.get("category", "")))
            async with lanes:
                message = OutboundMessage.from_dict(row.message)
                if not self.store.claim(row.key, message.channel):  # just before its call: a crash loses none unsent
                    return
                done += 1
                outcome = await deliver(
                    self.provider,
                    message,
                    self.clock(),
                    row.deadline,
                    row.attempts + 1,
                    self.metrics,
                    self.budget,
                    due_at=row.send_at,
                )
                if outcome.status == "retry" and outcome.retry_at is not None:
                    self.store.retry_at(row.key, outcome.retry_at, outcome.detail or "")
                elif outcome.waits and outcome.next is not None and outcome.retry_at is not None:
                    self.store.wait_for_report(row.key, outcome.next.to_dict(), outcome.retry_at, outcome.detail or "")
                elif outcome.next is not None:
                    self.store.fail_over(row.key, outcome.next.to_dict(), self.clock(), outcome.detail or "")
                else:
                    self.store.settle(row.key, outcome.status, outcome.detail)
                if outcome.status == "sent" and message.channel in NO_DELIVERY_REPORTS:  # accepted is delivered
                    count_delivery(self.metrics, message, self.store.delivered(row.key, message.channel))
                await follow_up(outcome, message, limiter, self.ingest, self.clock())

        await asyncio.gather(*(one(row) for row in rows))
        return done

    def stop(self) -> None:
        self._stopping.set()

    # ---- internals --------------------------------------------------------------------

    def _current(self, now: float, caught_up: bool) -> float:
        value = self.watermark.value(now, caught_up)
        return value if value > self.applied else self.applied

    def _wake(self, state: CustomerState) -> None:
        wake = state.wake_at()
        if wake is not None:
            heapq.heappush(self._wakeups, (wake, state.customer_id))

    async def _advance(self, upto: float, now: float, batch: _Batch) -> None:
        wakeups, store, engine, touched = self._wakeups, self.store, self.engine, batch.touched
        woken = 0
        while wakeups and wakeups[0][0] <= upto:
            woken += 1
            if woken & YIELD_EVERY == YIELD_EVERY:
                await asyncio.sleep(0)  # many timers due at once: health checks and webhooks go between
            _, cid = heapq.heappop(wakeups)
            state = touched.get(cid) or store.load_state(cid)
            if state is None:
                continue
            wake = state.wake_at()
            if wake is None or wake > upto:
                continue  # a stale entry: the customer's timer moved or went
            if cid in batch.failed:
                continue
            try:
                engine.run_until(state, upto, now, batch.decisions)
            except Exception:  # one customer's failure must not stop the timers of the others
                self._fail(cid, batch)
                continue
            touched[cid] = state
            self._wake(state)
        self.applied = max(self.applied, upto)

    async def _commit(self, work: _Batch) -> None:
        """Encode the batch a slice at a time (letting the event loop through), then write it in one
        transaction."""
        meta = {"max_seen": self.watermark.max_seen, "applied": self.applied}
        batch = Prepared()
        states = list(work.touched.values())
        for start in range(0, len(states), YIELD_EVERY + 1):
            if start:
                await asyncio.sleep(0)
            for cid in batch.add_states(states[start : start + YIELD_EVERY + 1]):
                self._fail(cid, work, TOO_LARGE)
        await asyncio.sleep(0)
        decisions = work.decisions  # without those of customers left out above
        batch.add_decisions(decisions)
        batch.add_events(work.accepted)
        batch.numbers = desired_numbers(work.touched, work.profiled)
        self.store.write(batch, meta)
        self.metrics.set("engagement_watermark_seconds", self.applied)
        self.metrics.set("engagement_pending_timers", self.pending())
        count_decisions(self.metrics, decisions, self.clock())
        if any(d.outcome in QUEUED_OUTCOMES for d in decisions):
            self._send_wanted.set()
