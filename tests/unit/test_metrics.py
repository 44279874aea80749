"""`/metrics` from prometheus_client: exact values, latency histograms and the process metrics."""

from __future__ import annotations

import asyncio
import io

from engagement.live.metrics import PROVIDER_CALL, SEND_DELAY, count_decisions, standard_metrics
from engagement.live.sender import deliver
from engagement.providers.base import OutboundMessage, SendReceipt, TransientError
from engagement.providers.console import ConsoleProvider
from tests.scenario import Events, engine_for, replay


def sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {series} in the metrics")


def test_values_are_exact_however_large() -> None:
    metrics = standard_metrics()
    metrics.inc("engagement_events_total", 1_234_567, result="accepted")
    metrics.inc("engagement_events_total", result="accepted")
    metrics.set("engagement_watermark_seconds", 1_796_020_000.125)
    text = metrics.render()
    assert sample(text, 'engagement_events_total{result="accepted"}') == 1_234_568
    assert sample(text, "engagement_watermark_seconds") == 1_796_020_000.125
    assert metrics.get("engagement_events_total", result="accepted") == 1_234_568
    assert "# TYPE engagement_events_total counter" in text
    assert sample(text, "process_cpu_seconds_total") > 0
    assert sample(text, "process_resident_memory_bytes") > 0


def test_decisions_are_counted_with_how_late_they_were_made() -> None:
    events = Events()
    events.profile(0)
    events.cart(1)
    events.view(90)
    decisions = replay(events, engine_for())
    assert decisions
    metrics = standard_metrics()
    count_decisions(metrics, decisions, decisions[-1].due_at + 2.0)
    text = metrics.render()
    assert sample(text, "engagement_decision_delay_seconds_count") == len(decisions)
    assert sample(text, 'engagement_decision_delay_seconds_bucket{le="2.5"}') >= 1
    assert sample(text, 'engagement_decision_delay_seconds_bucket{le="1.0"}') < len(decisions)


class Failing:
    name = "failing"

    async def send(self, message: OutboundMessage) -> SendReceipt:
        raise TransientError("503 from the provider")

    async def close(self) -> None:
        return None


MESSAGE = OutboundMessage("k1", "cart_idle", "c1", "+886912345678", "zh-TW", "marketing", "hi")


def test_a_first_provider_call_observes_the_send_delay_and_every_call_its_duration() -> None:
    metrics = standard_metrics()
    sent = asyncio.run(deliver(ConsoleProvider(io.StringIO()), MESSAGE, 100.0, 200.0, 1, metrics, due_at=97.0))
    assert sent.status == "sent"
    retried = asyncio.run(deliver(Failing(), MESSAGE, 130.0, 200.0, 2, metrics, due_at=97.0))
    assert retried.status == "retry"
    text = metrics.render()
    assert sample(text, f"{SEND_DELAY}_count") == 1  # the retry is no first call
    assert sample(text, f"{SEND_DELAY}_sum") == 3.0
    assert sample(text, f'{PROVIDER_CALL}_count{{result="sent"}}') == 1
    assert sample(text, f'{PROVIDER_CALL}_count{{result="TransientError"}}') == 1
