"""`engagement report`: conversions attributed to decisions, and the uplift over the holdout group,
checked on data whose answer is known."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from engagement.cli import main
from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.engine import Engine, EngineSettings
from engagement.outcomes.attribution import report
from engagement.outcomes.page import render
from engagement.outcomes.records import Decided, Followed, Order, Reply, StatusSeen
from engagement.outcomes.sources import from_replay
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

    (row,) = [r for r in from_replay(engine, path) if r["trigger"] == "cart_idle"]
    assert (row["sent"], row["holdout"]) == (len(sent), len(held))
    uplift = row["uplift"]
    assert uplift["low"] < 0.10 < uplift["high"]
    assert uplift["low"] > 0
    assert row["revenue"] == 1000.0 * row["conversions"]
    # revenue per recipient: 30 % and 20 % of 1,000 differ by 100; the bootstrap interval finds it
    revenue = row["revenue_uplift"]
    assert revenue["low"] < 100.0 < revenue["high"]
    assert revenue["low"] > 0
    assert row["incremental_revenue"] == pytest.approx(revenue["estimate"] * row["sent"], abs=0.01)
    assert from_replay(engine, path, jobs=2) == from_replay(engine, path)  # seeded: the same every time


def test_an_order_is_credited_to_the_latest_decision_inside_its_window_only() -> None:
    engine = engine_for()
    day = 86_400.0
    decisions = [
        Decided("k1", "cart_idle", "c1", "send", None, 1_000.0, "v", "e1"),
        Decided("k2", "browse_abandonment", "c1", "send", None, 2_000.0, "v", "e2"),
        Decided("k3", "cart_idle", "c2", "send", None, 1_000.0, "v", "e3"),
        Decided("k4", "cart_idle", "c3", "suppress", "quiet_hours", 1_000.0, "v", "e4"),
    ]
    orders = [
        Order("c1", 3_000.0, 500.0),  # both windows cover it: the later decision (browse) gets it
        Order("c2", 1_000.0 + 2 * day, 700.0),  # past cart_idle's 24 h
        Order("c3", 1_500.0, 900.0),  # a quiet-hours suppression is neither a send nor a holdout
    ]
    rows = {row["trigger"]: row for row in report(engine, decisions, Followed(orders))}
    assert (rows["browse_abandonment"]["conversions"], rows["browse_abandonment"]["revenue"]) == (1, 500.0)
    assert (rows["cart_idle"]["sent"], rows["cart_idle"]["conversions"], rows["cart_idle"]["revenue"]) == (2, 0, 0.0)
    assert rows["cart_idle"]["decided"] == 3


def test_a_browse_reminder_converts_by_product_only_when_the_order_holds_the_viewed_product() -> None:
    engine = engine_for()
    decisions = [
        Decided("b1", "browse_abandonment", "c1", "send", None, 1_000.0, "v", "view-1"),
        Decided("b2", "browse_abandonment", "c2", "send", None, 1_000.0, "v", "view-2"),
    ]
    orders = [
        Order("c1", 2_000.0, 300.0, frozenset({"p-viewed", "p-other"})),
        Order("c2", 2_000.0, 400.0, frozenset({"p-other"})),
    ]
    followed = Followed(orders, [], {"view-1": "p-viewed", "view-2": "p-viewed"})
    (row,) = report(engine, decisions, followed)
    assert (row["conversions"], row["product_conversions"]) == (2, 1)
    cart = report(engine, [Decided("k", "cart_idle", "c1", "send", None, 1_000.0, "v", "e")], followed)
    assert cart[0]["product_conversions"] is None  # only browse reminders name a product


def test_replies_statuses_and_versions_are_counted_per_send() -> None:
    engine = engine_for()
    decisions = [
        Decided("s1", "cart_idle", "c1", "send", None, 1_000.0, "v1", "e1"),
        Decided("s2", "cart_idle", "c2", "send", None, 1_000.0, "v1", "e2"),
        Decided("s3", "cart_idle", "c3", "send", None, 1_000.0, "v2", "e3"),
        Decided("h4", "cart_idle", "c4", "suppress", "holdout", 1_000.0, "v2", "e4"),
        Decided("s5", "anomalous_login", "c5", "send", None, 1_000.0, "v2", "e5"),
    ]
    replies = [
        Reply("c1", 1_100.0, "still there?"),
        Reply("c1", 1_200.0, "a second reply counts once"),
        Reply("c2", 1_100.0, "STOP"),
        Reply("c3", 900.0, "before the send: not a reply to it"),
        Reply("c4", 1_100.0, "held out: nothing was sent to reply to"),
        Reply("c5", 1_100.0, None, "NOT_ME"),
    ]
    statuses = [
        StatusSeen("s1", "sent"),
        StatusSeen("s1", "delivered"),
        StatusSeen("s1", "read"),
        StatusSeen("s1", "read"),  # a webhook retried
        StatusSeen("s2", "delivered"),
        StatusSeen("s3", "failed", "131026"),
        StatusSeen("unknown-key", "read"),
    ]
    rows = {row["trigger"]: row for row in report(engine, decisions, Followed([], replies), statuses)}
    cart = rows["cart_idle"]
    assert (cart["sent"], cart["delivered"], cart["read"], cart["failed"]) == (3, 2, 1, 1)
    assert cart["failure_codes"] == {"131026": 1}
    assert (cart["replied"], cart["opted_out"], cart["not_me"]) == (2, 1, 0)
    assert rows["anomalous_login"]["not_me"] == 1
    versions = {v["config_version"]: v for v in cart["versions"]}
    assert (versions["v1"]["sent"], versions["v1"]["replied"], versions["v1"]["read"]) == (2, 2, 1)
    assert (versions["v2"]["sent"], versions["v2"]["holdout"], versions["v2"]["failed"]) == (1, 1, 1)
    later = {row["trigger"]: row for row in report(engine, decisions, Followed([], replies), statuses, since=1_000.5)}
    assert later == {}  # every decision was before `since`
    unknown = report(engine, decisions, Followed())
    assert unknown[0]["delivered"] is None  # a replay knows no statuses


def test_the_html_page_is_self_contained_with_three_plots(tmp_path: Path) -> None:
    engine = engine_for()
    decisions = [
        Decided(f"s{n}", "cart_idle", f"c{n}", "send" if n % 2 else "suppress", None if n % 2 else "holdout",
                1_000.0 + 86_400 * (n % 3), "v", f"e{n}")
        for n in range(40)
    ]  # fmt: skip
    orders = [Order(f"c{n}", 2_000.0 + 86_400 * (n % 3), 100.0) for n in range(0, 40, 3)]
    page = render(report(engine, decisions, Followed(orders)), generated=0.0)
    assert page.count("<svg") == 3
    assert "<script" not in page
    assert re.findall(r'(?:src|href)="(?!#)', page) == []  # nothing fetched from elsewhere
    assert "cart_idle" in page
    assert render([], generated=0.0).count("<svg") == 0  # an empty report is still a page


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
    assert table.splitlines()[0].split()[:5] == ["trigger", "/", "version", "decided", "sent"]
    assert "cart_idle" in table
    page = tmp_path / "report.html"
    assert main(["report", str(sample), "--jobs", "1", "--html", str(page), "--since", "1d"]) == 0
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert main(["report", str(sample), "--worker"]) == 2  # a file is replayed; --worker reads the topics
