"""Configuration changes while timers are pending: keep (the version they were armed under),
migrate, cancel; a removed trigger; and the watcher that takes valid sets and rejects bad ones whole."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.specs import CartIdleTrigger
from engagement.core.state import CustomerState
from engagement.decode import Rejection, decode_event
from engagement.live.config_reload import RELOADS, ConfigWatcher
from engagement.live.metrics import Metrics
from tests.scenario import T0, Events
from tests.unit.test_messages import copy_config, edit, engine_of

NEW_TEXT = "為您保留的{{cart_items|商品}}還在,要結帳嗎?"


def armed_cart(engine: Engine) -> CustomerState:
    """A customer whose cart timer (60 min) is armed under `engine`'s configuration."""
    ev = Events()
    ev.profile()
    ev.cart(0)
    state = CustomerState("c1")
    for raw in ev.lines():
        event = decode_event(raw)
        assert not isinstance(event, Rejection), event
        engine.admit(state, event, None, T0.timestamp(), [], event.occurred_at.timestamp())
    assert state.timers
    assert state.timers[0].version == engine.config_version
    return state


def fire_at_due(engine: Engine, state: CustomerState) -> list[tuple[str, str | None, str, str | None]]:
    out: list[Decision] = []
    engine.run_until(state, T0.timestamp() + 3 * 3600, None, out)
    return [(d.outcome, d.reason, d.config_version, d.message.body if d.message else None) for d in out]


def reloaded(tmp_path: Path, in_flight: str | None) -> tuple[Engine, Engine]:
    triggers, messages = copy_config(tmp_path)
    old = engine_of(triggers, messages)
    edit(
        messages / "cart_idle.yaml",
        "為您保留的{{cart_items|商品}}還在購物車裡。\n      合計 {{cart_total?}}\n      需要幫您完成結帳嗎?",
        NEW_TEXT,
    )
    if in_flight is not None:
        edit(triggers / "cart_idle.yaml", "enabled: true", f"enabled: true\nin_flight: {in_flight}")
    new = old.succeeded_by(engine_of(triggers, messages))
    assert new.config_version != old.config_version
    return old, new


def test_a_pending_timer_keeps_the_configuration_it_was_armed_under(tmp_path: Path) -> None:
    old, new = reloaded(tmp_path, None)  # in_flight defaults to keep
    [(outcome, reason, version, body)] = fire_at_due(new, armed_cart(old))
    assert (outcome, reason, version) == ("send", None, old.config_version)
    assert body is not None
    assert "還在購物車裡" in body
    [(_, _, version, body)] = fire_at_due(new, armed_cart(new))  # armed after the change
    assert version == new.config_version
    assert body == "Mei,為您保留的Item 0還在,要結帳嗎?"


def test_in_flight_migrate_decides_with_the_new_configuration(tmp_path: Path) -> None:
    old, new = reloaded(tmp_path, "migrate")
    [(outcome, _, version, body)] = fire_at_due(new, armed_cart(old))
    assert (outcome, version, body) == ("send", new.config_version, "Mei,為您保留的Item 0還在,要結帳嗎?")


def test_in_flight_cancel_cancels_timers_armed_before(tmp_path: Path) -> None:
    old, new = reloaded(tmp_path, "cancel")
    assert fire_at_due(new, armed_cart(old)) == [("cancel", "config_changed", new.config_version, None)]
    assert fire_at_due(new, armed_cart(new))[0][0] == "send"


def test_a_disabled_trigger_cancels_its_pending_timers(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    old = engine_of(triggers, messages)
    edit(triggers / "cart_idle.yaml", "enabled: true", "enabled: false")
    new = old.succeeded_by(engine_of(triggers, messages))
    assert fire_at_due(new, armed_cart(old)) == [("cancel", "trigger_removed", new.config_version, None)]


def test_an_unknown_earlier_version_is_migrated(tmp_path: Path) -> None:
    """After a restart the earlier engines are gone: the timer is decided by the live configuration."""
    old, _ = reloaded(tmp_path, None)
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    fresh = engine_of(triggers, messages)  # no earlier engines
    [(outcome, _, version, _)] = fire_at_due(fresh, armed_cart(old))
    assert (outcome, version) == ("send", fresh.config_version)


def test_the_watcher_takes_a_valid_change_and_rejects_a_bad_one_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    triggers, messages = copy_config(tmp_path)
    engine = engine_of(triggers, messages)
    metrics = Metrics()
    watcher = ConfigWatcher(triggers, messages, engine.settings, metrics, engine)
    assert watcher.check() is None  # nothing changed

    edit(messages / "cart_idle.yaml", "需要幫您完成結帳嗎?", "要幫您結帳嗎?")
    second = watcher.check()
    assert second is not None
    assert second.config_version != engine.config_version
    assert engine.config_version in second.earlier
    assert metrics.get(RELOADS, result="applied") == 1

    edit(triggers / "cart_idle.yaml", "idle: 60m", "idle: sixty minutes")  # one bad file ...
    edit(messages / "cart_idle.yaml", "要幫您結帳嗎?", "要結帳嗎?")  # ... and one good edit: rejected together
    with caplog.at_level(logging.ERROR, "engagement.config"):
        assert watcher.check() is None
    assert metrics.get(RELOADS, result="rejected") == 1
    assert watcher.engine is second
    assert "cart_idle.yaml" in caplog.text
    assert "idle" in caplog.text

    edit(triggers / "cart_idle.yaml", "idle: sixty minutes", "idle: 30m")  # fixed: the set goes live
    third = watcher.check()
    assert third is not None
    cart = third.specs["cart_idle"]
    assert isinstance(cart, CartIdleTrigger)
    assert cart.idle.total_seconds() == 1800
    assert metrics.get("engagement_config_info", version=third.config_version) == 1
    assert metrics.get("engagement_config_info", version=second.config_version) == 0


def test_a_file_that_is_not_utf8_is_rejected_and_reloading_goes_on(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    engine = engine_of(triggers, messages)
    metrics = Metrics()
    watcher = ConfigWatcher(triggers, messages, engine.settings, metrics, engine)
    (triggers / "notes.yaml").write_bytes(b"id: notes\n\xff\xfe broken\n")
    assert watcher.check() is None
    assert metrics.get(RELOADS, result="rejected") == 1
    (triggers / "notes.yaml").unlink()
    edit(triggers / "cart_idle.yaml", "idle: 60m", "idle: 45m")
    assert watcher.check() is not None  # the watcher did not stop at the bad file
