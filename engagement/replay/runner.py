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

from engagement.core.decisions import Decision, Step
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
        watermark = self.max_seen - self.lateness
        if t < watermark:
            self.counts.late += 1
        cid = event.customer_id
        step = self.engine.handle(self.states.get(cid), event, None, watermark, t)
        if step.duplicate:
            self.counts.duplicates += 1
        elif step.state.pending:
            heapq.heappush(self._events, (t, cid))
        self._after(cid, step)
        if t > self.max_seen:
            self.max_seen = t
            self.advance_to(t - self.lateness)

    def advance_to(self, upto: float) -> None:
        events, timers, timer_at, states, engine = self._events, self._timers, self._timer_at, self.states, self.engine
        while True:
            if events and events[0][0] <= upto and (not timers or events[0][0] <= timers[0][0]):
                _, cid = heapq.heappop(events)
                state = states[cid]
                if state.pending and state.pending[0][0] <= upto:
                    self._after(cid, engine.advance(state, upto))
            elif timers and timers[0][0] <= upto:
                due, cid = heapq.heappop(timers)
                if timer_at.get(cid) == due:
                    del timer_at[cid]
                    self._after(cid, engine.advance(states[cid], upto))
            else:
                return

    def finish(self, until: float | None = None) -> None:
        """Stop the clock at the last event (or `until`): everything due by then is decided."""
        self.advance_to(until if until is not None else self.max_seen)

    def pending_timers(self) -> int:
        return sum(len(s.timers or ()) for s in self.states.values())

    def _after(self, cid: str, step: Step) -> None:
        state = self.states[cid] = step.state
        if step.decisions:
            for decision in step.decisions:
                self.counts.outcomes[(decision.trigger, decision.outcome, decision.reason or "-")] += 1
                self.sink(decision)
        if not state.timers:
            return
        due = state.next_timer()
        if due is not None:
            current = self._timer_at.get(cid)
            if current is None or due < current:
                self._timer_at[cid] = due
                heapq.heappush(self._timers, (due, cid))
