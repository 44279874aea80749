"""The console walked through in headless Chromium against a live `run`: sign in, edit `cart_idle`
to 45 minutes with a typo first (the error shows at its line), fix it, preview in zh-TW from the
approved template, backtest the edit on the recorded traffic, publish it, see it live, roll back.

Screenshots of each page go to `ENGAGEMENT_SCREENSHOTS` when it is set."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from engagement.authoring.template_submission import submissions, template_payload
from engagement.config.bundle import load_configuration
from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import TemplateRecord, write_registry
from engagement.core.engine import Engine
from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.browser.chromium import chromium, full_page_screenshot
from tests.integration.processes import RunProcess, running, wait_for
from tests.scenario import filled_carts

pytestmark = pytest.mark.integration

CARTS = 24


def approved_registry(triggers: Path, messages: Path) -> None:
    """Every template the messages use (each language's and each tier's own), APPROVED as
    `templates submit` would submit it."""
    engine = Engine.of(load_configuration(triggers, messages))
    records = []
    for spec in engine.specs.values():
        message = engine.catalog.message_for(spec.id, spec.kind)
        if message is None or message.template is None:
            continue
        for locale, tier in submissions(engine, spec.id):
            payload = template_payload(engine, spec.id, locale, tier)
            records.append(TemplateRecord(status="APPROVED", **payload))
    write_registry(messages, "test", "", {(r.name, r.language): r for r in records}.values())


def yesterdays_carts(now: float) -> list[str]:
    """Carts of yesterday from 10:00 in Taipei (reminders allowed): each customer orders 50 minutes
    after filling the cart, so a reminder after 60 minutes never goes (the order cancels it) and
    one after 45 minutes does."""
    start = (now // 86_400 - 1) * 86_400 + 2 * 3600
    lines = []
    for n in range(CARTS):
        customer, t = f"c-{n:02d}", start + n * 600
        lines.append(json.dumps({"event_id": f"p{n}", "type": "customer.updated", "customer_id": customer,
                                 "occurred_at": rfc3339(t - 60), "phone": f"+8869120100{n:02d}",
                                 "locale": "zh-TW", "timezone": "Asia/Taipei", "whatsapp_opt_in": True,
                                 "name": f"客戶{n}"}))  # fmt: skip
        item = {"product_id": "p-1", "name": "亞麻襯衫", "quantity": 1, "unit_price": 1280}
        lines.append(json.dumps({"event_id": f"c{n}", "type": "cart.updated", "customer_id": customer,
                                 "occurred_at": rfc3339(t), "cart_id": f"k{n}", "currency": "TWD",
                                 "items": [item]}))  # fmt: skip
        lines.append(json.dumps({"event_id": f"o{n}", "type": "order.placed", "customer_id": customer,
                                 "occurred_at": rfc3339(t + 50 * 60), "order_id": f"o{n}", "cart_id": f"k{n}",
                                 "items": [item], "total": 1280, "currency": "TWD"}))  # fmt: skip
    return lines


@pytest.fixture
def console_run(tmp_path: Path) -> Iterator[tuple[RunProcess, str, Path]]:
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    shutil.copytree(default_triggers_dir(), triggers)
    shutil.copytree(default_messages_dir(), messages)
    approved_registry(triggers, messages)
    env = {
        "ENGAGEMENT_TRIGGERS_DIR": str(triggers),
        "ENGAGEMENT_MESSAGES_DIR": str(messages),
        "ENGAGEMENT_CONFIG_POLL": "1s",
        "ENGAGEMENT_ALLOWED_LATENESS": "30s",
    }
    with running(tmp_path / "state", env) as run:
        answer = run.post_lines(yesterdays_carts(time.time()))
        assert answer["accepted"] == 3 * CARTS
        reader = create_key(Path(run.env["ENGAGEMENT_API_KEYS_FILE"]), "analyst", ("read",))
        time.sleep(1.5)  # run reads its keys file again each second
        yield run, reader, triggers


def screenshot(browser: WebDriver, name: str) -> None:
    folder = os.environ.get("ENGAGEMENT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        full_page_screenshot(browser, Path(folder) / f"{name}.png")  # type: ignore[arg-type]


def wait(browser: WebDriver, css: str, timeout: float = 20, text: str | None = None) -> WebElement:
    def found(driver: WebDriver) -> WebElement | bool:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed() and (text is None or text in element.text):
                return element
        return False

    # a page that re-renders may replace an element between finding it and reading it: look again
    patient = WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException])
    element = patient.until(found, f"{css} {text or ''}")
    assert isinstance(element, WebElement)
    return element


def attribute(browser: WebDriver, css: str, name: str, timeout: float = 20, text: str | None = None) -> str:
    """An attribute of the first displayed element that matches, read as it is found (the page
    may replace the element right after)."""

    def found(driver: WebDriver) -> str | bool:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed() and (text is None or text in element.text):
                return element.get_attribute(name) or False
        return False

    patient = WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException])
    return str(patient.until(found, f"{css} [{name}]"))


def set_field(browser: WebDriver, css: str, value: str) -> None:
    field = wait(browser, css)
    field.clear()
    field.send_keys(value, Keys.TAB)  # a change is taken when the field is left


def set_number(browser: WebDriver, css: str, value: str) -> None:
    field = wait(browser, css)
    field.clear()
    field.send_keys(value)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", field)


def typo_in_the_text(browser: WebDriver, old: str, new: str) -> None:
    """Types over part of the YAML text, as a marketer editing the file itself would."""
    browser.execute_script(
        "const box = document.getElementById('yaml'); box.value = box.value.replace(arguments[0], arguments[1]);"
        "box.dispatchEvent(new Event('input'))",
        old,
        new,
    )


def sign_in(browser: WebDriver, url: str, key: str) -> None:
    browser.get(f"{url}/console")
    wait(browser, "#api-key").send_keys(key)
    screenshot(browser, "1-sign-in")
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, "tr[data-trigger='cart_idle']")


def test_edit_preview_backtest_publish_and_roll_back_in_a_browser(console_run: tuple[RunProcess, str, Path]) -> None:
    run, reader, triggers = console_run
    live = httpx.get(f"{run.url}/console/api/triggers", headers=run.headers).json()["live_version"]
    with chromium() as browser:
        sign_in(browser, run.url, run.key)
        assert wait(browser, "#live-version").text == live
        screenshot(browser, "2-triggers")

        browser.get(f"{run.url}/console#/edit/triggers/cart_idle.yaml")
        wait(browser, "#check-result.ok", text="Valid")  # the live files, checked
        typo_in_the_text(browser, "idle: 60m", "idle: 45 minutes")
        line = int(attribute(browser, ".notes .problem.error", "data-line", text="not a duration"))
        lines = triggers.joinpath("cart_idle.yaml").read_text(encoding="utf-8").splitlines()
        idle_line = 1 + next(n for n, text in enumerate(lines) if text.startswith("idle: 60m"))
        assert line == idle_line  # next to the line it concerns
        wait(browser, f".gutter .ln.has-error[data-line='{line}']")
        text = browser.find_element(By.ID, "yaml").get_attribute("value") or ""
        assert "45 minutes" in text.splitlines()[line - 1]
        wait(browser, ".field[data-path='idle'] .field-problem", text="not a duration")  # and at its field
        screenshot(browser, "3-edit-with-a-typo")
        set_number(browser, "#field-idle", "45")  # minutes: the unit beside it says so
        wait(browser, "#check-result.ok", text="Valid")
        assert not browser.find_elements(By.CSS_SELECTOR, ".notes .problem.error")
        screenshot(browser, "4-edit-fixed")

        browser.get(f"{run.url}/console#/preview")
        Select(wait(browser, "#preview-trigger")).select_by_value("cart_idle")
        Select(browser.find_element(By.ID, "preview-locale")).select_by_value("zh-TW")
        browser.find_element(By.ID, "preview-run").click()
        bubble = wait(browser, "#bubble", text="購物車")
        assert "還在購物車裡" in bubble.text
        assert wait(browser, "#template-status").text == "APPROVED"
        screenshot(browser, "5-preview")

        browser.get(f"{run.url}/console#/backtest")
        wait(browser, "#backtest-from")
        browser.find_element(By.ID, "backtest-run").click()
        row = wait(browser, "#backtest-table tr[data-trigger='cart_idle']", timeout=120)
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1:5] == ["0", str(CARTS), f"+{CARTS}", "0"]  # 60 min: all converted first; 45 min: all sent
        assert browser.find_elements(By.CSS_SELECTOR, "#backtest-chart svg")
        scope = wait(browser, "#backtest-scope").text
        assert scope == f"All {CARTS} customers replayed under the edit.", scope  # each of them filled a cart
        assert "Days that are over" in wait(browser, "#backtest-today").text  # up to yesterday, by default
        screenshot(browser, "6-backtest")
        browser.find_element(By.ID, "backtest-run").click()  # the same days again: only the edit replayed
        wait(browser, "#backtest-scope", text="the live side kept from an earlier backtest", timeout=120)
        cells = [
            cell.text
            for cell in wait(browser, "#backtest-table tr[data-trigger='cart_idle']").find_elements(By.TAG_NAME, "td")
        ]
        assert cells[1:5] == ["0", str(CARTS), f"+{CARTS}", "0"]  # the same answer
        screenshot(browser, "6b-backtest-again")
        to = wait(browser, "#backtest-to")
        browser.execute_script(
            "arguments[0].value = new Date().toISOString().slice(0, 10);"
            "arguments[0].dispatchEvent(new Event('change'))",
            to,
        )
        assert "Today is still coming in" in wait(browser, "#backtest-today").text

        browser.get(f"{run.url}/console#/publish")
        wait(browser, "#publish-checks.ok", timeout=30)
        box = wait(browser, "#publish-warnings", text="the backtest moved its sends from 0 to 24")
        wait(browser, "#publish-note").send_keys("Cart reminder after 45 minutes")
        for tick in box.find_elements(By.CSS_SELECTOR, ".ack-box"):
            tick.click()
        browser.find_element(By.ID, "publish-run").click()
        wait(browser, "#now-live", timeout=60)
        published = httpx.get(f"{run.url}/console/api/triggers", headers=run.headers).json()["live_version"]
        assert published != live
        assert "\nidle: 45m " in triggers.joinpath("cart_idle.yaml").read_text(encoding="utf-8")
        screenshot(browser, "7-published")

        browser.get(f"{run.url}/console#/versions")
        wait(browser, "tr[data-version='1'] .badge.live")
        assert "Cart reminder after 45 minutes" in wait(browser, "tr[data-version='1']").text
        wait(browser, "button[data-version='0']").click()  # roll back to the files before the first publish
        wait(browser, "#now-live", timeout=60)
        screenshot(browser, "8-rolled-back")
    wait_for(
        lambda: httpx.get(f"{run.url}/console/api/triggers", headers=run.headers).json()["live_version"] == live,
        30,
        "the first configuration live again",
    )
    assert "\nidle: 60m " in triggers.joinpath("cart_idle.yaml").read_text(encoding="utf-8")
    # a read-only key looks but cannot publish
    refused = httpx.post(f"{run.url}/console/api/publish", headers={"Authorization": f"Bearer {reader}"},
                         json={"files": {}, "note": "x"})  # fmt: skip
    assert refused.status_code == 403


def test_customer_timeline_and_report_pages(console_run: tuple[RunProcess, str, Path]) -> None:
    run, reader, _ = console_run
    with chromium() as browser:
        sign_in(browser, run.url, reader)
        browser.get(f"{run.url}/console#/customer/c-03")
        rows = wait(browser, "#timeline-table")
        text = rows.text
        assert "cart.updated" in text
        assert "order.placed" in text
        assert "亞麻襯衫" in text
        screenshot(browser, "9-customer")
        browser.get(f"{run.url}/console#/report")
        frame = wait(browser, "#report-frame")
        WebDriverWait(browser, 30).until(lambda d: "engagement report" in (frame.get_attribute("srcdoc") or ""))
        browser.switch_to.frame(frame)
        assert wait(browser, "table").text
        browser.switch_to.default_content()
        screenshot(browser, "10-report")


def test_a_dangerous_edit_is_published_only_once_each_warning_is_acknowledged(
    console_run: tuple[RunProcess, str, Path],
) -> None:
    """Marketing allowed at 3 a.m. and a frequency cap of 1,000 pass every check: the publish
    review names both, publishing without ticking them is refused, and the ticks are kept."""
    run, _, triggers = console_run
    cart = triggers.joinpath("cart_idle.yaml").read_text(encoding="utf-8")
    risky = cart.replace('allowed: "* 9-20 * * *"', 'allowed: "* 3 * * *"').replace(
        "marketing_per_24h: 3 ", "marketing_per_24h: 1000 "
    )
    assert risky.count("1000") == 1
    assert '"* 3 * * *"' in risky
    with chromium() as browser:
        sign_in(browser, run.url, run.key)
        browser.execute_script(
            "sessionStorage.setItem('engagement.edit', JSON.stringify({'triggers/cart_idle.yaml': arguments[0]}))",
            risky,
        )
        browser.get(f"{run.url}/console#/publish")
        browser.refresh()  # the page reads the edit from the tab's storage when it starts
        box = wait(browser, "#publish-warnings", text="at night")
        assert "marketing_per_24h raised to 1000" in box.text
        screenshot(browser, "11-publish-review")
        wait(browser, "#publish-note").send_keys("Night sends for the flash sale")
        browser.find_element(By.ID, "publish-run").click()
        wait(browser, "#publish-result .error", text="acknowledge before publishing")
        assert '"* 3 * * *"' not in triggers.joinpath("cart_idle.yaml").read_text(encoding="utf-8")
        for tick in browser.find_elements(By.CSS_SELECTOR, "#publish-warnings .ack-box"):
            tick.click()
        browser.find_element(By.ID, "publish-run").click()
        wait(browser, "#now-live", timeout=60)
    assert '"* 3 * * *"' in triggers.joinpath("cart_idle.yaml").read_text(encoding="utf-8")
    versions = httpx.get(f"{run.url}/console/api/versions", headers=run.headers).json()["versions"]
    assert sorted(versions[0]["acknowledged"]) == ["cart_idle:cap_raised", "cart_idle:night_sends"]
    log = run.log()
    assert "console: version 1 published by tests-" in log  # the author's key name
    assert "acknowledged cart_idle:night_sends" in log


def test_a_backtest_result_shows_no_customer_after_an_erasure(console_run: tuple[RunProcess, str, Path]) -> None:
    """A customer erased while a backtest runs: its result names no customer as an example of a
    move, and says why."""
    run, _, _ = console_run
    yesterday = (time.time() // 86_400 - 1) * 86_400 + 3 * 3600
    more = filled_carts(4000, yesterday, name="More")  # enough traffic for the backtest to take a while
    for chunk in range(0, len(more), 4000):
        run.post_lines(more[chunk : chunk + 4000])  # (its first event ids repeat the fixture's: refused)
    with chromium() as browser:
        sign_in(browser, run.url, run.key)
        browser.get(f"{run.url}/console#/edit/triggers/cart_idle.yaml")
        wait(browser, "#check-result.ok", text="Valid")
        typo_in_the_text(browser, "idle: 60m", "idle: 45m")
        WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "field-idle").get_attribute("value") == "45")
        wait(browser, "#check-result.ok", text="Valid")
        browser.get(f"{run.url}/console#/backtest")
        wait(browser, "#backtest-from")
        browser.find_element(By.ID, "backtest-run").click()
        wait(browser, "#backtest-progress")  # the backtest runs
        erased = httpx.delete(f"{run.url}/v1/customers/c-00", headers=run.headers)
        assert erased.status_code == 200, erased.text
        wait(browser, "#backtest-table tr[data-trigger='cart_idle']", timeout=120)
        note = wait(browser, "#backtest-withdrawn")
        assert "a customer may have been erased" in note.text
        moves = " ".join(item.text for item in browser.find_elements(By.CSS_SELECTOR, "#backtest-result li"))
        assert "→" in moves  # the moves and their counts are still shown
        assert "c-" not in moves  # and no customer
        screenshot(browser, "9-backtest-after-an-erasure")
