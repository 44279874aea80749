"""The messaging-tier budget (unique recipients per moving 24 h): shared by workers in Redis,
kept in `run`'s store, and applied by `engagement run` to real sends."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from engagement.embedded.store import EmbeddedStore
from engagement.live.recipient_budget import DAY_SECONDS
from engagement.timefmt import rfc3339
from engagement.worker.outbox import RedisOutbox
from engagement.worker.recipient_budget import RedisRecipientBudget
from tests.integration.processes import running, wait_for
from tests.integration.workers import REDIS_URL

pytestmark = pytest.mark.integration

T = 1_800_000_000.0


async def test_two_workers_share_one_budget_in_redis() -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    first, second = RedisOutbox(REDIS_URL, namespace), RedisOutbox(REDIS_URL, namespace)
    budgets = [RedisRecipientBudget(first, 3), RedisRecipientBudget(second, 3)]
    try:
        assert await budgets[0].admit("+1", T) is None
        assert await budgets[1].admit("+2", T + 10) is None
        assert await budgets[0].admit("+3", T + 20) is None
        assert await budgets[1].admit("+4", T + 30) == T + DAY_SECONDS  # spent: free when +1 ages out
        assert await budgets[1].admit("+2", T + 40) is None  # messaged already today: costs nothing
        assert await budgets[0].admit("+4", T + DAY_SECONDS + 1) is None  # +1 aged out
        assert await budgets[0].admit("+5", T + DAY_SECONDS + 2) == T + 20 + DAY_SECONDS
    finally:
        await first.close()
        await second.close()


def test_runs_budget_survives_a_restart_of_its_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    assert store.admit_recipient("+1", T, 2, DAY_SECONDS) is None
    assert store.admit_recipient("+2", T + 5, 2, DAY_SECONDS) is None
    store.close()
    store = EmbeddedStore(tmp_path)
    assert store.admit_recipient("+3", T + 6, 2, DAY_SECONDS) == T + DAY_SECONDS
    assert store.admit_recipient("+1", T + 7, 2, DAY_SECONDS) is None
    store.close()


def test_run_holds_sends_to_new_numbers_once_the_budget_is_spent(tmp_path: Path) -> None:
    now = time.time()
    lines: list[str] = []
    for n in range(3):
        cid = f"budget-{n}"
        lines.append(json.dumps({"event_id": f"{cid}-p", "type": "customer.updated", "customer_id": cid,
                                 "occurred_at": rfc3339(now - 600), "phone": f"+88691250000{n}",
                                 "whatsapp_opt_in": True}))  # fmt: skip
        for suffix, dt, device, country in (("a", 300, "d-home", "TW"), ("b", 0, "d-new", "RU")):
            login = {"event_id": f"{cid}-{suffix}", "type": "login.succeeded", "customer_id": cid,
                     "occurred_at": rfc3339(now - dt), "device_id": device, "country": country}  # fmt: skip
            lines.append(json.dumps(login))
    with running(tmp_path, {"ENGAGEMENT_WHATSAPP_DAILY_RECIPIENTS": "2"}) as run:
        run.post_lines(lines)

        def over_budget() -> float:
            for line in httpx.get(f"{run.url}/metrics", timeout=5).text.splitlines():
                if line.startswith('engagement_sends_total{result="over_budget"} '):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0

        wait_for(lambda: len(run.sent()) == 2 and over_budget() == 1, 30, "two sends and one held")
        time.sleep(2.0)
        assert len(run.sent()) == 2  # the third waits for a slot (24 h), past its 2 min window
        alerts = [d for d in run.decisions() if d["trigger"] == "anomalous_login"]
        assert [d["outcome"] for d in alerts] == ["send"] * 3
