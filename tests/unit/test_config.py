"""Trigger configuration: shipped defaults equal the contract, errors point at file and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engagement.cli import main
from engagement.config.loader import InvalidConfig, default_triggers_dir, load_triggers
from engagement.core.durations import parse_duration
from engagement.core.specs import (
    AnomalousLoginTrigger,
    BrowseAbandonmentTrigger,
    CartIdleTrigger,
    LogisticsDelayTrigger,
)
from tests.scenario import Events, custom_triggers, engine_for, minutes_after_t0, only, replay


def test_shipped_defaults_reproduce_the_contract() -> None:
    ts = load_triggers(default_triggers_dir())
    cart = ts.by_id("cart_idle")
    assert isinstance(cart, CartIdleTrigger)
    assert (cart.idle, cart.send_within, cart.category) == (timedelta(hours=1), timedelta(minutes=5), "marketing")
    assert cart.activity == ("cart.updated", "page.viewed")
    assert cart.policies.cooldown == timedelta(hours=24)
    assert cart.policies.quiet_hours is not None
    assert cart.policies.quiet_hours.allowed == "* 9-20 * * *"
    assert (cart.policies.frequency_cap.marketing_per_24h, cart.policies.frequency_cap.business_since_reply) == (3, 3)
    assert cart.policies.holdout_percent == 0
    assert cart.policies.pacing == timedelta(seconds=6)
    assert cart.policies.opt_out_keywords == ("STOP", "退訂", "取消訂閱")
    browse = ts.by_id("browse_abandonment")
    assert isinstance(browse, BrowseAbandonmentTrigger)
    assert (browse.visit_gap, browse.min_visit, browse.send_within) == (timedelta(minutes=5),) * 3
    assert browse.cancel_on == ("order.placed", "cart.updated")
    logistics = ts.by_id("logistics_delay")
    assert isinstance(logistics, LogisticsDelayTrigger)
    assert (logistics.delay_threshold, logistics.send_within, logistics.category) == (
        timedelta(hours=24),
        timedelta(minutes=30),
        "utility",
    )
    assert logistics.policies.quiet_hours is None
    login = ts.by_id("anomalous_login")
    assert isinstance(login, AnomalousLoginTrigger)
    assert (login.send_within, login.policies.cooldown, login.category) == (
        timedelta(minutes=2),
        timedelta(minutes=10),
        "security",
    )
    assert login.new_device_and_country.lookback == timedelta(days=90)
    assert (
        login.impossible_travel.within,
        login.impossible_travel.min_speed_kmh,
        login.impossible_travel.min_distance_km,
    ) == (timedelta(hours=24), 900, 100)
    assert (login.failed_logins.count, login.failed_logins.within) == (5, timedelta(minutes=10))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h", 3600), ("24h", 86400), ("7d", 604800), ("1h30m", 5400), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["5", "5 minutes", "m5", "", "1h-5m", 300])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def _problems(tmp_path: Path, name: str, text: str) -> list[str]:
    with pytest.raises(InvalidConfig) as caught:
        custom_triggers(tmp_path, {name: text})
    return [str(p) for p in caught.value.problems]


def test_unknown_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = "id: cart_idle\nkind: cart_idle\nidle: 60m\nsend_within: 5m\npolicies:\n  cooldwn: 24h\n"
    [problem] = _problems(tmp_path, "cart_idle.yaml", text)
    assert (
        problem
        == f"{tmp_path / 'cart_idle.yaml'}:6: policies.cooldwn: unknown key (check its spelling and indentation)"
    )


def test_bad_values_are_reported_each_at_its_line(tmp_path: Path) -> None:
    text = (
        "id: cart_idle\nkind: cart_idle\nidle: soon\nsend_within: 5m\npolicies:\n"
        "  quiet_hours:\n    allowed: '* 25 * * *'\n"
    )
    problems = _problems(tmp_path, "cart_idle.yaml", text)
    assert any(":3: idle: " in p and "not a duration" in p for p in problems)
    assert any(":7: policies.quiet_hours.allowed: " in p and "cron" in p for p in problems)


def test_duplicate_ids_and_unknown_kinds(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "again.yaml", "id: cart_idle\nkind: cart_idle\nidle: 1h\nsend_within: 5m\n")
    assert any("duplicate trigger id 'cart_idle'" in p for p in problems)
    problems = _problems(tmp_path, "x.yaml", "id: x\nkind: wishlist\nsend_within: 5m\n")
    assert any(":2: kind: " in p for p in problems)


def test_validate_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triggers", "validate", str(default_triggers_dir())]) == 0
    (tmp_path / "bad.yaml").write_text(
        "id: b\nkind: cart_idle\nidle: 1h\nsend_within: 5m\nwindow: 3m\n", encoding="utf-8"
    )
    assert main(["triggers", "validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.yaml'}:5: window: unknown key" in err


def test_a_marketer_adds_a_thirty_minute_cart_reminder_without_code(tmp_path: Path) -> None:
    reminder = "id: cart_reminder_30m\nkind: cart_idle\nidle: 30m\nsend_within: 5m\npolicies:\n  cooldown: 24h\n"
    engine = engine_for(custom_triggers(tmp_path, {"cart_reminder_30m.yaml": reminder}))
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.view(300, customer="other")
    decisions = [d for d in replay(ev, engine) if d.customer_id == "c1"]
    assert [(d.trigger, d.outcome, minutes_after_t0(d.at)) for d in decisions] == [
        ("cart_reminder_30m", "send", 30),
        ("cart_idle", "send", 60),
    ]
    assert only(decisions, "cart_reminder_30m")[0].message is not None


def test_seconds_level_windows_work(tmp_path: Path) -> None:
    fast = "id: cart_idle\nkind: cart_idle\nidle: 20s\nsend_within: 10s\npolicies:\n  quiet_hours: null\n"
    engine = engine_for(custom_triggers(tmp_path, {"cart_idle.yaml": fast}), allowed_lateness=2.0)
    ev = Events()
    ev.profile()
    ev.cart(0)
    ev.view(1, customer="other")
    [d] = only(replay(ev, engine), "cart_idle")
    assert (d.outcome, minutes_after_t0(d.at) * 60) == ("send", 20)
