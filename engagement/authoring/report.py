"""`engagement report EVENTS.jsonl`: did it work? Conversions and revenue per trigger, and the uplift
over the holdout group with its 95 % interval, from a replay of recorded events.

A conversion is an `order.placed` by the customer within the trigger's attribution window after
a decision (`attribution:` in the trigger file, 24 h by default), credited to the latest such
decision only. The decisions that count are sends and holdout suppressions: the held-out
customers' orders are the baseline, what would have happened anyway. The uplift is the
difference of the two conversion rates, with a two-proportion (Wald) 95 % interval; the
incremental orders are the uplift times the sends, and "bought anyway" the holdout rate times
the sends.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engagement.core.decisions import HOLDOUT, Decision
from engagement.core.engine import Engine
from engagement.decode import decode_event
from engagement.events import OrderPlaced
from engagement.replay.command import replay_file
from engagement.timefmt import parse_rfc3339

Z95 = 1.959963984540054

# (key, trigger, customer, outcome, reason, at, config version): what the report keeps of a decision
Decided = tuple[str, str, str, str, str | None, float, str]


def decided(decision: Decision) -> Decided:
    return (
        decision.key,
        decision.trigger,
        decision.customer_id,
        decision.outcome,
        decision.reason,
        decision.at,
        decision.config_version,
    )


@dataclass(frozen=True)
class Order:
    customer_id: str
    at: float
    total: float


@dataclass
class Interval:
    estimate: float
    low: float
    high: float


@dataclass
class TriggerOutcome:
    trigger: str
    versions: set[str] = field(default_factory=set)
    decided: int = 0
    sent: int = 0
    conversions: int = 0
    revenue: float = 0.0
    holdout: int = 0
    holdout_conversions: int = 0
    holdout_revenue: float = 0.0
    delivered: int | None = None  # sends WhatsApp delivered (or read), when statuses are known
    read: int | None = None

    @property
    def rate(self) -> float | None:
        return self.conversions / self.sent if self.sent else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_conversions / self.holdout if self.holdout else None

    @property
    def uplift(self) -> Interval | None:
        """Conversion-rate points (as fractions) the sends added over the holdout, with a 95 % interval."""
        p1, p2 = self.rate, self.holdout_rate
        if p1 is None or p2 is None:
            return None
        error = math.sqrt(p1 * (1 - p1) / self.sent + p2 * (1 - p2) / self.holdout)
        estimate = p1 - p2
        return Interval(estimate, estimate - Z95 * error, estimate + Z95 * error)

    def as_json(self) -> dict[str, object]:
        uplift = self.uplift
        return {
            "trigger": self.trigger,
            "config_versions": sorted(self.versions),
            "decided": self.decided,
            "sent": self.sent,
            "conversions": self.conversions,
            "conversion_rate": self.rate,
            "revenue": round(self.revenue, 2),
            "delivered": self.delivered,
            "read": self.read,
            "holdout": self.holdout,
            "holdout_conversions": self.holdout_conversions,
            "holdout_conversion_rate": self.holdout_rate,
            "uplift": None if uplift is None else {"estimate": uplift.estimate, "low": uplift.low, "high": uplift.high},
            "incremental_orders": None if uplift is None else uplift.estimate * self.sent,
            "bought_anyway": None if self.holdout_rate is None else self.holdout_rate * self.sent,
        }


def from_json(item: dict[str, object]) -> TriggerOutcome:
    """A row of the JSON report (GET /v1/report) back as a `TriggerOutcome`."""

    def whole(name: str) -> int:
        value = item.get(name)
        return int(value) if isinstance(value, int | float) else 0

    def maybe(name: str) -> int | None:
        value = item.get(name)
        return int(value) if isinstance(value, int | float) else None

    versions = item.get("config_versions")
    revenue = item.get("revenue")
    return TriggerOutcome(
        str(item.get("trigger", "")),
        {str(v) for v in versions} if isinstance(versions, list) else set(),
        whole("decided"),
        whole("sent"),
        whole("conversions"),
        float(revenue) if isinstance(revenue, int | float) else 0.0,
        whole("holdout"),
        whole("holdout_conversions"),
        0.0,
        maybe("delivered"),
        maybe("read"),
    )


def orders_in(events: Path) -> list[Order]:
    """Every accepted `order.placed` of the file (other lines are not decoded)."""
    found: list[Order] = []
    with events.open("rb") as handle:
        for raw in handle:
            if b"order.placed" not in raw:
                continue
            event = decode_event(raw)
            if isinstance(event, OrderPlaced):
                found.append(Order(event.customer_id, event.occurred_at.timestamp(), event.total))
    return found


Counted = dict[str, list[tuple[float, str, str]]]  # customer -> (decided at, trigger, "sent" or "holdout")


def outcomes(
    engine: Engine,
    decisions: Iterable[Decided],
    orders: Iterable[Order],
    statuses: Iterable[tuple[str, str]] | None = None,
) -> list[TriggerOutcome]:
    """Per trigger: what was decided, the orders credited to sends and to holdout decisions, and,
    given the provider's statuses by send key, how many sends were delivered and read."""
    per_trigger: dict[str, TriggerOutcome] = {}
    counted: Counted = defaultdict(list)
    sent_keys: dict[str, str] = {}
    for key, trigger, customer, outcome, reason, at, version in decisions:
        row = per_trigger.setdefault(trigger, TriggerOutcome(trigger))
        row.decided += 1
        row.versions.add(version)
        if outcome == "send":
            row.sent += 1
            sent_keys[key] = trigger
            counted[customer].append((at, trigger, "sent"))
        elif outcome == "suppress" and reason == HOLDOUT:
            row.holdout += 1
            counted[customer].append((at, trigger, "holdout"))
    if statuses is not None:
        _delivery(per_trigger, sent_keys, statuses)
    windows = {spec.id: spec.attribution.total_seconds() for spec in engine.all_specs.values()}
    _attribute(per_trigger, counted, orders, windows)
    return [per_trigger[t] for t in sorted(per_trigger)]


def _delivery(
    per_trigger: dict[str, TriggerOutcome], sent_keys: dict[str, str], statuses: Iterable[tuple[str, str]]
) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for key, status in statuses:
        seen[key].add(status)
    delivered: dict[str, int] = defaultdict(int)
    read: dict[str, int] = defaultdict(int)
    for key, trigger in sent_keys.items():
        got = seen.get(key, set())
        delivered[trigger] += bool(got & {"delivered", "read"})
        read[trigger] += "read" in got
    for trigger, row in per_trigger.items():
        row.delivered, row.read = delivered[trigger], read[trigger]


def _attribute(
    per_trigger: dict[str, TriggerOutcome], counted: Counted, orders: Iterable[Order], windows: dict[str, float]
) -> None:
    """Each order to the latest send or holdout decision of its customer whose window covers it."""
    for decided_for in counted.values():
        decided_for.sort()
    converted: set[tuple[str, int]] = set()
    for order in orders:
        candidates = counted.get(order.customer_id)
        if not candidates:
            continue
        for index in range(bisect_right(candidates, (order.at, "\uffff", "\uffff")) - 1, -1, -1):
            at, trigger, group = candidates[index]
            if order.at - at <= windows.get(trigger, 0.0):
                row = per_trigger[trigger]
                first = (order.customer_id, index) not in converted
                converted.add((order.customer_id, index))
                if group == "sent":
                    row.conversions += first
                    row.revenue += order.total
                else:
                    row.holdout_conversions += first
                    row.holdout_revenue += order.total
                break


def report_events(engine: Engine, events: Path, jobs: int = 1) -> list[TriggerOutcome]:
    """From a replay of recorded events (no provider statuses: delivery is not known)."""
    decisions: list[Decided] = []
    replay_file(engine, events, decided, decisions.append, None, jobs=jobs)
    return outcomes(engine, decisions, orders_in(events))


def report_stored(
    engine: Engine, decision_lines: Iterable[str], order_lines: Iterable[str], statuses: Iterable[tuple[str, str]]
) -> list[TriggerOutcome]:
    """From what a runtime stored: its decision lines, the orders it took, the provider's statuses."""
    decisions: list[Decided] = []
    for line in decision_lines:
        record = json.loads(line)
        if record.get("erased"):
            continue
        at = parse_rfc3339(record["at"])
        decisions.append(
            (record["key"], record["trigger"], record["customer_id"], record["outcome"], record["reason"], at,
             record["config_version"])
        )  # fmt: skip
    orders = []
    for line in order_lines:
        event = decode_event(line)
        if isinstance(event, OrderPlaced):
            orders.append(Order(event.customer_id, event.occurred_at.timestamp(), event.total))
    return outcomes(engine, decisions, orders, list(statuses))


def describe(rows: list[TriggerOutcome]) -> list[str]:
    header = (
        f"{'trigger':22} {'decided':>9} {'sent':>8} {'deliv %':>7} {'read %':>7} {'conv %':>7} {'revenue':>12} "
        f"{'holdout':>8} {'conv %':>7} {'uplift (95 % interval)':>28} {'incr. orders':>12} {'bought anyway':>13}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        uplift = row.uplift
        lift = (
            "-"
            if uplift is None
            else f"{100 * uplift.estimate:+.1f} pts [{100 * uplift.low:+.1f}, {100 * uplift.high:+.1f}]"
        )
        incremental = "-" if uplift is None else f"{uplift.estimate * row.sent:,.0f}"
        anyway = "-" if row.holdout_rate is None else f"{row.holdout_rate * row.sent:,.0f}"
        lines.append(
            f"{row.trigger:22} {row.decided:>9,} {row.sent:>8,} {_share(row.delivered, row.sent):>7} "
            f"{_share(row.read, row.sent):>7} {_percent(row.rate):>7} {row.revenue:>12,.0f} "
            f"{row.holdout:>8,} {_percent(row.holdout_rate):>7} {lift:>28} {incremental:>12} {anyway:>13}"
        )
    return lines


def as_json(rows: list[TriggerOutcome]) -> str:
    return json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=1)


def _share(part: int | None, whole: int) -> str:
    return "-" if part is None or not whole else f"{100 * part / whole:.1f}"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}"
