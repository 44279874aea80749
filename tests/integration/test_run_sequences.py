"""A moment written without code, live on `run`: events of types the catalogue declares are taken
over HTTP (and refused naming the field when they are wrong), a sequence trigger sends and cancels
in real time, and a type added to the catalogue goes live with the next configuration reload."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.timefmt import rfc3339
from tests.integration.processes import DEMO_TRIGGERS, RunProcess, free_port, wait_for

pytestmark = pytest.mark.integration

FAST = """id: pickup_fast
kind: sequence
category: utility
start: shipment.arrived_at_store
where: pickup_deadline > occurred_at
key: shipment_id
stop: [shipment.picked_up, shipment.returned]
remind:
  - after: 3s
  - at: pickup_deadline - 1d
send_within: 1m
policies: {cooldown: 0s, quiet_hours: null}
"""


def event(n: int, type_: str, at: float, **fields: Any) -> str:
    return json.dumps({"event_id": f"q{n}", "type": type_, "customer_id": "shopper", "occurred_at": rfc3339(at),
                       **fields})  # fmt: skip


def pickups(now: float, phone: str, locale: str, store: str) -> list[str]:
    """A customer and three parcels at the store: s1 stays, s2 is picked up a second later."""
    week = rfc3339(now + 7 * 86_400)
    return [
        event(1, "customer.updated", now - 60, phone=phone, whatsapp_opt_in=True, locale=locale,
              timezone="Asia/Taipei", name="Mei"),
        event(2, "shipment.arrived_at_store", now, order_id="o1", shipment_id="s1", store_name=store,
              pickup_deadline=week),
        event(3, "shipment.arrived_at_store", now, order_id="o2", shipment_id="s2", pickup_deadline=week),
        event(4, "shipment.picked_up", now + 1, order_id="o2", shipment_id="s2"),
    ]  # fmt: skip


def fast_pickups(tmp: Path) -> dict[str, str]:
    """The demo's triggers with the catalogue and a store pick-up reminder 3 s after arrival, and
    its message: the settings that point run or a worker at them."""
    triggers = tmp / "triggers"
    shutil.copytree(DEMO_TRIGGERS, triggers)
    shutil.copy(default_triggers_dir() / "_events.yaml", triggers / "_events.yaml")
    (triggers / "pickup_fast.yaml").write_text(FAST, encoding="utf-8")
    messages = tmp / "messages"
    shutil.copytree(default_messages_dir(), messages)
    shipped = (messages / "store_pickup_reminder.yaml").read_text(encoding="utf-8")
    renamed = shipped.replace("trigger: store_pickup_reminder", "trigger: pickup_fast")
    (messages / "pickup_fast.yaml").write_text(renamed, encoding="utf-8")
    return {"ENGAGEMENT_TRIGGERS_DIR": str(triggers), "ENGAGEMENT_MESSAGES_DIR": str(messages)}


def test_a_sequence_runs_live_on_declared_events(tmp_path: Path) -> None:
    env = fast_pickups(tmp_path)
    triggers = Path(env["ENGAGEMENT_TRIGGERS_DIR"])
    run = RunProcess(tmp_path / "state", free_port(), env)
    run.start()
    try:
        now = time.time()
        answer = run.post_lines([
            *pickups(now, "+886912000777", "en", "FamilyMart"),
            event(5, "shipment.arrived_at_store", now, order_id="o3", shipment_id="s3"),  # no deadline
            event(6, "parcel.teleported", now, order_id="o4"),
        ])  # fmt: skip
        assert answer["accepted"] == 4
        refused = {r["index"]: r for r in answer["rejections"]}  # type: ignore[attr-defined]
        assert refused[5]["field"] == "pickup_deadline"  # 1-based, as an editor numbers the lines
        assert "required field is missing" in refused[5]["reason"]
        assert refused[6]["field"] == "type"
        assert "unknown event type 'parcel.teleported'" in refused[6]["reason"]

        def mine() -> list[dict[str, Any]]:
            return [d for d in run.decisions() if d["trigger"] == "pickup_fast"]

        wait_for(lambda: len(mine()) >= 3, 30, "the sequence's decisions")
        decided = {(d["outcome"], d["reason"], d["key"]) for d in mine()}
        sends = [d for d in mine() if d["outcome"] == "send"]
        assert len(sends) == 1  # s1's first reminder, 3 s after it arrived
        assert "FamilyMart" in sends[0]["message"]["body"]
        assert sum(1 for o, r, _ in decided if (o, r) == ("cancel", "stopped")) == 2  # s2's two reminders
        sent_at = json.loads((tmp_path / "state" / "sent.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert sent_at["trigger"] == "pickup_fast"

        # a type added to the catalogue is taken once the configuration reloads (no restart)
        catalogue = triggers / "_events.yaml"
        catalogue.write_text(
            catalogue.read_text(encoding="utf-8") + "parcel.teleported:\n  fields: {order_id: string}\n"
        )

        def taken() -> bool:
            body = event(7, "parcel.teleported", time.time(), order_id="o4") + "\n"
            posted = httpx.post(f"{run.url}/v1/events", content=body, timeout=10,
                                headers={"Content-Type": "application/x-ndjson", **run.headers})  # fmt: skip
            return posted.status_code == 202

        wait_for(taken, 20, "the new event type to go live")
    finally:
        run.kill()
