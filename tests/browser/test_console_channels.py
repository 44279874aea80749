"""Channels in the console's preview, in headless Chromium against a live `run`: a login alert on
LINE first shows a LINE bubble with its quick replies, then WhatsApp as its fall-back; the late
parcel's Flex bubble shows its texts; an SMS shows its parts."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.chromium import chromium
from tests.browser.test_console import screenshot, sign_in, wait
from tests.integration.processes import running
from tests.integration.whatsapp_payloads import ENV

pytestmark = pytest.mark.integration


def _preview(browser: object, trigger: str, channel: str, locale: str = "zh-TW") -> None:
    Select(wait(browser, "#preview-trigger")).select_by_value(trigger)  # type: ignore[arg-type]
    Select(wait(browser, "#preview-locale")).select_by_value(locale)  # type: ignore[arg-type]
    Select(wait(browser, "#preview-channel")).select_by_value(channel)  # type: ignore[arg-type]
    browser.find_element(By.ID, "preview-run").click()  # type: ignore[attr-defined]


def test_preview_shows_each_channel_as_its_customer_reads_it(tmp_path: Path) -> None:
    with running(tmp_path / "state", ENV) as run, chromium() as browser:
        sign_in(browser, run.url, run.key)
        browser.get(f"{run.url}/console#/preview")
        _preview(browser, "anomalous_login", "line")
        line = wait(browser, "#line-bubble", text="檢測到異常登入")
        assert "請確認是否本人操作" in line.text
        replies = browser.find_element(By.ID, "line-quick-replies").text
        assert "是我本人" in replies
        assert "不是我" in replies
        fallback = browser.find_element(By.CSS_SELECTOR, ".fallback[data-channel='whatsapp']").text
        assert "If LINE refuses it or reports no delivery within 2 min: on WhatsApp" in fallback
        screenshot(browser, "channels-1-line-then-whatsapp")

        _preview(browser, "logistics_delay", "line", "en")
        flex = wait(browser, "#line-bubble", text="Your parcel may be late")
        assert "order o-20260115-0042 may be late" in flex.text
        assert "New estimate:" in flex.text
        assert (
            "Notification text: Order o-20260115-0042 may be late"
            in browser.find_element(By.CSS_SELECTOR, ".chat.line").text
        )
        screenshot(browser, "channels-2-line-flex")

        _preview(browser, "cart_idle", "sms")
        sms = wait(browser, ".chat.sms", text="SMS · 1 part (UCS-2")
        assert "回覆 STOP 退訂" in sms.text
        screenshot(browser, "channels-3-sms")
