"""The runtimes' metrics for `GET /metrics`, kept and rendered by `prometheus_client`.

`Metrics` names a metric by its full exposed name (`engagement_sends_total`) and creates it on
first use with the labels of that use; `describe` sets its type, help and (for a histogram)
buckets beforehand. Values are exact (no rounding in the text), and every registry also carries
the standard process metrics (CPU seconds, resident memory, open files, start time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

from engagement.core.decisions import Decision

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin of every counter

Kind = Literal["counter", "gauge", "histogram"]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

DECISION_DELAY = "engagement_decision_delay_seconds"
SEND_DELAY = "engagement_send_delay_seconds"
PROVIDER_CALL = "engagement_provider_call_seconds"

_Metric = Counter | Gauge | Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._kinds: dict[str, tuple[Kind, str, Sequence[float] | None]] = {}
        self._metrics: dict[str, _Metric] = {}
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def describe(self, name: str, kind: Kind, text: str, buckets: Sequence[float] | None = None) -> None:
        self._kinds[name] = (kind, text, buckets)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        metric = self._metric(name, "counter", labels)
        child = metric.labels(**labels) if labels else metric
        child.inc(amount)  # type: ignore[union-attr]
        key = (name, tuple(sorted(labels.items())))
        self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        metric = self._metric(name, "gauge", labels)
        child = metric.labels(**labels) if labels else metric
        child.set(value)  # type: ignore[union-attr]
        self._values[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        metric = self._metric(name, "histogram", labels)
        child = metric.labels(**labels) if labels else metric
        child.observe(value)  # type: ignore[union-attr]

    def get(self, name: str, **labels: str) -> float:
        """The current value of a counter or gauge series (0 when it has none)."""
        return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        return prometheus_client.generate_latest(self.registry).decode()

    def _metric(self, name: str, kind: Kind, labels: dict[str, str]) -> _Metric:
        metric = self._metrics.get(name)
        if metric is not None:
            return metric
        kind, text, buckets = self._kinds.get(name, (kind, name.replace("_", " "), None))
        names = sorted(labels)
        if kind == "counter":
            metric = Counter(name.removesuffix("_total"), text, names, registry=self.registry)
        elif kind == "gauge":
            metric = Gauge(name, text, names, registry=self.registry)
        else:
            metric = Histogram(name, text, names, registry=self.registry, buckets=buckets or LATENCY_BUCKETS)
        self._metrics[name] = metric
        return metric


def count_decisions(metrics: Metrics, decisions: list[Decision], now: float) -> None:
    """Each decision by trigger, outcome and reason, and how long after it fell due it was made."""
    for decision in decisions:
        metrics.inc(
            "engagement_decisions_total",
            trigger=decision.trigger,
            outcome=decision.outcome,
            reason=decision.reason or "",
        )
        metrics.observe(DECISION_DELAY, max(0.0, now - decision.due_at))


def standard_metrics() -> Metrics:
    metrics = Metrics()
    metrics.describe("engagement_events_total", "counter", "events by result: accepted, rejected, duplicate, late")
    metrics.describe("engagement_decisions_total", "counter", "decisions by trigger, outcome and reason")
    metrics.describe(
        "engagement_decisions_webhook_total",
        "counter",
        "decisions posted to the decisions webhook: delivered, retried, refused, expired",
    )
    metrics.describe(
        "engagement_source_events_total", "counter", "platform webhooks' events by source and result (/v1/sources)"
    )
    metrics.describe("engagement_sends_total", "counter", "provider calls by result")
    metrics.describe("engagement_pending_timers", "gauge", "customers with a pending timer or buffered event")
    metrics.describe("engagement_assigned_partitions", "gauge", "input partitions this worker holds")
    metrics.describe("engagement_watermark_seconds", "gauge", "the live watermark, seconds since the epoch")
    metrics.describe(
        DECISION_DELAY,
        "histogram",
        "seconds from when a decision fell due (the event for one decided on arrival, the timer for the others) "
        "to when it was made",
    )
    metrics.describe(SEND_DELAY, "histogram", "seconds from a send decision to its first provider call")
    metrics.describe(PROVIDER_CALL, "histogram", "seconds a provider call took, by result")
    metrics.describe(
        "engagement_auth_failures_total",
        "counter",
        "requests refused before their handler, by reason: missing, malformed, unknown_key, scope, keys_file_broken",
    )
    return metrics
