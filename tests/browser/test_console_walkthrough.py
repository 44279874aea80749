"""The console as a marketer, a second approver and a support agent walk it, in Debian's headless
Chromium: create a trigger, set it up through the form's widgets, see a problem at its field,
preview a VIP customer's message, acknowledge a warning and propose, approve as a second key, roll
back, open a customer's profile with a pending timer, sync the templates from a fake WhatsApp
Business Account, send a test to an allowed number and be refused one outside the list.
`ENGAGEMENT_SCREENSHOTS=DIR` keeps a screenshot of each page."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import load_registry
from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.browser.chromium import chromium
from tests.browser.fake_waba import TOKEN, WABA, FakeWaba, serving
from tests.browser.test_console import attribute, screenshot, set_number, wait
from tests.integration.processes import RunProcess, running, wait_for

pytestmark = pytest.mark.integration

ALLOWED = "+886912000001"


def waba_templates() -> list[dict[str, object]]:
    """The shipped example's templates as the account holds them, one of them paused."""
    registry = load_registry(default_messages_dir())
    assert registry is not None
    found = [r.model_dump(exclude_none=True) for r in registry.records.values()]
    for record in found:
        if (record["name"], record["language"]) == ("browse_followup", "en_US"):
            record["status"] = "PAUSED"
    return found


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[RunProcess, str, str, FakeWaba]]:
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    shutil.copytree(default_triggers_dir(), triggers)
    shutil.copytree(default_messages_dir(), messages)
    with serving(FakeWaba(waba_templates())) as waba:
        env = {
            "ENGAGEMENT_TRIGGERS_DIR": str(triggers),
            "ENGAGEMENT_MESSAGES_DIR": str(messages),
            "ENGAGEMENT_CONFIG_POLL": "1s",
            "ENGAGEMENT_ALLOWED_LATENESS": "30s",
            "ENGAGEMENT_CONSOLE_REQUIRE_APPROVAL": "1",
            "ENGAGEMENT_TEST_NUMBERS": ALLOWED,
            "ENGAGEMENT_WHATSAPP_API_BASE": waba.base,
            "ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID": WABA,
            "ENGAGEMENT_WHATSAPP_TOKEN": TOKEN,
        }
        with running(tmp_path / "state", env) as run:
            keys = Path(run.env["ENGAGEMENT_API_KEYS_FILE"])
            checker = create_key(keys, "checker", ("read", "admin"))
            reader = create_key(keys, "analyst", ("read",))
            now = time.time()
            run.post_lines([
                json.dumps({"event_id": "p", "type": "customer.updated", "customer_id": "c-1042",
                            "occurred_at": rfc3339(now - 3600), "name": "林小華", "phone": "+886912345678",
                            "locale": "zh-TW", "timezone": "Asia/Taipei", "whatsapp_opt_in": True, "tier": "vip"},
                           ensure_ascii=False),
                json.dumps({"event_id": "c", "type": "cart.updated", "customer_id": "c-1042",
                            "occurred_at": rfc3339(now - 60), "cart_id": "k1", "currency": "TWD",
                            "items": [{"product_id": "p-9", "name": "羊毛圍巾", "quantity": 1, "unit_price": 990}]},
                           ensure_ascii=False),
            ])  # fmt: skip
            time.sleep(1.5)  # run reads its keys file again each second
            yield run, checker, reader, waba


def sign_in(browser: WebDriver, url: str, key: str) -> None:
    browser.get(f"{url}/console#/signin")
    wait(browser, "#api-key").send_keys(key)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, "tr[data-trigger='cart_idle']")


def yaml_text(browser: WebDriver) -> str:
    return str(browser.find_element(By.ID, "yaml").get_attribute("value") or "")


def live_version(run: RunProcess) -> str:
    return str(httpx.get(f"{run.url}/console/api/triggers", headers=run.headers).json()["live_version"])


def test_a_marketer_an_approver_and_an_agent_walk_the_console(shop: tuple[RunProcess, str, str, FakeWaba]) -> None:
    run, checker, reader, _ = shop
    first = live_version(run)
    with chromium(width=1400) as browser:
        sign_in(browser, run.url, run.key)
        screenshot(browser, "w01-triggers")

        # a new trigger of a registered kind, with its message file
        wait(browser, "#new-trigger").click()
        Select(wait(browser, "#new-kind")).select_by_value("cart_idle")
        browser.find_element(By.ID, "new-id").send_keys("cart_reminder_30m")
        assert "{{cart_items}}" in wait(browser, "#new-values").text
        screenshot(browser, "w02-new-trigger")
        browser.find_element(By.ID, "new-create").click()
        wait(browser, "h1", text="Edit triggers/cart_reminder_30m.yaml")
        wait(browser, "#check-result.ok", text="Valid", timeout=30)

        # set it up through the widgets: the text follows
        wait(browser, "#field-enabled").click()  # the switch
        set_number(browser, "#field-idle", "30")
        wait_for(lambda: "\nidle: 30m" in yaml_text(browser), 30, "the idle field written into the text")
        assert "\nenabled: true" in yaml_text(browser)
        wait(browser, "#check-result.ok", text="Valid", timeout=30)

        # a problem shows at its field, not only at its line
        yaml = browser.find_element(By.ID, "yaml")
        browser.execute_script(
            "arguments[0].value = arguments[0].value.replace('send_within: 5m', 'send_within: five');"
            "arguments[0].dispatchEvent(new Event('input'))",
            yaml,
        )
        problem = wait(browser, ".field[data-path='send_within'] .field-problem.error", text="not a duration")
        assert "five" in problem.text
        screenshot(browser, "w03-problem-at-the-field")
        set_number(browser, "#field-send_within", "5")
        wait_for(lambda: "\nsend_within: 5m" in yaml_text(browser), 30, "the fix written into the text")
        wait(browser, "#check-result.ok", text="Valid", timeout=30)
        assert not browser.find_elements(By.CSS_SELECTOR, ".field-problem.error")
        screenshot(browser, "w04-edited-through-widgets")

        # a VIP customer gets the VIP template, with its buttons as customers see them
        browser.get(f"{run.url}/console#/preview")
        Select(wait(browser, "#preview-trigger")).select_by_value("cart_reminder_30m")
        Select(browser.find_element(By.ID, "preview-locale")).select_by_value("zh-TW")
        Select(browser.find_element(By.ID, "preview-tier")).select_by_value("vip")
        browser.find_element(By.ID, "preview-run").click()
        bubble = wait(browser, "#bubble", text="VIP")
        assert "今天結帳享免運" in bubble.text
        assert "cart_reminder_vip" in wait(browser, "p", text="WhatsApp template").text
        assert wait(browser, "#bubble-buttons").text.split("\n") == ["幫我結帳", "退訂"]
        screenshot(browser, "w05-preview-vip")

        # the review: the diff, the checks, and a warning to acknowledge; then propose
        browser.get(f"{run.url}/console#/publish")
        wait(browser, "#publish-checks.ok", timeout=30)
        assert wait(browser, "#publish-diff").text.count("cart_reminder_30m") >= 2
        wait(browser, "#publish-warnings", text="example registry")
        screenshot(browser, "w06-review")
        wait(browser, "#publish-note").send_keys("A 30-minute reminder")
        for tick in browser.find_elements(By.CSS_SELECTOR, "#publish-warnings .ack-box"):
            tick.click()
        browser.find_element(By.ID, "publish-run").click()
        wait(browser, "#proposed", timeout=30)
        own = wait(browser, "#proposals li button.primary")
        assert own.get_attribute("disabled") is not None  # a proposer cannot approve their own edit
        assert live_version(run) == first

        # a second admin key approves it (acknowledging the warning in turn)
        sign_in(browser, run.url, checker)
        browser.get(f"{run.url}/console#/publish")
        wait(browser, "#proposals li button.primary").click()
        wait(browser, "#proposals .ack-box", timeout=30).click()
        wait(browser, "#proposals li button.primary").click()
        wait(browser, "#now-live", timeout=60)
        screenshot(browser, "w07-approved")
        versions = httpx.get(f"{run.url}/console/api/versions", headers=run.headers).json()["versions"]
        assert versions[0]["approved_by"] == "checker"
        assert versions[0]["author"].startswith("tests-")
        assert versions[0]["acknowledged"] == ["messages:templates_unverified"]

        # and proposes to roll it back, which the first admin key approves in turn
        browser.get(f"{run.url}/console#/versions")
        wait(browser, "button[data-version='0']", text="Propose a roll back").click()
        wait(browser, "#rollback-proposed", timeout=30)
        assert live_version(run) != first  # nothing changes on one key's word
        sign_in(browser, run.url, run.key)
        browser.get(f"{run.url}/console#/publish")
        wait(browser, "#proposals li", text="a roll back to version 0")
        wait(browser, "#proposals li button.primary").click()
        diff = wait(browser, "#proposals .file-diff", timeout=30, text="removed")
        assert "cart_reminder_30m" in diff.text
        screenshot(browser, "w08-rollback-review")
        wait(browser, "#proposals li button.primary", text="Approve and publish").click()
        wait(browser, "#now-live", timeout=60)
        assert live_version(run) == first
        versions = httpx.get(f"{run.url}/console/api/versions", headers=run.headers).json()["versions"]
        assert (versions[0]["note"], versions[0]["approved_by"]) == ("roll back to version 0", versions[1]["author"])
        sign_in(browser, run.url, checker)

        # a customer with a pending timer, the number masked until an admin reveals it
        browser.get(f"{run.url}/console#/customer")
        wait(browser, "#customer-id").send_keys("+886 912 345 678\n")
        profile = wait(browser, "#profile", timeout=30)
        assert "+8869******78" in profile.text
        assert "cart_idle" in wait(browser, "#pending-timers").text
        assert "羊毛圍巾" in wait(browser, "#timeline-table").text
        screenshot(browser, "w09-customer")
        browser.find_element(By.ID, "reveal-phone").click()
        wait(browser, "#customer-phone", text="+886912345678")
        wait_for(lambda: "checker revealed the phone number of customer c-1042" in run.log(), 10, "the reveal logged")

        # templates: synced from the account, a test to an allowed number, none to another
        browser.get(f"{run.url}/console#/templates")
        wait(browser, "#templates-sync").click()
        wait(browser, "tr[data-template='browse_followup:en_US'] .badge.PAUSED", timeout=30)
        assert "Synced from whatsapp:" in wait(browser, "#registry-about").text
        wait(browser, "#test-to").send_keys(ALLOWED)
        browser.find_element(By.ID, "test-send").click()
        wait(browser, "#test-sent", timeout=30)
        field = browser.find_element(By.ID, "test-to")
        field.clear()
        field.send_keys("+886912000099")
        browser.find_element(By.ID, "test-send").click()
        assert "ENGAGEMENT_TEST_NUMBERS" in wait(browser, "#test-refused").text
        screenshot(browser, "w10-templates")
    sent = [m for m in run.sent() if m["customer_id"] == "test"]
    assert [m["to"] for m in sent] == [ALLOWED]

    # what a read key may not do, and hostile text shown as text
    api = f"{run.url}/console/api"
    read = {"Authorization": f"Bearer {reader}"}
    assert httpx.post(f"{api}/templates/sync", headers=read).status_code == 403
    assert (
        httpx.post(f"{api}/templates/test", headers=read, json={"trigger": "cart_idle", "to": ALLOWED}).status_code
        == 403
    )
    assert httpx.post(f"{api}/customers/c-1042/reveal", headers=read).status_code == 403
    assert httpx.post(f"{api}/proposals/abc/approve", headers=read).status_code == 403
    assert httpx.post(f"{api}/publish", headers=run.headers, json={"files": {}, "note": "x"}).status_code == 403


def test_hostile_text_is_shown_as_text_everywhere(shop: tuple[RunProcess, str, str, FakeWaba]) -> None:
    run, _, _, _ = shop
    attack = "<img src=x onerror=alert(1)>"
    fields = {"event_id": "h", "type": "customer.updated", "customer_id": "c-evil", "name": attack, "tier": attack}
    run.post_lines([json.dumps({**fields, "occurred_at": rfc3339(time.time() - 60)})])
    with chromium(width=1400) as browser:
        sign_in(browser, run.url, run.key)
        browser.get(f"{run.url}/console#/customer/c-evil")
        assert attack in wait(browser, "#profile", timeout=30).text
        assert not browser.find_elements(By.CSS_SELECTOR, "#profile img")
        cart = browser.execute_script("return 1")
        assert cart == 1  # no alert interrupted the page
        text = attribute(browser, "#timeline-table td", "textContent", text="name")
        assert attack in text


def test_a_wrong_key_says_so_the_first_time(shop: tuple[RunProcess, str, str, FakeWaba]) -> None:
    """Found by a new user: the first refusal's message was cleared as the page moved to sign-in."""
    run, _, _, _ = shop
    with chromium() as browser:
        browser.get(f"{run.url}/console")
        wait(browser, "#api-key").send_keys("egk_not-a-key")
        browser.find_element(By.ID, "sign-in").click()
        assert "refused" in wait(browser, "#status.error").text
        assert "unknown API key" in browser.find_element(By.ID, "status").text
        screenshot(browser, "w00-wrong-key")
