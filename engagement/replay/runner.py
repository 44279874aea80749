"""Drives the engine over a stream of events on the replay watermark.

The watermark is the largest `occurred_at` seen minus the allowed lateness. An event that
waits for it is queued by (event time, arrival number): events that arrive in time order,
nearly all of them, go to the back of a plain queue; the few that arrive out of order go to a
small heap. Timers wait in a third queue, a heap with one live entry per customer (its
earliest timer). All three are drained in time order as the watermark passes them, events
before timers at equal times.

A customer idle for a quarter of an hour of event time, with no event buffered and no timer, is
kept as the bytes `run` stores (`engagement.state_codec`), their most common field names one
byte each (`engagement.replay.set_aside`: about a third of the memory of the objects), and read
back when an event of theirs comes; the rounds that set idle states aside run every few
thousand events and visit only the states in use (a replay may skip them while few states are
in use: `keep_up_to`). Decisions do not depend on it: a state reads back equal to the one dumped.

Every decision is handed to the sink with `position` set to the wake-up that made it:
(time, 0, arrival number) for a queued event, (time, 1, customer id) for a timer, (time, -1,
arrival number) for an event decided on arrival. Customers meet only in these queues, so a
replay split by customer (`engagement.replay.shards`) can put the decisions of its parts back
in exactly this order.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.kinds.registry import DECIDED_ON_ARRIVAL
from engagement.core.state import CustomerState
from engagement.events import Event
from engagement.replay.set_aside import set_aside, taken_back


@dataclass
class ReplayCounts:
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0
    after_until: int = 0
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, other: ReplayCounts) -> None:
        self.lines += other.lines
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.late += other.late
        self.after_until += other.after_until
        self.outcomes.update(other.outcomes)


ON_ARRIVAL, QUEUED_EVENT, TIMER = -1, 0, 1  # the kinds of wake-up, in their order at equal times

Position = tuple[float, int, int | str]
_NEVER = float("inf")
IDLE_SECONDS = 900.0  # event time without activity after which an idle state is kept as bytes
SET_ASIDE_EVERY = 16_384  # events between two rounds that set idle states aside


class Replayer:
    def __init__(
        self,
        engine: Engine,
        sink: Callable[[Decision], object],
        idle_after: float = IDLE_SECONDS,
        set_aside_every: int = SET_ASIDE_EVERY,
        keep_up_to: int = 0,
    ) -> None:
        """`keep_up_to`: while no more states than this are in use (objects), the rounds that set
        idle ones aside are skipped; past it, a round sets every idle one aside. A replay of some
        customers (a backtest's edit side) saves setting them aside and reading them back, and
        still keeps in use about this many states at most, besides those not idle and those one
        round's events bring in."""
        self.engine = engine
        self.sink = sink
        self.lateness = engine.settings.allowed_lateness
        self.states: dict[str, CustomerState | bytes] = {}  # bytes: an idle state set aside
        self.idle_after = idle_after
        self.set_aside_every = set_aside_every
        self.keep_up_to = keep_up_to
        self._set_aside_in = set_aside_every
        self._in_use: set[str] = set()  # customers whose state is an object
        self.counts = ReplayCounts()
        self.max_seen = float("-inf")
        self.arrivals = 0  # events fed so far; the arrival number of the last one
        self.position: Position = (0.0, ON_ARRIVAL, 0)
        self._in_order: deque[tuple[float, int, str]] = deque()
        self._out_of_order: list[tuple[float, int, str]] = []
        self._timers: list[tuple[float, str]] = []
        self._timer_at: dict[str, float] = {}
        self._wake = _NEVER  # no queued wake-up is earlier (a watermark below it has nothing to do)

    @property
    def watermark(self) -> float:
        return self.max_seen - self.lateness

    def feed(self, event: Event, t: float | None = None) -> None:
        """`t` is `event.occurred_at` as epoch seconds, when the caller has it already."""
        if t is None:
            t = event.occurred_at.timestamp()
        self.arrivals = arrival = self.arrivals + 1
        if t > self.max_seen:
            if event.type in DECIDED_ON_ARRIVAL:
                # decided at once: whatever the watermark passes first (a timer of this customer due
                # before the login) is decided first, as the live runtimes' clock would have
                self.raise_to(t)
                self.take(event, t, arrival)
                return
            self.take(event, t, arrival)
            self.max_seen = t
            if t - self.lateness >= self._wake:
                self.advance_to(t - self.lateness)
        else:
            self.take(event, t, arrival)

    def adopt(self, cid: str, state: CustomerState, arrival: int) -> None:
        """Take over a customer's state as another replay had it at this point of the file (their
        events waiting for the watermark, and their timers, queued as that replay had them)."""
        self.states[cid] = state
        self._in_use.add(cid)
        for t, _, _ in state.pending or ():  # a wake-up for each, as each had when it was taken
            heapq.heappush(self._out_of_order, (t, arrival, cid))
            self._wake = min(self._wake, t)
        due = state.next_timer()
        if due is not None:
            self._queue_timer(cid, due)

    def raise_to(self, max_seen: float) -> None:
        """The largest event time seen is now `max_seen`: decide what the watermark passes."""
        self.max_seen = max_seen
        if max_seen - self.lateness >= self._wake:
            self.advance_to(max_seen - self.lateness)

    def raise_through(
        self, times: Sequence[float], start: int, end: int, before: Callable[[int], object] | None = None
    ) -> None:
        """`raise_to` each of `times[start:end]` (increasing) in turn, in fewer steps: a rise that
        passes no queued wake-up only moves the largest time seen, so the rises between two that
        pass one are skipped at once (found by bisection, checked with `raise_to`'s own test).
        `before(k)` is called before the rise to `times[k]` decides anything."""
        lateness, i = self.lateness, start
        while i < end:
            wake = self._wake
            k = bisect_left(times, wake + lateness, i, end)
            while k > i and times[k - 1] - lateness >= wake:
                k -= 1
            while k < end and times[k] - lateness < wake:
                k += 1
            if k == end:
                break
            if before is not None:
                before(k)
            self.raise_to(times[k])
            i = k + 1
        if end > start:
            self.max_seen = times[end - 1]

    def take(self, event: Event, t: float, arrival: int) -> None:
        """Admit one event at the current watermark (which it does not move)."""
        watermark = self.max_seen - self.lateness
        late = t <= watermark
        if late and t < watermark:
            self.counts.late += 1
        self._set_aside_in -= 1
        if not self._set_aside_in:
            self._set_aside_in = self.set_aside_every
            if len(self._in_use) > self.keep_up_to:
                self.set_aside_idle()
        cid = event.customer_id
        state = self.states.get(cid)
        if state is None:
            state = self.states[cid] = CustomerState(cid)
            self._in_use.add(cid)
        elif isinstance(state, bytes):
            state = self.states[cid] = taken_back(state)
            self._in_use.add(cid)
        out: list[Decision] = []
        if not self.engine.admit(state, event, None, watermark, out, t):
            self.counts.duplicates += 1
            return
        if state.pending is not None:
            queue = self._in_order
            if not queue or queue[-1][0] <= t:
                queue.append((t, arrival, cid))
            else:
                heapq.heappush(self._out_of_order, (t, arrival, cid))
            if t < self._wake:
                self._wake = t
        if out or late or event.type in DECIDED_ON_ARRIVAL:
            due = state.next_timer()
            self._after(cid, out, t, ON_ARRIVAL, arrival, _NEVER if due is None else due)

    def advance_to(self, upto: float) -> None:
        in_order, out_of_order, timers = self._in_order, self._out_of_order, self._timers
        timer_at, states = self._timer_at, self.states
        run_until = self.engine.run_until
        heappop = heapq.heappop
        next_queued = self._next_queued
        while True:
            # the earliest wake-up: a queued event, or a timer
            head = next_queued()
            if head is not None and head[0] <= upto and (not timers or head[0] <= timers[0][0]):
                if in_order and head is in_order[0]:
                    in_order.popleft()
                else:
                    heappop(out_of_order)
                when, tie, cid = head
                kind = QUEUED_EVENT
                entry = states[cid]
                if isinstance(entry, bytes):
                    continue  # set aside with nothing buffered: applied already
                state = entry
                pending = state.pending
                if pending is None or pending[0][0] > upto:
                    continue  # applied already, with an earlier wake-up of this customer
            elif timers and timers[0][0] <= upto:
                when, cid = heappop(timers)
                if timer_at.get(cid) != when:
                    continue  # a timer that moved or went: its entry is out of date
                del timer_at[cid]
                kind, tie = TIMER, cid  # type: ignore[assignment]  # a customer id breaks ties between timers
                entry = states[cid]
                if isinstance(entry, bytes):
                    continue  # set aside without timers: this one went
                state = entry
            else:
                first = head[0] if head is not None else _NEVER
                self._wake = timers[0][0] if timers and timers[0][0] < first else first
                return
            out: list[Decision] = []
            due = run_until(state, upto, None, out)
            if out:
                self._hand_out(out, when, kind, tie)
            if due != _NEVER:
                self._queue_timer(cid, due)

    def _next_queued(self) -> tuple[float, int, str] | None:
        """The earliest queued event: the plain queue's head or the heap's."""
        in_order, out_of_order = self._in_order, self._out_of_order
        if in_order:
            head = in_order[0]
            return out_of_order[0] if out_of_order and out_of_order[0] < head else head
        return out_of_order[0] if out_of_order else None

    def finish(self, until: float | None = None) -> None:
        """Stop the clock at the last event (or `until`): everything due by then is decided."""
        self.advance_to(until if until is not None else self.max_seen)

    def pending_timers(self) -> int:
        return sum(len(s.timers or ()) for s in self.states.values() if not isinstance(s, bytes))

    def customer_states(self) -> Iterator[CustomerState]:
        """Every customer's state, those set aside read back."""
        for state in self.states.values():
            yield taken_back(state) if isinstance(state, bytes) else state

    def set_aside_idle(self) -> None:
        """Keep every state in use that is idle (nothing applied for `idle_after` seconds of event
        time, no event buffered, no timer) as bytes."""
        horizon = self.max_seen - self.lateness - self.idle_after
        states, in_use = self.states, self._in_use
        idle = []
        for cid in in_use:
            state = states[cid]
            if isinstance(state, bytes) or state.cursor >= horizon or state.pending is not None or state.timers:
                continue
            states[cid] = set_aside(state)
            idle.append(cid)
        in_use.difference_update(idle)

    def _after(self, cid: str, decisions: list[Decision], when: float, kind: int, tie: int | str, due: float) -> None:
        """Hand out the decisions of one wake-up, and queue the customer's earliest timer (`due`)."""
        if decisions:
            self._hand_out(decisions, when, kind, tie)
        if due != _NEVER:
            self._queue_timer(cid, due)

    def _queue_timer(self, cid: str, due: float) -> None:
        """Queue the customer's earliest timer, unless an entry as early stands already."""
        current = self._timer_at.get(cid)
        if current is None or due < current:
            self._timer_at[cid] = due
            heapq.heappush(self._timers, (due, cid))
            if due < self._wake:
                self._wake = due

    def _hand_out(self, decisions: list[Decision], when: float, kind: int, tie: int | str) -> None:
        self.position = (when, kind, tie)
        outcomes, sink = self.counts.outcomes, self.sink
        for decision in decisions:
            outcomes[(decision.trigger, decision.outcome, decision.reason or "-")] += 1
            sink(decision)
