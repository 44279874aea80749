"""`engagement report`: conversions attributed to decisions, and the uplift over the holdout group,
checked on data whose answer is known."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from engagement.authoring.report import Order, outcomes, report_events
from engagement.cli import main
from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.engine import Engine, EngineSettings
from engagement.timefmt import rfc3339
from tests.scenario import T0, Events, custom_triggers, engine_for, replay

DAY_START = T0.timestamp()  # 10:00 in Taipei: reminders fall inside the allowed hours


def cart_customers(count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for n in range(count):
        customer, t = f"k{n:05d}", DAY_START + n * 2.0
        events.append({"event_id": f"{customer}-p", "type": "customer.updated", "customer_id": customer,
                       "occurred_at": rfc3339(t), "phone": f"+8869{n:08d}", "locale": "zh-TW",
                       "timezone": "Asia/Taipei", "whatsapp_opt_in": True})  # fmt: skip
        item = {"product_id": "p-1", "name": "Linen shirt", "quantity": 1, "unit_price": 1000}
        events.append({"event_id": f"{customer}-c", "type": "cart.updated", "customer_id": customer,
                       "occurred_at": rfc3339(t + 1), "cart_id": f"cart-{customer}", "currency": "TWD",
                       "items": [item]})  # fmt: skip
    return events


def test_the_uplift_interval_finds_a_known_ten_points(tmp_path: Path) -> None:
    """Half the carts held out; orders follow 30 % of reminders and 20 % of held-out carts."""
    cart = (default_triggers_dir() / "cart_idle.yaml").read_text(encoding="utf-8")
    (tmp_path / "triggers").mkdir()
    half = cart.replace("holdout_percent: 0", "holdout_percent: 50")
    triggers = custom_triggers(tmp_path / "triggers", {"cart_idle.yaml": half})
    engine = Engine(triggers, load_messages(default_messages_dir()), EngineSettings(default_timezone="Asia/Taipei"))
    events = cart_customers(4_000)
    first = replay([json.dumps(e).encode() for e in events], engine, until=DAY_START + 5 * 3600)
    groups = {d.customer_id: d for d in first if d.trigger == "cart_idle"}
    sent = [d for d in groups.values() if d.outcome == "send"]
    held = [d for d in groups.values() if d.reason == "holdout"]
    assert len(sent) > 1_500
    assert len(held) > 1_500
    rng = random.Random(7)
    orders = []
    for decision, rate in [*((d, 0.30) for d in sent), *((d, 0.20) for d in held)]:
        if rng.random() < rate:
            who = decision.customer_id
            orders.append({"event_id": f"{who}-o", "type": "order.placed", "customer_id": who,
                           "occurred_at": rfc3339(decision.at + 2 * 3600), "order_id": f"o-{who}",
                           "items": [], "total": 1000.0, "currency": "TWD"})  # fmt: skip
    path = tmp_path / "week.jsonl"
    merged = sorted([*events, *orders], key=lambda e: str(e["occurred_at"]))
    path.write_text("\n".join(json.dumps(e) for e in merged) + "\n", encoding="utf-8")

    (row,) = [r for r in report_events(engine, path) if r.trigger == "cart_idle"]
    assert (row.sent, row.holdout) == (len(sent), len(held))
    uplift = row.uplift
    assert uplift is not None
    assert uplift.low < 0.10 < uplift.high
    assert uplift.low > 0
    assert row.revenue == 1000.0 * row.conversions


def test_an_order_is_credited_to_the_latest_decision_inside_its_window_only() -> None:
    engine = engine_for()
    day = 86_400.0
    decisions = [
        ("k1", "cart_idle", "c1", "send", None, 1_000.0, "v"),
        ("k2", "browse_abandonment", "c1", "send", None, 2_000.0, "v"),
        ("k3", "cart_idle", "c2", "send", None, 1_000.0, "v"),
        ("k4", "cart_idle", "c3", "suppress", "quiet_hours", 1_000.0, "v"),
    ]
    orders = [
        Order("c1", 3_000.0, 500.0),  # both windows cover it: the later decision (browse) gets it
        Order("c2", 1_000.0 + 2 * day, 700.0),  # past cart_idle's 24 h
        Order("c3", 1_500.0, 900.0),  # a quiet-hours suppression is neither a send nor a holdout
    ]
    rows = {row.trigger: row for row in outcomes(engine, decisions, orders)}
    assert (rows["browse_abandonment"].conversions, rows["browse_abandonment"].revenue) == (1, 500.0)
    assert (rows["cart_idle"].sent, rows["cart_idle"].conversions, rows["cart_idle"].revenue) == (2, 0, 0.0)
    assert rows["cart_idle"].decided == 3


def test_the_global_control_group_hears_no_marketing_but_still_gets_security_alerts() -> None:
    engine = engine_for(global_holdout_percent=100.0)
    events = Events()
    events.profile(0)
    events.cart(1)
    events.add(2, "login.succeeded", device_id="d1", country="TW")
    events.add(3, "login.succeeded", device_id="d2", country="JP")
    events.view(120)
    outcomes_by_trigger = {(d.trigger, d.outcome, d.reason) for d in replay(events, engine)}
    assert ("cart_idle", "suppress", "holdout") in outcomes_by_trigger
    assert ("anomalous_login", "send", None) in outcomes_by_trigger


def test_report_prints_a_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"
    assert main(["report", str(sample), "--json", "--jobs", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"trigger", "sent", "conversions", "holdout", "holdout_conversions", "uplift"} <= set(rows[0])
    assert main(["report", str(sample), "--jobs", "2"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["trigger", "decided", "sent"]
    assert "cart_idle" in table
