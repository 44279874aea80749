"""Drives the engine over a stream of events on the replay watermark, with two heaps of wake-ups.

The watermark is the largest `occurred_at` seen minus the allowed lateness. Buffered events
wait in a small heap that spans only the lateness (ordered by event time); timers wait in a
second heap with one live entry per customer (its earliest timer). Both are drained in time
order as the watermark passes them, events before timers at equal times.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.events import Event


@dataclass
class ReplayCounts:
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0
    after_until: int = 0
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)


_DECIDED_ON_ARRIVAL = frozenset({"login.succeeded", "login.failed"})


class Replayer:
    def __init__(self, engine: Engine, sink: Callable[[Decision], object]) -> None:
        self.engine = engine
        self.sink = sink
        self.lateness = engine.settings.allowed_lateness
        self.states: dict[str, CustomerState] = {}
        self.counts = ReplayCounts()
        self.max_seen = float("-inf")
        self._events: list[tuple[float, str]] = []
        self._timers: list[tuple[float, str]] = []
        self._timer_at: dict[str, float] = {}

    @property
    def watermark(self) -> float:
        return self.max_seen - self.lateness

    def feed(self, event: Event) -> None:
        t = event.occurred_at.timestamp()
        if t > self.max_seen and event.type in _DECIDED_ON_ARRIVAL:
            # decided at once: whatever the watermark passes first (a timer of this customer due
            # before the login) is decided first, as the live runtimes' clock would have
            self.max_seen = t
            self.advance_to(t - self.lateness)
        watermark = self.max_seen - self.lateness
        if t < watermark:
            self.counts.late += 1
        cid = event.customer_id
        state = self.states.get(cid)
        if state is None:
            state = self.states[cid] = CustomerState(cid)
        out: list[Decision] = []
        if not self.engine.admit(state, event, None, watermark, out, t):
            self.counts.duplicates += 1
            return
        if state.pending is not None:
            heapq.heappush(self._events, (t, cid))
        if out or t <= watermark or event.type in _DECIDED_ON_ARRIVAL:
            self._after(cid, state, out)
        if t > self.max_seen:
            self.max_seen = t
            self.advance_to(t - self.lateness)

    def advance_to(self, upto: float) -> None:
        events, timers, timer_at, states = self._events, self._timers, self._timer_at, self.states
        run_until, after = self.engine.run_until, self._after
        heappop = heapq.heappop
        while True:
            if events and events[0][0] <= upto and (not timers or events[0][0] <= timers[0][0]):
                cid = heappop(events)[1]
                state = states[cid]
                pending = state.pending
                if pending is None or pending[0][0] > upto:
                    continue
            elif timers and timers[0][0] <= upto:
                due, cid = heappop(timers)
                if timer_at.get(cid) != due:
                    continue
                del timer_at[cid]
                state = states[cid]
            else:
                return
            out: list[Decision] = []
            run_until(state, upto, None, out)
            after(cid, state, out)

    def finish(self, until: float | None = None) -> None:
        """Stop the clock at the last event (or `until`): everything due by then is decided."""
        self.advance_to(until if until is not None else self.max_seen)

    def pending_timers(self) -> int:
        return sum(len(s.timers or ()) for s in self.states.values())

    def _after(self, cid: str, state: CustomerState, decisions: list[Decision]) -> None:
        if decisions:
            outcomes, sink = self.counts.outcomes, self.sink
            for decision in decisions:
                outcomes[(decision.trigger, decision.outcome, decision.reason or "-")] += 1
                sink(decision)
        timers = state.timers
        if not timers:
            return
        due = timers[0].due if len(timers) == 1 else min(t.due for t in timers)
        current = self._timer_at.get(cid)
        if current is None or due < current:
            self._timer_at[cid] = due
            heapq.heappush(self._timers, (due, cid))
