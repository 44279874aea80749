"""`engagement templates sync` against a loopback Graph API serving the business account's templates
page by page, and `messages lint` checking every message against what was synced."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import REGISTRY_FILE, load_registry
from engagement.live.http import serve
from tests.integration.processes import free_port

WABA = "102290129340398"
TOKEN = "test-token-templates"  # noqa: S105 (a fake server's)


def body(text: str, buttons: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    components: list[dict[str, Any]] = [{"type": "BODY", "text": text}]
    if buttons:
        components.append({"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": b} for b in buttons]})
    return components


def template(name: str, language: str, category: str, components: list[dict[str, Any]], **more: str) -> dict[str, Any]:
    record = {"name": name, "language": language, "status": "APPROVED", "category": category}
    return {**record, "id": f"{name}-{language}", "components": components, **more}


# The approved bodies of cart_reminder and login_alert read as the shipped texts do.
CART = {
    "zh_TW": body("{{1}},為您保留的{{2}}還在購物車裡。\n合計 {{3}}\n需要幫您完成結帳嗎?", ("結帳", "退訂")),
    "zh_CN": body("{{1}},为您保留的{{2}}还在购物车里。\n合计 {{3}}\n需要帮您完成结账吗?", ("结账", "退订")),
    "en_US": body(
        "Hi {{1}}, we saved {{2}} in your cart.\nTotal: {{3}}\nWant us to help you check out?", ("Check out", "Stop")
    ),
}
LOGIN = {
    "zh_TW": body("檢測到異常登入({{1}}),請確認是否本人操作。", ("是我", "不是我")),
    "zh_CN": body("检测到异常登录({{1}}),请确认是否本人操作。", ("是我", "不是我")),
    "en_US": body("We detected an unusual login ({{1}}). Please confirm it was you.", ("It was me", "Not me")),
}
BROWSE = body("{{1}},看到您在看{{2}}。\n需要幫您確認庫存或尺寸嗎?", ("尺寸", "退訂"))
PARCEL = body("{{1}},您的訂單 {{2}} 可能延誤,補償 {{3}}。")

TEMPLATES = [
    # Meta's own examples from the Cloud API spec
    template(
        "hello_world",
        "en_US",
        "MARKETING",
        [
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {"type": "BODY", "text": "Welcome and congratulations!!"},
        ],
    ),
    template("2023_april_promo", "en_US", "MARKETING", body("Hi {{1}}, use promo code {{2}}", ("Stop promotions",))),
    *(template("cart_reminder", lang, "MARKETING", components) for lang, components in CART.items()),
    *(template("login_alert", lang, "UTILITY", components) for lang, components in LOGIN.items()),
    # browse_followup: no en_US, and zh_CN has one parameter fewer than the message gives
    template("browse_followup", "zh_TW", "MARKETING", BROWSE, quality_score="RED"),
    template("browse_followup", "zh_CN", "MARKETING", body("{{1}},还有库存。", ("尺寸", "退订"))),
    # parcel_delay: paused at Meta in zh_TW, filed as MARKETING in zh_CN
    {**template("parcel_delay", "zh_TW", "UTILITY", PARCEL), "status": "PAUSED"},
    template("parcel_delay", "zh_CN", "MARKETING", PARCEL),
    template("parcel_delay", "en_US", "UTILITY", PARCEL),
]
PAGE = 4
CREATED: list[dict[str, Any]] = []
LANGUAGES = (("zh-TW", "zh_TW"), ("zh-CN", "zh_CN"), ("en", "en_US"))


@asynccontextmanager
async def graph_serving_templates() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """The Graph API's template listing in pages of four, as Meta pages it (cursors, `next`), and
    template creation (what was created is in `CREATED`)."""
    asked: list[dict[str, str]] = []

    async def listing(request: web.Request) -> web.Response:
        asked.append(dict(request.query))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}" or request.match_info["waba"] != WABA:
            return web.json_response({"error": {"message": "Invalid OAuth access token", "code": 190}}, status=401)
        start = int(request.query.get("after", "0"))
        page = TEMPLATES[start : start + PAGE]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + PAGE)}}
        if start + PAGE < len(TEMPLATES):
            paging["next"] = f"https://graph.facebook.com/v23.0/{WABA}/message_templates?after={start + PAGE}"
        return web.json_response({"data": page, "paging": paging})

    async def create(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": {"message": "Invalid OAuth access token", "code": 190}}, status=401)
        payload = await request.json()
        created.append(payload)
        return web.json_response({"id": f"9{len(created):05d}", "status": "PENDING", "category": payload["category"]})

    created: list[dict[str, Any]] = []
    app = web.Application()
    app.router.add_get("/{version}/{waba}/message_templates", listing)
    app.router.add_post("/{version}/{waba}/message_templates", create)
    port = free_port()
    runner = await serve(app, "127.0.0.1", port)
    CREATED.clear()
    try:
        yield f"http://127.0.0.1:{port}", asked
        CREATED.extend(created)
    finally:
        await runner.cleanup()


async def engagement(*args: str, base: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, while this loop serves the fake Graph API."""
    return await asyncio.to_thread(_engagement, *args, base=base, token=token)


def _engagement(*args: str, base: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ENGAGEMENT_WHATSAPP_API_BASE": base,
        "ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID": WABA,
        "ENGAGEMENT_WHATSAPP_TOKEN": token,
    }
    return subprocess.run(  # noqa: S603 (the project's own command)
        [sys.executable, "-m", "engagement", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


EXAMPLE_TEMPLATES = (("cod_confirmation", "cod_confirmation"), ("atm_payment_reminder", "atm_payment_due"),
                     ("store_pickup_reminder", "store_pickup"), ("review_request", "review_request"))  # fmt: skip


async def test_sync_reads_every_page_and_lint_checks_each_message_against_it(tmp_path: Path) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(default_messages_dir(), messages)
    async with graph_serving_templates() as (base, asked):
        synced = await engagement("templates", "sync", "--messages", str(messages), base=base)
        assert synced.returncode == 0, synced.stderr
        assert f"{len(TEMPLATES)} templates" in synced.stdout
        assert [q.get("after") for q in asked] == [None, *(str(n) for n in range(PAGE, len(TEMPLATES), PAGE))]
        refused = await engagement("templates", "sync", "--messages", str(tmp_path), base=base, token="wrong")  # noqa: S106
    assert refused.returncode == 2
    assert "answered 401: Invalid OAuth access token (code 190)" in refused.stderr
    assert "wrong" not in refused.stderr
    assert "Traceback" not in refused.stderr

    registry = load_registry(messages)
    assert registry is not None
    assert registry.find("cart_reminder", "zh_TW") is not None
    assert registry.languages_of("browse_followup") == ["zh_CN", "zh_TW"]
    first = (messages / REGISTRY_FILE).read_text(encoding="utf-8")
    assert json.loads(first)["source"] == f"whatsapp:{WABA}"

    linted = await engagement("messages", "lint", str(messages), base=base)
    assert linted.returncode == 1
    findings = [line for line in linted.stdout.splitlines() if "[template_" in line]
    expected = {
        ("browse_abandonment.yaml", "en (browse_followup, en_US)", "template_missing"),
        ("browse_abandonment.yaml", "zh-CN (browse_followup, zh_CN)", "template_parameters"),
        ("browse_abandonment.yaml", "zh-TW (browse_followup, zh_TW)", "template_quality"),
        ("browse_abandonment.yaml", "zh-CN (browse_followup, zh_CN)", "template_text"),
        ("logistics_delay.yaml", "zh-TW (parcel_delay, zh_TW)", "template_status"),
        ("logistics_delay.yaml", "zh-CN (parcel_delay, zh_CN)", "template_category"),
        # parcel_delay's approved body takes three values, the message gives five (the new ETA and
        # the tracking link too), so its text reads otherwise; in zh_TW it is paused, so the sample
        # customer gets no message there to compare
        *(("logistics_delay.yaml", f"{loc} (parcel_delay, {lang})", "template_parameters") for loc, lang in LANGUAGES),
        *(("logistics_delay.yaml", f"{loc} (parcel_delay, {lang})", "template_text") for loc, lang in LANGUAGES[1:]),
        # the VIP tier's own template was never submitted
        *(
            ("cart_idle.yaml", f"{loc}, tier vip (cart_reminder_vip, {lang})", "template_missing")
            for loc, lang in LANGUAGES
        ),
        # the shipped examples, switched off: their templates are reminders (warnings) until enabled
        *(
            (f"{name}.yaml", f"{loc} ({template}, {lang})", "template_missing")
            for name, template in EXAMPLE_TEMPLATES
            for loc, lang in LANGUAGES
        ),
    }
    got = {
        (line.split(":")[0].rsplit("/", 1)[1], line.split(": ")[2], line.rsplit("[", 1)[1][:-1]) for line in findings
    }
    assert got == expected, linted.stdout
    assert any("is PAUSED at WhatsApp" in line and "error" in line for line in findings)
    assert any("quality RED" in line and "warning" in line for line in findings)
    examples = [line for line in findings if line.split(":")[0].endswith("store_pickup_reminder.yaml")]
    assert examples
    assert all(
        ": warning: " in line and "before a trigger sending this message is enabled" in line for line in examples
    )


async def test_preview_shows_the_approved_template_as_whatsapp_renders_it(tmp_path: Path) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(default_messages_dir(), messages)
    (messages / REGISTRY_FILE).unlink()  # the shipped example registry: this shop has synced nothing yet
    show = ("messages", "preview", "cart_idle", "--locale", "en", "--messages", str(messages))
    before = await engagement(*show, base="")
    assert "the approved template's own text is not known here" in before.stdout
    async with graph_serving_templates() as (base, _):
        assert (await engagement("templates", "sync", "--messages", str(messages), base=base)).returncode == 0
    after = await engagement(*show, base="")
    assert after.returncode == 0, after.stderr
    lines = after.stdout.splitlines()
    assert "  as WhatsApp renders the template (APPROVED, MARKETING):" in lines
    assert "  │ Hi 王小明, we saved 白色帆布鞋, 棉質T恤 (3 items) in your cart." in lines
    assert "  │ [ Check out ]  [ Stop ]" in lines
    assert "    {{1}} = 王小明" in lines
    parcel = await engagement("messages", "preview", "logistics_delay", "--messages", str(messages), base="")
    assert "  suppress (template_paused) at " in parcel.stdout  # paused in zh_TW, the sample customer's language


async def test_submit_asks_whatsapp_for_the_template_the_message_file_describes(tmp_path: Path) -> None:
    async with graph_serving_templates() as (base, _):
        done = await engagement("templates", "submit", "cart_idle", base=base)
        one = await engagement("templates", "submit", "cart_idle", "--locale", "en", base=base)
    assert done.returncode == 0, done.stderr
    assert one.returncode == 0, one.stderr
    assert "cart_reminder (en_US, MARKETING): PENDING" in done.stdout
    by_language = {payload["language"]: payload for payload in CREATED if payload["name"] == "cart_reminder"}
    # each tier's own template too (once for every language, then again for en)
    vip = sorted(p["language"] for p in CREATED if p["name"] == "cart_reminder_vip")
    assert vip == ["en_US", "en_US", "zh_CN", "zh_TW"]
    assert sorted(by_language) == ["en_US", "zh_CN", "zh_TW"]
    zh_tw = by_language["zh_TW"]
    assert zh_tw["name"] == "cart_reminder"
    assert zh_tw["category"] == "MARKETING"
    body, buttons = zh_tw["components"]
    assert body["text"] == "{{1}},為您保留的{{2}}還在購物車裡。\n合計 {{3}}\n需要幫您完成結帳嗎?"
    assert body["example"]["body_text"] == [["王小明", "白色帆布鞋、棉質T恤 等 3 件商品", "NT$2,060"]]
    # the buttons' labels in the template's language (the customer sees these, not the payloads)
    assert buttons == {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "幫我結帳"},
                                                      {"type": "QUICK_REPLY", "text": "退訂"}]}  # fmt: skip
    assert by_language["en_US"]["components"][0]["text"].startswith("Hi {{1}}, we saved {{2}} in your cart.")


async def test_a_test_message_goes_through_the_configured_provider(tmp_path: Path) -> None:
    sent = tmp_path / "sent.jsonl"
    env = {"ENGAGEMENT_PROVIDER": "file", "ENGAGEMENT_PROVIDER_FILE": str(sent), "ENGAGEMENT_STATE_DIR": str(tmp_path)}
    done = await asyncio.to_thread(
        _run_with, env, "messages", "test", "cart_idle", "--to", "+886900000001", "--locale", "en"
    )
    assert done.returncode == 0, done.stderr
    assert "+886900000001" not in done.stdout  # masked
    (line,) = sent.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["to"] == "+886900000001"
    assert record["key"].startswith("test-")
    assert record["template"]["name"] == "cart_reminder"
    assert record["template"]["language"] == "en_US"
    bad = await asyncio.to_thread(_run_with, env, "messages", "test", "cart_idle", "--to", "0912")
    assert bad.returncode == 2
    assert "not an E.164 phone number" in bad.stderr


def _run_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the project's own command)
        [sys.executable, "-m", "engagement", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
