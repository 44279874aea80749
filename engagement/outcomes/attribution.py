"""The pure part of the report: decisions and what followed them in, one row per trigger out.

- A **conversion** is an `order.placed` by the customer within the trigger's attribution window
  after a decision (`attribution:`, 24 h by default), credited to the latest such decision only,
  with the order's total as revenue. The decisions that count are sends and holdout suppressions
  (`suppress`, reason `holdout`): the held-out customers' orders are the baseline, what would have
  happened anyway. For a browse reminder, an order that holds the viewed product is also a
  **product** conversion.
- A **reply** (text or button) within the window after a send is credited to the latest send;
  a reply that is an opt-out keyword (STOP, 退訂, ...) is an **opt-out**, a "not me" tap a **not me**.
- Provider **statuses** by send key: delivered (or read), read, failed with its code.
- **Channels** (from a runtime's deliveries): each send counts on every channel it was called on,
  each move to the next channel with its reason, and the channel(s) that delivered it; a send
  delivered on two channels is a `delivered_twice`. A replay knows only the channel chosen first.

The uplift is the difference of the conversion rates with a two-proportion 95 % interval, and
of the revenue per recipient with a bootstrap one; the incremental orders and revenue are those
times the sends; "bought anyway" is the holdout's rate times the sends.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engagement.core.answers import NOT_ME_PAYLOADS
from engagement.core.decisions import HOLDOUT
from engagement.core.engine import Engine
from engagement.events import CHANNELS
from engagement.outcomes.answers import REPLY_OUTCOMES, answer_rows
from engagement.outcomes.deliveries import Delivery
from engagement.outcomes.intervals import mean_difference, proportions
from engagement.outcomes.records import Decided, Followed, StatusSeen

BROWSE_KIND = "browse_abandonment"  # its conversions are also counted by the viewed product


@dataclass
class Tally:
    """The figures of one trigger, or of one configuration version of it."""

    decided: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    failure_codes: Counter[str] = field(default_factory=Counter)
    replied: int = 0
    opted_out: int = 0
    not_me: int = 0
    conversions: int = 0
    product_conversions: int = 0
    revenue: float = 0.0
    holdout: int = 0
    holdout_conversions: int = 0
    holdout_revenue: float = 0.0
    paid: list[float] = field(default_factory=list)  # revenue of each converted send
    holdout_paid: list[float] = field(default_factory=list)
    on_channel: Counter[str] = field(default_factory=Counter)  # sends tried on each channel (claimed for a call)
    moved_on: dict[str, Counter[str]] = field(default_factory=dict)  # channel -> why -> sends
    delivered_on: Counter[str] = field(default_factory=Counter)
    delivered_twice: int = 0

    def channels_json(self, known: bool) -> list[dict[str, object]]:
        """Per channel: the sends tried on it, why they moved on from it, how many it delivered."""
        return [
            {
                "channel": channel,
                "tried": self.on_channel[channel],
                "moved_on": dict(sorted(self.moved_on.get(channel, Counter()).items())) if known else None,
                "delivered": self.delivered_on[channel] if known else None,
            }
            for channel in CHANNELS
            if self.on_channel[channel] or self.delivered_on[channel]
        ]

    def as_json(self, seed: str, statuses_known: bool, by_product: bool) -> dict[str, object]:
        sent, holdout = self.sent, self.holdout
        uplift = proportions(self.conversions, sent, self.holdout_conversions, holdout)
        revenue_uplift = mean_difference(self.paid, sent, self.holdout_paid, holdout, seed)
        holdout_rate = self.holdout_conversions / holdout if holdout else None
        return {
            "decided": self.decided,
            "sent": sent,
            "delivered": self.delivered if statuses_known else None,
            "read": self.read if statuses_known else None,
            "failed": self.failed if statuses_known else None,
            "failure_codes": dict(sorted(self.failure_codes.items())),
            "replied": self.replied,
            "opted_out": self.opted_out,
            "not_me": self.not_me,
            "conversions": self.conversions,
            "product_conversions": self.product_conversions if by_product else None,
            "conversion_rate": self.conversions / sent if sent else None,
            "revenue": round(self.revenue, 2),
            "holdout": holdout,
            "holdout_conversions": self.holdout_conversions,
            "holdout_conversion_rate": holdout_rate,
            "holdout_revenue": round(self.holdout_revenue, 2),
            "uplift": None if uplift is None else uplift.as_json(),
            "incremental_orders": None if uplift is None else uplift.estimate * sent,
            "revenue_uplift": None if revenue_uplift is None else revenue_uplift.as_json(),
            "incremental_revenue": None if revenue_uplift is None else round(revenue_uplift.estimate * sent, 2),
            "bought_anyway": None if holdout_rate is None else holdout_rate * sent,
            "channels": self.channels_json(statuses_known),
            "delivered_twice": self.delivered_twice if statuses_known else None,
        }


@dataclass
class TriggerRows:
    trigger: str
    kind: str
    category: str
    total: Tally = field(default_factory=Tally)
    versions: dict[str, Tally] = field(default_factory=dict)
    per_day: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # day: sent, conv.

    def tallies(self, version: str) -> tuple[Tally, Tally]:
        return self.total, self.versions.setdefault(version, Tally())

    def as_json(self, statuses_known: bool) -> dict[str, object]:
        by_product = self.kind == BROWSE_KIND
        return {
            "trigger": self.trigger,
            "kind": self.kind,
            "category": self.category,
            "config_versions": sorted(self.versions),
            **self.total.as_json(self.trigger, statuses_known, by_product),
            "per_day": [{"day": day, "sent": s, "conversions": c} for day, (s, c) in sorted(self.per_day.items())],
            "versions": [
                {"config_version": version, **tally.as_json(f"{self.trigger}/{version}", statuses_known, by_product)}
                for version, tally in sorted(self.versions.items())
            ],
        }


def report(
    engine: Engine,
    decisions: Iterable[Decided],
    followed: Followed,
    statuses: Iterable[StatusSeen] | None = None,
    since: float | None = None,
    deliveries: dict[str, Delivery] | None = None,
) -> list[dict[str, Any]]:
    """One JSON object per trigger (sorted by trigger), as `engagement report --json` prints it.
    `statuses` None: delivery is not known (a replay). `since`: decisions before it are left out.
    `deliveries`: where each send went (see `engagement.outcomes.deliveries`)."""
    unique = {d.key: d for d in decisions if since is None or d.at >= since}
    answers = answer_rows(unique.values())
    unique = {key: d for key, d in unique.items() if d.outcome not in REPLY_OUTCOMES}
    ordered = sorted(unique.values(), key=lambda d: (d.at, d.key))
    rows: dict[str, TriggerRows] = {}
    counted: dict[str, list[tuple[float, str]]] = defaultdict(list)  # customer -> (at, key), sends and holdouts
    for d in ordered:
        row = rows.get(d.trigger)
        if row is None:
            spec = engine.all_specs.get(d.trigger)
            kind, category = (spec.kind, spec.category) if spec is not None else ("", "")
            row = rows[d.trigger] = TriggerRows(d.trigger, kind, category)
        for tally in row.tallies(d.config_version):
            tally.decided += 1
            tally.sent += d.outcome == "send"
            tally.holdout += d.outcome == "suppress" and d.reason == HOLDOUT
        if d.outcome == "send":
            row.per_day[_day(d.at)][0] += 1
        if d.outcome == "send" or (d.outcome == "suppress" and d.reason == HOLDOUT):
            counted[d.customer_id].append((d.at, d.key))
    statuses_known = statuses is not None
    if statuses is not None:
        _delivery(rows, unique, statuses, deliveries or {})
    _channels(rows, unique, deliveries)
    windows = {spec.id: spec.attribution.total_seconds() for spec in engine.all_specs.values()}
    _conversions(rows, unique, counted, followed, windows)
    _replies(rows, unique, counted, followed, windows, _opt_out_words(engine))
    for trigger in answers:
        if trigger not in rows:
            spec = engine.all_specs.get(trigger)
            rows[trigger] = TriggerRows(trigger, spec.kind if spec else "", spec.category if spec else "")
    return [{**rows[t].as_json(statuses_known), "answers": answers.get(t)} for t in sorted(rows)]


def browse_arming_ids(engine: Engine, decisions: Iterable[Decided]) -> frozenset[str]:
    """The page views whose products the report needs: those that armed browse sends or holdouts."""
    browse = {spec.id for spec in engine.all_specs.values() if spec.kind == BROWSE_KIND}
    return frozenset(d.event_id for d in decisions if d.trigger in browse and d.outcome != "cancel")


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def _opt_out_words(engine: Engine) -> frozenset[str]:
    """Every trigger's opt-out keywords: a STOP after a utility message is an opt-out too."""
    words: set[str] = set(engine.opt_out_keywords)
    for spec in engine.all_specs.values():
        words.update(kw.casefold() for kw in getattr(spec.policies, "opt_out_keywords", ()))
    return frozenset(words)


def _delivery(
    rows: dict[str, TriggerRows],
    decisions: dict[str, Decided],
    statuses: Iterable[StatusSeen],
    deliveries: dict[str, Delivery],
) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    codes: dict[str, str] = {}
    for status in statuses:
        seen[status.key].add(status.status)
        if status.status == "failed" and status.code is not None:
            codes.setdefault(status.key, status.code)
    for key, delivery in deliveries.items():
        if delivery.delivered:  # a channel without delivery reports (LINE) counts an accepted push
            seen[key].add("delivered")
    for key, got in seen.items():
        d = decisions.get(key)
        if d is None or d.outcome != "send":
            continue
        for tally in rows[d.trigger].tallies(d.config_version):
            tally.delivered += bool(got & {"delivered", "read"})
            tally.read += "read" in got
            if "failed" in got:
                tally.failed += 1
                tally.failure_codes[codes.get(key, "unknown")] += 1


def _channels(
    rows: dict[str, TriggerRows], decisions: dict[str, Decided], deliveries: dict[str, Delivery] | None
) -> None:
    for d in decisions.values():
        if d.outcome != "send":
            continue
        delivery = (deliveries or {}).get(d.key) or Delivery(d.channel)
        for tally in rows[d.trigger].tallies(d.config_version):
            for channel, why in delivery.tried:
                tally.on_channel[channel] += 1
                tally.moved_on.setdefault(channel, Counter())[why] += 1
            tally.on_channel[delivery.channel] += 1
            tally.delivered_on.update(delivery.delivered)
            tally.delivered_twice += delivery.twice


def _latest_within(
    candidates: list[tuple[float, str]],
    at: float,
    decisions: dict[str, Decided],
    windows: dict[str, float],
    sends: bool,
) -> Decided | None:
    """The latest decision at or before `at` whose trigger's window covers `at` (sends only: `sends`)."""
    for index in range(bisect_right(candidates, (at, "\uffff")) - 1, -1, -1):
        d = decisions[candidates[index][1]]
        if sends and d.outcome != "send":
            continue
        if at - d.at <= windows.get(d.trigger, 0.0):
            return d
    return None


def _conversions(
    rows: dict[str, TriggerRows],
    decisions: dict[str, Decided],
    counted: dict[str, list[tuple[float, str]]],
    followed: Followed,
    windows: dict[str, float],
) -> None:
    converted: set[str] = set()
    by_product: set[str] = set()
    paid: dict[str, float] = defaultdict(float)
    for order in sorted(followed.orders, key=lambda o: (o.at, o.customer_id, o.total)):
        candidates = counted.get(order.customer_id)
        d = _latest_within(candidates, order.at, decisions, windows, sends=False) if candidates else None
        if d is None:
            continue
        row = rows[d.trigger]
        first = d.key not in converted
        converted.add(d.key)
        paid[d.key] += order.total
        product = followed.viewed.get(d.event_id)
        newly_by_product = row.kind == BROWSE_KIND and product in order.products and d.key not in by_product
        if newly_by_product:
            by_product.add(d.key)
        if d.outcome == "send":
            row.per_day[_day(order.at)][1] += first
        for tally in row.tallies(d.config_version):
            if d.outcome == "send":
                tally.conversions += first
                tally.revenue += order.total
                tally.product_conversions += newly_by_product
            else:
                tally.holdout_conversions += first
                tally.holdout_revenue += order.total
    for key in sorted(paid):
        d = decisions[key]
        for tally in rows[d.trigger].tallies(d.config_version):
            (tally.paid if d.outcome == "send" else tally.holdout_paid).append(paid[key])


def _replies(
    rows: dict[str, TriggerRows],
    decisions: dict[str, Decided],
    counted: dict[str, list[tuple[float, str]]],
    followed: Followed,
    windows: dict[str, float],
    opt_out_words: frozenset[str],
) -> None:
    marks: dict[str, set[str]] = defaultdict(set)
    for reply in followed.replies:
        candidates = counted.get(reply.customer_id)
        d = _latest_within(candidates, reply.at, decisions, windows, sends=True) if candidates else None
        if d is None:
            continue
        marks[d.key].add("replied")
        if reply.text is not None and reply.text.strip().casefold() in opt_out_words:
            marks[d.key].add("opted_out")
        if reply.button is not None and reply.button.strip().casefold() in opt_out_words:
            marks[d.key].add("opted_out")
        if reply.button in NOT_ME_PAYLOADS:
            marks[d.key].add("not_me")
    for key, got in marks.items():
        d = decisions[key]
        for tally in rows[d.trigger].tallies(d.config_version):
            tally.replied += "replied" in got
            tally.opted_out += "opted_out" in got
            tally.not_me += "not_me" in got
