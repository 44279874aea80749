"""A provider's status acts on the customer its send was for, and only while that customer still
holds the number: a status never acts on whoever owns the recipient number now."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engagement.embedded.service import EmbeddedService
from engagement.embedded.store import Prepared
from engagement.events import MessageFailed
from engagement.live.http import status_events
from engagement.live.metrics import standard_metrics
from engagement.live.whatsapp_webhook import StatusUpdate
from tests.unit.test_phone_index import NOW, NUMBERS, event, service_in

KEY = "cart_idle-0123456789abcdef01234567"


def sent_to_alice(service: EmbeddedService) -> None:
    """alice holds the first number and a send was decided for her."""
    asyncio.run(service.ingest([event(event_id="a1", customer_id="alice", phone=NUMBERS[0], t=NOW - 900)]))
    batch = Prepared()
    batch.sends.append((KEY, json.dumps({"customer_id": "alice", "to": NUMBERS[0]}), NOW - 800, NOW - 500, "alice"))
    service.store.write(batch, {})


def unreachable(phone: str) -> StatusUpdate:
    return StatusUpdate("wamid.1", "failed", NOW - 100, phone.lstrip("+"), KEY, (131026,), "unreachable")


def test_a_failure_status_acts_on_the_customer_the_send_was_for(tmp_path: Path) -> None:
    service = service_in(tmp_path, [NOW])
    try:
        sent_to_alice(service)
        events = asyncio.run(status_events(service, [unreachable(NUMBERS[0])], standard_metrics()))
        assert [(e.customer_id, e.reason) for e in events if isinstance(e, MessageFailed)] == [("alice", "unreachable")]
    finally:
        service.store.close()


def test_a_status_for_a_number_that_changed_hands_acts_on_nobody(tmp_path: Path) -> None:
    """alice moved to another number and bob took hers: the late failure of alice's send must not
    mark bob unreachable (nor opt him out)."""
    service = service_in(tmp_path, [NOW])
    metrics = standard_metrics()
    try:
        sent_to_alice(service)
        moved = event(event_id="a2", customer_id="alice", phone=NUMBERS[1], t=NOW - 400)
        taken = event(event_id="b1", customer_id="bob", phone=NUMBERS[0], t=NOW - 300)
        assert asyncio.run(service.ingest([moved, taken])).refused == []
        assert asyncio.run(status_events(service, [unreachable(NUMBERS[0])], metrics)) == []
        unknown = StatusUpdate("wamid.2", "failed", NOW, NUMBERS[0].lstrip("+"), "not-ours", (131050,), "opted_out")
        assert asyncio.run(status_events(service, [unknown], metrics)) == []
        ignored = 'engagement_whatsapp_statuses_ignored_total{reason="recipient_not_the_send_s"} 2.0'
        assert ignored in metrics.render()
    finally:
        service.store.close()


def test_status_and_error_labels_stay_few() -> None:
    metrics = standard_metrics()
    odd = StatusUpdate("wamid.3", "x" * 300, NOW, "886912000001", None, (987654321, 131026))
    asyncio.run(status_events(None, [odd], metrics))  # type: ignore[arg-type]  # nothing to settle or feed back
    text = metrics.render()
    assert 'engagement_whatsapp_statuses_total{status="other"} 1.0' in text
    assert 'engagement_whatsapp_failures_total{code="other"} 1.0' in text
    assert 'engagement_whatsapp_failures_total{code="131026"} 1.0' in text
    assert "x" * 300 not in text
