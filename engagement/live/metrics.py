"""Counters and gauges rendered in the Prometheus text format for `GET /metrics`."""

from __future__ import annotations

from collections import defaultdict

from engagement.core.decisions import Decision


class Metrics:
    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._values[name]
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[name][tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float:
        return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(set(self._help) | set(self._values)):
            kind, text = self._help.get(name, ("untyped", ""))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in sorted(self._values.get(name, {}).items()):
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value:g}" if labels else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def count_decisions(metrics: Metrics, decisions: list[Decision]) -> None:
    for decision in decisions:
        metrics.inc(
            "engagement_decisions_total",
            trigger=decision.trigger,
            outcome=decision.outcome,
            reason=decision.reason or "",
        )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def standard_metrics() -> Metrics:
    metrics = Metrics()
    metrics.describe("engagement_events_total", "counter", "events by result: accepted, rejected, duplicate, late")
    metrics.describe("engagement_decisions_total", "counter", "decisions by trigger, outcome and reason")
    metrics.describe("engagement_sends_total", "counter", "provider calls by result")
    metrics.describe("engagement_pending_timers", "gauge", "customers with a pending timer or buffered event")
    metrics.describe("engagement_assigned_partitions", "gauge", "input partitions this worker holds")
    metrics.describe("engagement_watermark_seconds", "gauge", "the live watermark, seconds since the epoch")
    return metrics
