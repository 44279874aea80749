"""What the console shows is what customers get: tier texts that can never be delivered are
errors, a template WhatsApp has not approved blocks publishing, the backtest lists every trigger,
a customer's timeline reads in order with numbers masked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import load_registry, write_registry
from engagement.console.customers import timeline_of
from engagement.console.dangers import moved_by_backtest
from engagement.console.workspace import Workspace
from engagement.core.engine import EngineSettings


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    shutil.copytree(default_triggers_dir(), tmp_path / "triggers")
    shutil.copytree(default_messages_dir(), tmp_path / "messages")
    return Workspace(tmp_path / "triggers", tmp_path / "messages", EngineSettings())


def test_a_tier_text_of_a_template_message_is_an_error_that_names_the_template(workspace: Workspace) -> None:
    """Found by a new user: the VIP text changed nothing for a template send, yet preview showed it."""
    cart = workspace.files()["messages/cart_idle.yaml"]
    start = cart.index("    tiers:\n      vip:")
    end = cart.index("  zh-CN:")
    bare = (
        cart[:start]
        + "    tiers:\n      vip: |\n        VIP 專屬:{{cart_items|商品}}還在購物車裡,需要幫您結帳嗎?\n"
        + cart[end:]
    )
    checked = workspace.check({"messages/cart_idle.yaml": bare})
    found = [p for p in checked.problems if "tier_never_delivered" in p.message]
    assert [(p.severity, p.where) for p in found] == [("error", "zh-TW (tier vip)")]
    assert "cart_reminder" in found[0].message


def test_a_template_whatsapp_has_not_approved_blocks_publishing(workspace: Workspace) -> None:
    registry = load_registry(workspace.messages_dir)
    assert registry is not None
    records = [r.model_copy(update={"status": "PAUSED"}) if r.name == "cart_reminder" and r.language == "zh_TW"
               else r for r in registry.records.values()]  # fmt: skip
    write_registry(workspace.messages_dir, "whatsapp:1", "2026-12-01T00:00:00Z", records)
    checked = workspace.check({})
    assert any("template_status" in p.message and p.severity == "error" for p in checked.problems)
    renamed = workspace.files()["messages/cart_idle.yaml"].replace(
        "template: cart_reminder ", "template: cart_nowhere "
    )
    checked = workspace.check({"messages/cart_idle.yaml": renamed})
    assert any("template_missing" in p.message for p in checked.problems)


def test_a_backtest_that_moves_a_trigger_s_sends_by_more_than_a_fifth_is_a_warning() -> None:
    rows = {"triggers": [
        {"trigger": "cart_idle", "sends_before": 100, "sends_after": 130},
        {"trigger": "browse_abandonment", "sends_before": 100, "sends_after": 115},
        {"trigger": "anomalous_login", "sends_before": 0, "sends_after": 0},
        {"trigger": "new_one", "sends_before": 0, "sends_after": 4},
    ]}  # fmt: skip
    assert [(d.trigger, d.code) for d in moved_by_backtest(rows)] == [
        ("cart_idle", "backtest_moved"),
        ("new_one", "backtest_moved"),
    ]
    assert "+30%" in moved_by_backtest(rows)[0].message


def test_a_timeline_reads_in_order_with_the_event_before_its_decision_and_numbers_masked() -> None:
    at = "2026-11-20T02:00:00Z"
    found: dict[str, list[Any]] = {
        "events": [
            json.dumps({"event_id": "e1", "type": "customer.updated", "customer_id": "c1", "occurred_at": at,
                        "name": "Mei", "phone": "+886912345678", "whatsapp_opt_in": True}),
            json.dumps({"event_id": "e2", "type": "cart.updated", "customer_id": "c1", "occurred_at": at,
                        "cart_id": "k", "items": [{"product_id": "p", "name": "羊毛圍巾", "quantity": 2}]}),
        ],
        "decisions": [json.dumps({"trigger": "anomalous_login", "customer_id": "c1", "outcome": "send", "at": at,
                                  "key": "k1", "message": {"to": "+886912345678", "body": "call +886912345678"}})],
        "sends": [{"key": "k1", "status": "sent"}],
        "statuses": [{"key": "k1", "status": "delivered", "at": 1.0}],
    }  # fmt: skip
    items = timeline_of(found)
    assert [i["what"] for i in items] == ["event", "event", "decision"]
    assert items[0]["text"] == "name Mei, number set, WhatsApp consent yes"
    assert items[1]["text"] == "cart k: 羊毛圍巾 ×2"
    assert "+886912345678" not in json.dumps(items, ensure_ascii=False)
    assert items[2]["send"] == "sent"
    assert items[2]["statuses"] == [{"status": "delivered", "at": 1.0}]
