"""The marketer's commands on the shipped defaults and on edited copies: messages lint,
messages preview, and the backtest (`replay --baseline`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engagement.cli import main
from engagement.config.template_registry import REGISTRY_FILE
from tests.scenario import Events
from tests.unit.test_messages import copy_config, edit


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# ---- lint --------------------------------------------------------------------------------


def test_the_shipped_messages_pass_lint_strictly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "messages", "lint", "--strict")
    assert code == 0, out
    assert "8 messages, 0 errors, 0 warnings" in out


def lint_rules_of(out: str) -> set[tuple[str, str, str]]:
    """(severity, where, rule) of each finding line."""
    found = set()
    for line in out.splitlines():
        if (line.endswith("]") and ": error: " in line) or ": warning: " in line:
            _, severity, where, *_ = (part.strip() for part in line.split(": ", 3))
            found.add((severity, where, line.rsplit("[", 1)[1].rstrip("]")))
    return found


def test_lint_reports_every_rule_with_exit_codes_for_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    triggers, messages = copy_config(tmp_path)
    cart = messages / "cart_idle.yaml"
    stop = "    - {type: quick_reply, value: STOP, label: {zh-TW: 退訂, zh-CN: 退订, en: Stop}}"
    edit(cart, stop + "   # the opt-out: a tap opts out of marketing\n", "")
    edit(
        cart,
        "      合計 {{cart_total?}}\n      需要幫您完成結帳嗎?\n    tiers:",
        "      合計 {{cart_total?}}\n      這不是我們的責任!!!\n      第四行\n    tiers:",
    )
    edit(
        cart,
        "Want us to help you check out?\n    tiers:",
        "Want us to help you check out? Reply STOP to opt out.\n    tiers:",
    )
    edit(messages / "browse_abandonment.yaml", "{{product_name|這件商品}}。", "{{product_name}}。" + "很好看" * 20)
    code, out = run_cli(capsys, "messages", "lint", str(messages), "--triggers", str(triggers))
    assert code == 1, out
    found = lint_rules_of(out)
    assert ("error", "zh-TW", "banned_phrase") in found
    assert ("warning", "zh-TW", "exclamations") in found
    assert ("warning", "zh-TW", "paragraph_lines") in found
    assert ("warning", "zh-TW", "call_to_action") in found
    assert ("error", "zh-CN", "opt_out") in found  # no STOP button any more, and no keyword in the text
    assert ("error", "en", "opt_out") not in found  # "Reply STOP" in the text offers one
    assert ("warning", "zh-TW", "length") in {(s, w, r) for s, w, r in found if r == "length"}
    assert ("warning", "browse_abandonment", "no_fallback") in found


def test_warnings_alone_pass_unless_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    triggers, messages = copy_config(tmp_path)
    (messages / REGISTRY_FILE).unlink()  # the text alone changes: no template to read it against
    edit(messages / "anomalous_login.yaml", "請確認是否本人操作。", "請確認是否本人操作!!!")
    code, out = run_cli(capsys, "messages", "lint", str(messages), "--triggers", str(triggers))
    assert code == 0, out
    assert "0 errors, 1 warnings" in out
    code, _ = run_cli(capsys, "messages", "lint", str(messages), "--triggers", str(triggers), "--strict")
    assert code == 1


def test_the_banned_phrases_are_configurable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    triggers, messages = copy_config(tmp_path)
    (messages / "_lint.yaml").write_text("banned_phrases: [購物車]\n", encoding="utf-8")
    code, out = run_cli(capsys, "messages", "lint", str(messages), "--triggers", str(triggers))
    assert code == 1
    assert "banned phrase '購物車'" in out


def test_lint_of_an_invalid_message_set_lists_its_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    triggers, messages = copy_config(tmp_path)
    edit(messages / "cart_idle.yaml", "{{cart_items|商品}}還在購物車裡", "{{cart_item}}還在購物車裡")
    code, out = run_cli(capsys, "messages", "lint", str(messages), "--triggers", str(triggers))
    assert code == 1
    assert "cart_idle.yaml:18: locales: unknown value {{cart_item}}" in out


# ---- preview -----------------------------------------------------------------------------


def test_preview_shows_what_the_sample_customer_receives(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "messages", "preview", "cart_idle", "--locale", "zh-TW")
    assert code == 0, out
    assert "WhatsApp template 'cart_reminder' (zh_TW)" in out
    assert "│ 王小明,為您保留的白色帆布鞋、棉質T恤 等 3 件商品還在購物車裡。" in out
    assert "│ 合計 NT$2,060" in out
    code, out = run_cli(capsys, "messages", "preview", "cart_idle", "--locale", "en", "--tier", "vip")
    assert "as a VIP your cart" in out
    assert "(en_US)" in out


@pytest.mark.parametrize("trigger", ["cart_idle", "browse_abandonment", "logistics_delay", "anomalous_login"])
@pytest.mark.parametrize("locale", ["zh-TW", "zh-CN", "en"])
def test_every_shipped_trigger_previews_in_every_locale(
    trigger: str, locale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(capsys, "messages", "preview", trigger, "--locale", locale)
    assert code == 0, out
    assert "  send at " in out
    assert f"locale {locale}," in out
    assert "│ " in out
    assert "None" not in out


def test_preview_of_a_given_customer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = Events()
    ev.profile(customer="c-77", name="Lin", locale="en")
    ev.cart(0, customer="c-77", items=2)
    events = tmp_path / "customer.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in ev.items), encoding="utf-8")
    code, out = run_cli(capsys, "messages", "preview", "cart_idle", "--customer", str(events))
    assert code == 0, out
    assert "for customer c-77" in out
    assert "│ Hi Lin, we saved Item 0, Item 1 in your cart." in out
    ev.order(30, customer="c-77")  # bought before the reminder: nothing is sent
    events.write_text("\n".join(json.dumps(e) for e in ev.items), encoding="utf-8")
    code, out = run_cli(capsys, "messages", "preview", "cart_idle", "--customer", str(events))
    assert code == 0
    assert "cancel (converted)" in out
    assert "│" not in out


def test_preview_of_an_unknown_trigger_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "messages", "preview", "cart_idel")
    assert code == 2
    assert "no trigger 'cart_idel'" in out
    assert "cart_idle" in out


# ---- backtest ----------------------------------------------------------------------------


def shop_events(path: Path) -> None:
    ev = Events()
    for n in range(6):
        customer = f"c{n}"
        ev.profile(customer=customer)
        ev.cart(n * 10, customer=customer)
        if n % 3 == 0:
            ev.order(n * 10 + 40, customer=customer)  # converts before 60 min, not before 30
    ev.view(600, customer="c0")  # moves the clock on
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in ev.items) + "\n", encoding="utf-8")


def backtest_cart_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], before: str, after: str
) -> tuple[list[str], str]:
    """The backtest of one edit of the cart trigger on the shop's events: its cart_idle row and the output."""
    events = tmp_path / "events.jsonl"
    shop_events(events)
    old_triggers, _ = copy_config(tmp_path / "old")
    new_triggers, _ = copy_config(tmp_path / "new")
    edit(new_triggers / "cart_idle.yaml", before, after)
    code, out = run_cli(capsys, "replay", str(events), "--triggers", str(new_triggers), "--baseline", str(old_triggers))
    assert code == 0, out
    [row] = [line.split() for line in out.splitlines() if line.startswith("cart_idle ")]
    return row, out


def test_backtest_shows_what_an_edit_would_have_done(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row, out = backtest_cart_edit(tmp_path, capsys, "idle: 60m", "idle: 30m")
    assert row == ["cart_idle", "4", "6", "+2", "-0", "0", "0"]  # c0 and c3 ordered at 40 min: reached at 30 now
    assert "cancel:converted" in out
    assert "-> send" in out
    assert "e.g. c0, c3" in out


def test_backtest_of_a_holdout_moves_sends_to_the_holdout_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row, out = backtest_cart_edit(tmp_path, capsys, "holdout_percent: 0", "holdout_percent: 100")
    assert row == ["cart_idle", "4", "0", "+0", "-4", "0", "0"]
    [move] = [line for line in out.splitlines() if "-> suppress:holdout" in line]
    assert move.split()[:4] == ["send", "->", "suppress:holdout", "4"]
    assert "e.g. c1, c2, c4" in move


def test_backtest_counts_as_reworded_what_the_customer_reads_not_the_file_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A template send shows the approved body: a new `text` rewords nothing; a new parameter does."""
    events = tmp_path / "events.jsonl"
    shop_events(events)
    triggers, old_messages = copy_config(tmp_path / "old")
    _, text_only = copy_config(tmp_path / "text")
    _, parameter = copy_config(tmp_path / "parameter")
    edit(text_only / "cart_idle.yaml", "需要幫您完成結帳嗎?\n    tiers:", "要幫您結帳嗎?\n    tiers:")
    edit(parameter / "cart_idle.yaml", '"{{cart_total|-}}"', '"{{cart_count}}"')
    rows = {}
    for name, messages in (("text", text_only), ("parameter", parameter)):
        code, out = run_cli(
            capsys, "replay", str(events), "--triggers", str(triggers), "--messages", str(messages),
            "--baseline-messages", str(old_messages),
        )  # fmt: skip
        assert code == 0, out
        [rows[name]] = [line.split() for line in out.splitlines() if line.startswith("cart_idle ")]
    assert rows["text"][-1] == "0"
    assert rows["parameter"][-1] == rows["parameter"][1] == "4"  # every send's third parameter changed
