"""Message files: placeholders, the locale fallback chain, personalization from the customer's
state, the delay voucher formula, tiers, `template_error`, and the loader's problems."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engagement.config.bundle import load_configuration
from engagement.config.loader import InvalidConfig, default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.config.template_registry import TemplateUpdate, apply_update, load_registry, write_registry
from engagement.core.catalog import LocaleFallbacks
from engagement.core.engine import Engine
from engagement.core.formula import Formula
from engagement.core.personalize import FORMULA_VALUES
from engagement.core.text_template import TemplateError, TextTemplate
from tests.scenario import T0, Events, at, engine_for, only, replay


def copy_config(tmp_path: Path) -> tuple[Path, Path]:
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    shutil.copytree(default_triggers_dir(), triggers)
    shutil.copytree(default_messages_dir(), messages)
    return triggers, messages


def engine_of(triggers: Path, messages: Path) -> Engine:
    return Engine.of(load_configuration(triggers, messages))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# ---- placeholders ----------------------------------------------------------------------


def test_placeholders_required_with_fallback_and_optional_lines() -> None:
    text = TextTemplate.parse("Hi {{customer_name|there}},\nTrack it: {{tracking_url?}}\nOrder {{order_id}}")
    assert text.render({"customer_name": "Mei", "tracking_url": "https://t/1", "order_id": "o1"}) == (
        "Hi Mei,\nTrack it: https://t/1\nOrder o1"
    )
    assert text.render({"order_id": "o1"}) == "Hi there,\nOrder o1"  # fallback used, optional line left out
    with pytest.raises(TemplateError):
        text.render({"customer_name": "Mei"})
    assert text.required() == ("order_id",)


@pytest.mark.parametrize("source", ["Hi {{customer_name", "Hi {{ Name }}", "{{a}} }}"])
def test_malformed_placeholders_are_rejected(source: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        TextTemplate.parse(source)


# ---- locales -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "chain"),
    [
        ("zh-HK", ["zh-HK", "zh-TW", "zh", "en"]),
        ("zh-SG", ["zh-SG", "zh-CN", "zh", "zh-TW", "en"]),
        ("zh-TW", ["zh-TW", "zh", "en"]),
        ("fr-CA", ["fr-CA", "fr", "en"]),
        (None, ["en"]),
    ],
)
def test_the_shipped_locale_fallback_chain(locale: str | None, chain: list[str]) -> None:
    assert load_messages(default_messages_dir()).locales.chain(locale) == chain


def test_a_hong_kong_customer_reads_traditional_chinese_and_a_french_one_english() -> None:
    ev = Events()
    ev.profile(customer="c-hk", locale="zh-HK")
    ev.profile(customer="c-fr", locale="fr-FR")
    ev.cart(0, customer="c-hk")
    ev.cart(0, customer="c-fr")
    sends = {d.customer_id: d.message for d in only(replay(ev, until=_t(200)), "cart_idle")}
    assert sends["c-hk"] is not None
    assert sends["c-hk"].locale == "zh-TW"
    assert sends["c-hk"].template is not None
    assert sends["c-hk"].template.language == "zh_TW"
    assert sends["c-fr"] is not None
    assert sends["c-fr"].locale == "en"
    assert sends["c-fr"].body.startswith("Hi Mei, we saved Item 0 in your cart.")


def test_the_fallback_chain_is_editable(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    (messages / "_locales.yaml").write_text("fallbacks:\n  zh-HK: [zh-CN]\ndefault: en\n", encoding="utf-8")
    assert LocaleFallbacks({"zh-HK": ("zh-CN",)}).chain("zh-HK") == ["zh-HK", "zh-CN", "zh", "en"]
    ev = Events()
    ev.profile(locale="zh-HK")
    ev.cart(0)
    [d] = only(replay(ev, engine_of(triggers, messages), until=_t(200)), "cart_idle")
    assert d.message is not None
    assert d.message.locale == "zh-CN"


# ---- personalization ----------------------------------------------------------------------


def test_cart_reminder_names_the_items_and_total() -> None:
    ev = Events()
    ev.profile()
    ev.cart(0, items=3)
    [d] = only(replay(ev, until=_t(200)), "cart_idle")
    assert d.message is not None
    assert d.message.body.splitlines()[:2] == ["Mei,為您保留的Item 0、Item 1 等 3 件商品還在購物車裡。", "合計 NT$300"]


def test_a_customer_without_a_name_gets_the_fallback_never_none() -> None:
    ev = Events()
    ev.profile(name=None)
    ev.cart(0)
    [d] = only(replay(ev, until=_t(200)), "cart_idle")
    assert d.message is not None
    assert d.message.template is not None
    assert d.message.body.startswith("您好,為您保留的")
    assert "None" not in d.message.body
    assert d.message.template.parameters[0] == (None, "您好")


def test_browse_message_names_the_product_viewed_longest() -> None:
    ev = Events()
    ev.profile()
    ev.view(0, product="p1")
    ev.view(1, product="p2")  # p1 viewed 1 min
    ev.view(5, product="p3")  # p2 viewed 4 min
    ev.add(6, "page.left", product_id="p3")
    [d] = only(replay(ev, until=_t(60)), "browse_abandonment")
    assert d.outcome == "send"
    assert d.message is not None
    assert d.message.body.startswith("Mei,看到您在看Product p2。")


def delayed_parcel(events: Events, total: float = 2000.0, shipping_fee: float | None = 80.0) -> None:
    events.profile(-5000)
    item = {"product_id": "p", "quantity": 1}
    order: dict[str, Any] = {"order_id": "o-9", "items": [item], "total": total, "currency": "TWD"}
    if shipping_fee is not None:
        order["shipping_fee"] = shipping_fee
    events.add(-3000, "order.placed", **order)
    shipment = {"order_id": "o-9", "shipment_id": "s-9"}
    events.add(
        -2900,
        "shipment.dispatched",
        **shipment,
        carrier="黑貓",
        tracking_url="https://track.example/s-9",
        promised_delivery_at=_iso(-1000),  # 24 h late at +440 min, but the new ETA says so at 0
    )
    events.add(0, "shipment.status_changed", **shipment, status="delayed", new_eta=_iso(3000))


def test_delay_message_offers_shipping_fee_plus_five_percent() -> None:
    ev = Events()
    delayed_parcel(ev)
    [d] = only(replay(ev, engine_for(link_domains=("track.example",)), until=_t(60)), "logistics_delay")
    assert d.outcome == "send"
    assert d.message is not None
    assert d.message.template is not None
    assert "補償折價券:NT$180" in d.message.body  # 80 + 5 % of 2,000
    assert "追蹤包裹請點選:https://track.example/s-9" in d.message.body
    assert "(訂單 o-9)" in d.message.body
    link = "https://track.example/s-9"
    assert d.message.template.parameters == (
        (None, "Mei"),
        (None, "o-9"),
        (None, "11月22日"),
        (None, "NT$180"),
        (None, link),
    )
    [other] = only(replay(ev, engine_for(link_domains=("shop.example",)), until=_t(60)), "logistics_delay")
    assert other.message is not None
    assert "track.example" not in other.message.body  # a link to a domain not the shop's is left out
    assert "追蹤包裹請點選:訂單頁面" in other.message.body  # the parameter's fallback


def test_a_voucher_formula_never_offers_an_amount_no_message_should_show(tmp_path: Path) -> None:
    """A formula that passed its checks on sample values can still meet an order of 10^11: no
    NT$10,000,000,000,000,000,000,000 in a customer's message, and no NT$inf."""
    triggers, _ = copy_config(tmp_path)
    edit(
        triggers / "logistics_delay.yaml",
        "voucher: round(shipping_fee + 0.05 * order_total)",
        "voucher: order_total * order_total",
    )
    ev = Events()
    delayed_parcel(ev, total=1e11)
    [d] = only(replay(ev, engine_for(load_triggers(triggers)), until=_t(60)), "logistics_delay")
    assert d.message is not None
    assert d.message.template is not None
    assert d.message.template.parameters[3] == (None, "-")  # the voucher's fallback
    assert "補償折價券:-" in d.message.body


def test_the_voucher_formula_is_editable(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    edit(
        triggers / "logistics_delay.yaml",
        "voucher: round(shipping_fee + 0.05 * order_total)",
        "voucher: min(100, shipping_fee + 0.1 * order_total)",
    )
    ev = Events()
    delayed_parcel(ev)
    [d] = only(replay(ev, engine_of(triggers, messages), until=_t(60)), "logistics_delay")
    assert d.message is not None
    assert "補償折價券:NT$100" in d.message.body


def test_without_an_order_total_the_voucher_takes_its_fallback() -> None:
    ev = Events()
    delayed_parcel(ev, total=0.0, shipping_fee=None)
    [d] = only(replay(ev, until=_t(60)), "logistics_delay")
    assert d.outcome == "send"
    assert d.message is not None
    assert "補償折價券:-" in d.message.body
    assert d.message.template is not None
    assert d.message.template.parameters[3] == (None, "-")


@pytest.mark.parametrize(
    ("formula", "problem"),
    [
        ("shipping_fee + __import__('os')", "only the functions"),
        ("order_value * 2", "unknown value 'order_value'"),
        ("shipping_fee ** 2", "only + - * /"),
        ("'5'", "only numbers"),
        ("shipping_fee +", "not a formula"),
    ],
)
def test_voucher_formulas_allow_arithmetic_only(formula: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        Formula.parse(formula, FORMULA_VALUES)


def test_a_bad_voucher_formula_is_a_trigger_problem(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    edit(triggers / "logistics_delay.yaml", "round(shipping_fee + 0.05 * order_total)", "shipping + 5")
    with pytest.raises(InvalidConfig) as caught:
        load_configuration(triggers, messages)
    [problem] = caught.value.problems
    assert (Path(problem.file).name, problem.path) == ("logistics_delay.yaml", "voucher")
    assert "unknown value 'shipping'" in problem.message


def test_a_vip_customer_gets_the_vip_wording() -> None:
    ev = Events()
    ev.profile(tier="vip")
    ev.cart(0)
    [d] = only(replay(ev, until=_t(200)), "cart_idle")
    assert d.message is not None
    assert "VIP 專屬保留" in d.message.body


def test_a_message_that_cannot_be_filled_is_suppressed_as_template_error(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    edit(messages / "cart_idle.yaml", '- "{{customer_name|您好}}"', '- "{{customer_name}}"')
    ev = Events()
    ev.profile(name=None)
    ev.profile(customer="c2")
    ev.cart(0)
    ev.cart(0, customer="c2")
    decisions = only(replay(ev, engine_of(triggers, messages), until=_t(200)), "cart_idle")
    outcomes = {d.customer_id: (d.outcome, d.reason) for d in decisions}
    assert outcomes == {"c1": ("suppress", "template_error"), "c2": ("send", None)}


# ---- the loader --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("category: marketing", "category: utility", "category", "utility message for the marketing trigger"),
        (
            "    text: |\n      {{customer_name|您好}},為您",
            "    txt: |\n      {{customer_name|您好}},為您",
            "locales",
            "",
        ),
        ("{{cart_items|商品}}還在購物車裡", "{{order_id}}還在購物車裡", "locales", "unknown value {{order_id}}"),
        ("  en:\n", "  en-GB:\n", "locales", "no text for the default locale 'en'"),
        ("{{cart_items|商品}}還在購物車裡", "{{cart_items|商品}還在購物車裡", "locales.zh-TW.text", "malformed"),
    ],
)
def test_message_file_problems_name_the_file_line_and_key(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    triggers, messages = copy_config(tmp_path)
    edit(messages / "cart_idle.yaml", old, new)
    with pytest.raises(InvalidConfig) as caught:
        load_configuration(triggers, messages)
    problems = caught.value.problems
    assert problems, "expected a problem"
    assert all(Path(p.file).name == "cart_idle.yaml" and p.line >= 1 for p in problems)
    assert any(p.path.startswith(where) and message in p.message for p in problems), problems


def test_every_enabled_trigger_needs_a_message(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    (messages / "browse_abandonment.yaml").unlink()
    with pytest.raises(InvalidConfig, match="no message file for trigger 'browse_abandonment'"):
        load_configuration(triggers, messages)


def _t(minutes: float) -> float:
    return T0.timestamp() + minutes * 60


def _iso(minutes: float) -> str:
    return at(minutes)


def test_a_message_without_a_template_goes_only_inside_the_service_window(tmp_path: Path) -> None:
    triggers, messages = copy_config(tmp_path)
    cart = messages / "cart_idle.yaml"
    text = cart.read_text(encoding="utf-8")
    start, end = text.index("whatsapp:"), text.index("locales:")
    free_form = text[:start] + text[end:]
    free_form = "".join(
        line for line in free_form.splitlines(True)
        if not line.startswith(("    parameters:", "        template:", "        parameters:"))
    )  # fmt: skip
    replies = "    text: |\n      {{customer_name|您好}},為您保留的"
    free_form = free_form.replace(
        replies, "    replies: [{id: CHECKOUT, title: 幫我結帳}, {id: STOP, title: 不再通知}]\n" + replies, 1
    )
    cart.write_text(free_form, encoding="utf-8")  # free-form text only, with reply buttons
    ev = Events()
    ev.profile(customer="c-quiet")
    ev.profile(customer="c-chatty")
    ev.add(-30, "message.replied", customer="c-chatty", text="hi")  # opens a 24 h service window
    ev.cart(0, customer="c-quiet")
    ev.cart(0, customer="c-chatty")
    decisions = only(replay(ev, engine_of(triggers, messages), until=_t(200)), "cart_idle")
    outcomes = {d.customer_id: (d.outcome, d.reason) for d in decisions}
    assert outcomes == {"c-quiet": ("suppress", "template_error"), "c-chatty": ("send", None)}
    [sent] = [d for d in decisions if d.outcome == "send"]
    assert sent.message is not None
    assert sent.message.template is None
    assert sent.message.replies == (("CHECKOUT", "幫我結帳"), ("STOP", "不再通知"))


def test_locale_parameters_without_a_template_are_refused(tmp_path: Path) -> None:
    _, messages = copy_config(tmp_path)
    cart = messages / "cart_idle.yaml"
    text = cart.read_text(encoding="utf-8")
    cart.write_text(text[: text.index("whatsapp:")] + text[text.index("locales:") :], encoding="utf-8")
    with pytest.raises(InvalidConfig, match=r"locales\.zh-CN\.parameters: template parameters without a whatsapp"):
        load_messages(messages)


def test_a_broken_template_registry_is_a_configuration_problem_not_a_crash(tmp_path: Path) -> None:
    """A registry cut short by a crash, or nested far too deep, is refused with its file and reason."""
    _, messages = copy_config(tmp_path)
    for broken in ('{"source": "x", "templates": [{"name": "cart_rem', "[" * 100_000):
        (messages / "_templates.lock.json").write_text(broken, encoding="utf-8")
        with pytest.raises(InvalidConfig, match=r"_templates\.lock\.json"):
            load_messages(messages)


def test_concurrent_template_updates_all_land_in_the_registry(tmp_path: Path) -> None:
    """Webhook updates are applied from threads at once: none may overwrite another."""
    updates = [TemplateUpdate(f"t{n:02d}", "en_US", status="PAUSED") for n in range(40)]
    write_registry(tmp_path, "test", "2026-12-01T00:00:00Z", [])
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda update: apply_update(tmp_path, update), updates))
    registry = load_registry(tmp_path)
    assert registry is not None
    assert sorted(name for name, _ in registry.records) == [u.name for u in updates]


def test_a_template_webhook_without_a_synced_registry_changes_nothing(tmp_path: Path) -> None:
    """A registry made of one webhook would list one template and make every other unknown, which
    blocks every publish: without a synced registry the update is not applied."""
    assert apply_update(tmp_path, TemplateUpdate("cart_reminder", "en_US", status="PAUSED")) is None
    assert list(tmp_path.iterdir()) == []
