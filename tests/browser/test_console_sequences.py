"""A moment written without code, from the console, in headless Chromium against a live `run`
(whose trigger directory has no event catalogue yet): the new-trigger page offers the shipped
sequence examples with the values their messages may use, creates one with the catalogue it
needs, and the preview shows what a disabled example would send."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.chromium import chromium
from tests.browser.test_console import screenshot, sign_in, wait
from tests.browser.test_console_channels import _preview
from tests.integration.processes import running
from tests.integration.whatsapp_payloads import ENV

pytestmark = pytest.mark.integration


def test_a_new_moment_starts_from_a_shipped_example(tmp_path: Path) -> None:
    with running(tmp_path / "state", ENV) as run, chromium() as browser:
        sign_in(browser, run.url, run.key)
        browser.get(f"{run.url}/console#/new")
        Select(wait(browser, "#new-kind")).select_by_value("store_pickup_reminder")
        values = wait(browser, "#new-values", text="{{pickup_deadline}}")
        assert "{{store_name}}" in values.text
        options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#new-kind option")]
        assert any(o.startswith("sequence, like cod_confirmation") for o in options), options
        screenshot(browser, "sequence-1-new-from-example")
        browser.find_element(By.ID, "new-id").send_keys("pickup_familymart")
        browser.find_element(By.ID, "new-create").click()
        wait(browser, "h1", text="Edit triggers/pickup_familymart.yaml")
        wait(browser, "#check-result.ok", text="Valid", timeout=30)  # with the catalogue it needs, added
        screenshot(browser, "sequence-2-edit")

        browser.get(f"{run.url}/console#/preview")
        _preview(browser, "pickup_familymart", "whatsapp")  # the edit, not yet published
        bubble = wait(browser, ".bubble", text="7-ELEVEN 台北車站門市")
        assert "前取件" in bubble.text
        screenshot(browser, "sequence-3-preview")
