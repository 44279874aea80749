"""The console against a read key and a careless approver, on a live `run` with maker/checker on:
numbers stay masked (no look-up by phone, no event export, none in names or items), the approver
sees what a proposal changes and is warned when a security trigger goes off, a roll back needs
a second key too, one key cannot fill the proposals, a note cannot write a log line of its own,
checks are bounded, and errors name files as the console does, in JSON."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement.console.new_trigger import skeleton
from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.integration.processes import RunProcess, running
from tests.integration.test_console_api import dirs

pytestmark = pytest.mark.integration

PHONE = "+886912345678"


def customer_with_a_number_everywhere(now: float) -> list[str]:
    """People do write their number as their name, in an item's name, as a device."""
    events = [
        {"event_id": "p1", "type": "customer.updated", "customer_id": "c-x", "occurred_at": rfc3339(now - 900),
         "name": "Amy 0912 345 678", "phone": PHONE, "locale": "zh-TW", "whatsapp_opt_in": True},
        {"event_id": "k1", "type": "cart.updated", "customer_id": "c-x", "occurred_at": rfc3339(now - 800),
         "cart_id": "k1", "currency": "TWD",
         "items": [{"product_id": "p1", "name": "call 0912-345-678", "quantity": 1, "unit_price": 10}]},
        {"event_id": "l1", "type": "login.succeeded", "customer_id": "c-x", "occurred_at": rfc3339(now - 700),
         "device_id": PHONE, "country": "TW"},
    ]  # fmt: skip
    return [json.dumps(e, ensure_ascii=False) for e in events]


def test_a_read_key_never_learns_a_number(tmp_path: Path) -> None:
    with running(tmp_path / "state", {**dirs(tmp_path), "ENGAGEMENT_ALLOWED_LATENESS": "1s"}) as run:
        reader = {
            "Authorization": f"Bearer {create_key(Path(run.env['ENGAGEMENT_API_KEYS_FILE']), 'mallory', ('read',))}"
        }
        time.sleep(1.5)  # run reads its keys file again each second
        assert run.post_lines(customer_with_a_number_everywhere(time.time()))["accepted"] == 3
        api = f"{run.url}/console/api"
        # who holds a number tells a masked number in a million guesses: admin only, and logged
        assert httpx.get(f"{api}/customers", params={"phone": PHONE}, headers=reader).status_code == 403
        found = httpx.get(f"{api}/customers", params={"phone": "+886 912 345 678"}, headers=run.headers)
        assert found.json() == {"customer_id": "c-x"}
        assert "looked up who holds the number +8869******78: customer c-x" in run.log()
        # the raw events carry numbers in clear: exported with an admin key only
        assert httpx.get(f"{run.url}/v1/events", params={"since": 0}, headers=reader).status_code == 403
        assert PHONE in httpx.get(f"{run.url}/v1/events", params={"since": 0}, headers=run.headers).text
        time.sleep(2)  # the events are applied once the lateness has passed
        page = httpx.get(f"{api}/customers/c-x", headers=reader)
        assert page.status_code == 200
        shown = json.dumps(page.json(), ensure_ascii=False)
        for digits in ("0912 345 678", "0912-345-678", "912345678"):
            assert digits not in shown
        assert page.json()["profile"]["name"].startswith("Amy ")
        assert "call " in shown  # the item is there, its number masked


def test_maker_checker_shows_the_change_and_holds_a_roll_back(tmp_path: Path) -> None:
    env = {**dirs(tmp_path), "ENGAGEMENT_CONSOLE_REQUIRE_APPROVAL": "1"}
    with running(tmp_path / "state", env) as run:
        keys = Path(run.env["ENGAGEMENT_API_KEYS_FILE"])
        reader = {"Authorization": f"Bearer {create_key(keys, 'mallory', ('read',))}"}
        checker = {"Authorization": f"Bearer {create_key(keys, 'checker', ('read', 'admin'))}"}
        time.sleep(1.5)
        api = f"{run.url}/console/api"
        first = httpx.get(f"{api}/triggers", headers=reader).json()["live_version"]
        login = (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "anomalous_login.yaml").read_text(encoding="utf-8")
        off = {"triggers/anomalous_login.yaml": login.replace("enabled: true", "enabled: false")}
        forged = "2026-12-03 21:30:00,000 WARNING engagement.console: console: carol revealed the phone number"
        proposed = httpx.post(f"{api}/proposals", headers=reader,
                              json={"files": off, "note": f"fix a typo in the description\n{forged}"})  # fmt: skip
        assert proposed.status_code == 201, proposed.text
        pid = proposed.json()["id"]
        # the approver sees the change itself and the warning, before approving
        seen = httpx.get(f"{api}/proposals/{pid}", headers=checker).json()
        assert "-enabled: true" in seen["review"]["diffs"][0]["diff"]
        assert "+enabled: false" in seen["review"]["diffs"][0]["diff"]
        assert [w["name"] for w in seen["review"]["warnings"]] == ["anomalous_login:turned_off"]
        blind = httpx.post(f"{api}/proposals/{pid}/approve", headers=checker, json={})
        assert blind.status_code == 409
        assert "anomalous_login:turned_off" in blind.text
        done = httpx.post(f"{api}/proposals/{pid}/approve", headers=checker,
                          json={"acknowledged": ["anomalous_login:turned_off"]})  # fmt: skip
        assert done.status_code == 201, done.text
        # the note is one quoted line of the log: it cannot forge a line of its own
        log = run.log()
        assert "fix a typo in the description\\n2026-12-03" in log
        assert not any(line.startswith(forged) for line in log.splitlines())

        # a roll back is proposed as well, and approved by another admin key
        wait_live(run, done.json()["config_version"])
        held = httpx.post(f"{api}/versions/0/rollback", headers=checker, json={})
        assert held.status_code == 202, held.text
        rollback = held.json()["proposed"]
        assert rollback["rollback"] == 0
        assert httpx.get(f"{api}/triggers", headers=reader).json()["live_version"] != first
        own = httpx.post(f"{api}/proposals/{rollback['id']}/approve", headers=checker, json={})
        assert own.status_code == 403
        back = httpx.post(f"{api}/proposals/{rollback['id']}/approve", headers=run.headers, json={})
        assert back.status_code == 201, back.text
        assert (back.json()["author"], back.json()["approved_by"]) == ("checker", run_key_name(run))
        wait_live(run, first)
        assert "enabled: true" in (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "anomalous_login.yaml").read_text()


def test_one_key_cannot_fill_the_proposals_nor_keep_the_cores_busy(tmp_path: Path) -> None:
    env = {**dirs(tmp_path), "ENGAGEMENT_CONSOLE_REQUIRE_APPROVAL": "1"}
    with running(tmp_path / "state", env) as run:
        reader = {
            "Authorization": f"Bearer {create_key(Path(run.env['ENGAGEMENT_API_KEYS_FILE']), 'mallory', ('read',))}"
        }
        time.sleep(1.5)
        api = f"{run.url}/console/api"
        cart = (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "cart_idle.yaml").read_text(encoding="utf-8")
        answers = [
            httpx.post(f"{api}/proposals", headers=reader, timeout=60, json={
                "files": {"triggers/cart_idle.yaml": cart.replace("idle: 60m", f"idle: {40 + n}m")}, "note": f"n{n}"})
            for n in range(11)
        ]  # fmt: skip
        assert [a.status_code for a in answers] == [201] * 10 + [409]
        assert "10 of your proposals wait already" in answers[-1].json()["error"]
        other = httpx.post(f"{api}/proposals", headers=run.headers, timeout=60,
                           json={"files": {"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 30m")},
                                 "note": "mine"})  # fmt: skip
        assert other.status_code == 201  # the others still propose

        # many large checks at once: a few run, a few wait, the rest get 429 with a reason
        taken: set[str] = set()
        big: dict[str, str] = {}
        for n in range(12):
            files = skeleton("cart_idle", f"cart_reminder_{n}", taken)
            taken |= set(files)
            big |= files
        statuses = asyncio.run(many_checks(f"{api}/check", reader, big, 30))
        assert all(s in (200, 429) for s in statuses), statuses
        assert statuses.count(429) >= 1
        assert statuses.count(200) >= 10  # two running and eight waiting at least
        assert httpx.get(f"{run.url}/healthz").status_code == 200


async def many_checks(url: str, headers: dict[str, str], files: dict[str, str], count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=300) as client:
        answers = await asyncio.gather(
            *(client.post(url, headers=headers, json={"files": files}) for _ in range(count))
        )
    return [a.status_code for a in answers]


def test_errors_name_the_console_files_and_come_as_json(tmp_path: Path) -> None:
    env = dirs(tmp_path)
    with running(tmp_path / "state", env) as run:
        api = f"{run.url}/console/api"
        wrong = httpx.post(
            f"{api}/preview", headers=run.headers, json={"files": {}, "trigger": "cart_idle", "locale": "xx"}
        )
        assert wrong.status_code == 400
        reason = wrong.json()["error"]
        assert "messages/cart_idle.yaml" in reason
        assert str(tmp_path) not in reason
        assert "engagement-console-" not in reason  # nor the scratch copy's
        # a new trigger previews before it is switched on (it is created off)
        new = httpx.get(
            f"{api}/new-trigger", headers=run.headers, params={"kind": "cart_idle", "id": "cart_reminder_30m"}
        )
        shown = httpx.post(f"{api}/preview", headers=run.headers,
                           json={"files": new.json()["files"], "trigger": "cart_reminder_30m"})  # fmt: skip
        assert shown.status_code == 200, shown.text
        assert shown.json()["enabled"] is False
        assert any(d.get("message") for d in shown.json()["decisions"])
        for method, path, status in (("GET", "/console/api/nothing", 404), ("DELETE", "/console/api/versions", 405),
                                     ("GET", "/v1/nothing", 404)):  # fmt: skip
            answer = httpx.request(method, f"{run.url}{path}", headers=run.headers)
            assert answer.status_code == status
            assert answer.json()["error"]
        typed: dict[str, Any] = {"files": {"triggers/x.yaml": 1}}
        assert "text expected" in httpx.post(f"{api}/check", headers=run.headers, json=typed).json()["error"]


def wait_live(run: RunProcess, version: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{run.url}/console/api/triggers", headers=run.headers).json()["live_version"] == version:
            return
        time.sleep(0.3)
    raise AssertionError(f"configuration {version} never went live")


def run_key_name(run: RunProcess) -> str:
    return str(httpx.get(f"{run.url}/console/api/whoami", headers=run.headers).json()["name"])


def test_a_publish_reviewed_before_another_went_live_is_sent_back_to_review(tmp_path: Path) -> None:
    with running(tmp_path / "state", dirs(tmp_path)) as run:
        api = f"{run.url}/console/api"
        files = httpx.get(f"{api}/files", headers=run.headers).json()["files"]
        original = files["triggers/cart_idle.yaml"]
        ann = {"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 45m")}
        bo = {"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 90m")}
        base = httpx.post(f"{api}/review", headers=run.headers, json={"files": bo}).json()["base"]
        first = httpx.post(f"{api}/publish", headers=run.headers,
                           json={"files": ann, "note": "45 min", "acknowledged": []})  # fmt: skip
        assert first.status_code == 201, first.text
        late = httpx.post(f"{api}/publish", headers=run.headers,
                          json={"files": bo, "note": "90 min", "acknowledged": [], "base": base})  # fmt: skip
        assert late.status_code == 409
        assert late.json()["code"] == "live_changed"
        bad = httpx.post(f"{api}/publish", headers=run.headers,
                         json={"files": bo, "note": "90 min", "acknowledged": [], "base": "x' OR 1"})  # fmt: skip
        assert bad.status_code == 400
        again = httpx.post(f"{api}/review", headers=run.headers, json={"files": bo}).json()
        assert any("-idle: 45m" in d["diff"] for d in again["diffs"])  # the review now shows what it undoes
        asked = {"files": bo, "note": "90 min", "acknowledged": [], "base": again["base"]}
        redone = httpx.post(f"{api}/publish", headers=run.headers, json=asked)
        assert redone.status_code == 201, redone.text
