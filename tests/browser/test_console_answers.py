"""Answers in the console, in headless Chromium against a live `run`: the preview shows each reply
the cart reminder answers as the customer's bubble and ours (or who it goes to), and the
customer's page shows a hand-off and resolves it. And a publish reviewed before another went
live is sent back to its review, which then shows what it would undo."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from engagement.timefmt import rfc3339
from tests.browser.chromium import chromium
from tests.browser.test_console import screenshot, sign_in, wait
from tests.integration.processes import running, wait_for
from tests.integration.test_console_api import dirs
from tests.integration.whatsapp_payloads import ENV, PHONE, signed, webhook

pytestmark = pytest.mark.integration


def test_preview_shows_the_answers_and_the_customer_page_resolves_a_handoff(tmp_path: Path) -> None:
    with running(tmp_path / "state", {**ENV, "ENGAGEMENT_LINK_DOMAINS": "shop.example"}) as run, chromium() as browser:
        now = time.time()
        run.post_lines([
            json.dumps({"event_id": "p1", "type": "customer.updated", "customer_id": "c-answers",
                        "occurred_at": rfc3339(now - 600), "phone": PHONE, "locale": "zh-TW",
                        "timezone": "Asia/Taipei", "whatsapp_opt_in": True, "name": "Mei"}),
            json.dumps({"event_id": "k1", "type": "cart.updated", "customer_id": "c-answers",
                        "occurred_at": rfc3339(now - 12), "cart_id": "k1", "currency": "TWD",
                        "items": [{"product_id": "p1", "name": "Tee", "quantity": 1, "unit_price": 490}],
                        "cart_url": "https://shop.example/cart/k1"}),
        ])  # fmt: skip
        wait_for(lambda: any(d["outcome"] == "send" for d in run.decisions()), 30, "the cart reminder")
        said = {"from": PHONE[1:], "id": "wamid.people", "timestamp": str(int(time.time())), "type": "text",
                "text": {"body": "我要找真人客服"}}  # fmt: skip
        body = webhook({"messages": [said]})
        assert httpx.post(f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body)).status_code == 200
        wait_for(lambda: any(d["outcome"] == "handoff" for d in run.decisions()), 30, "the hand-off")

        sign_in(browser, run.url, run.key)
        browser.get(f"{run.url}/console#/preview")
        Select(wait(browser, "#preview-trigger")).select_by_value("cart_idle")
        Select(wait(browser, "#preview-locale")).select_by_value("zh-TW")
        browser.find_element(By.ID, "preview-run").click()
        answers = wait(browser, "#preview-answers")
        checkout = answers.find_element(By.CSS_SELECTOR, "[data-reply='CHECKOUT']").text
        assert "這是您的購物車,點此結帳:https://shop.example.com/cart/1" in checkout
        assert "opts out of marketing" in answers.find_element(By.CSS_SELECTOR, "[data-reply='STOP']").text
        other = answers.find_element(By.CSS_SELECTOR, "[data-reply='(any other reply)']").text
        assert "handed to people (the message's default)" in other
        screenshot(browser, "answers-1-preview")

        browser.get(f"{run.url}/console#/customer/c-answers")
        conversation = wait(browser, "#conversation", text="With people since")
        assert "automatic answers pause" in conversation.text
        timeline = wait(browser, "#timeline-table", text="handoff")
        assert "我要找真人客服" in timeline.text
        screenshot(browser, "answers-2-customer-handoff")
        browser.find_element(By.ID, "resolve-conversation").click()
        wait(browser, "#conversation", text="Resolved: automatic answers resume.")
        screenshot(browser, "answers-3-resolved")
        browser.refresh()
        assert "Automatic answers are on" in wait(browser, "#conversation").text


def test_a_publish_after_another_went_live_redraws_the_review(tmp_path: Path) -> None:
    with running(tmp_path / "state", dirs(tmp_path)) as run, chromium() as browser:
        api = f"{run.url}/console/api"
        original = httpx.get(f"{api}/files", headers=run.headers).json()["files"]["triggers/cart_idle.yaml"]
        sign_in(browser, run.url, run.key)
        mine = {"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 90m")}
        browser.execute_script("sessionStorage.setItem('engagement.edit', arguments[0])", json.dumps(mine))
        browser.get(f"{run.url}/console#/publish")
        browser.refresh()
        wait(browser, "#publish-checks", text="Checked")
        theirs = {"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 45m")}
        done = httpx.post(
            f"{api}/publish", headers=run.headers, json={"files": theirs, "note": "45", "acknowledged": []}
        )
        assert done.status_code == 201
        wait(browser, "#publish-note").send_keys("90 minutes")
        browser.find_element(By.ID, "publish-run").click()
        wait(browser, "#live-changed")
        assert "-idle: 45m" in wait(browser, "#publish-diff", text="-idle: 45m").text  # what the edit would undo
        screenshot(browser, "publish-live-changed")
        browser.find_element(By.ID, "publish-run").click()
        wait(browser, "#publish-result", text="Published as version 2")
