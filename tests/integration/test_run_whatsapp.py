"""`engagement run` with ENGAGEMENT_PROVIDER=whatsapp against the fake Graph API: every login alert
reaches it exactly once although each first attempt meets 130429, 131056 or a 503."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from engagement.timefmt import rfc3339
from tests.integration.fake_graph import FakeGraph, Received, error, server_error
from tests.integration.processes import RunProcess, free_port

pytestmark = pytest.mark.integration

CUSTOMERS = 20


def login_events(run_id: str) -> list[str]:
    now = time.time()
    lines: list[str] = []
    for n in range(CUSTOMERS):
        cid = f"{run_id}-{n}"
        base = {"customer_id": cid}
        lines.append(
            json.dumps(
                {
                    **base,
                    "event_id": f"{cid}-p",
                    "type": "customer.updated",
                    "occurred_at": rfc3339(now - 7200),
                    "phone": f"+8869120{n:05d}",
                    "locale": "en",
                    "whatsapp_opt_in": True,
                }
            )
        )
        for suffix, dt, device, country in (("a", 3600, "phone", "TW"), ("b", 0, "laptop", "RU")):
            lines.append(
                json.dumps(
                    {
                        **base,
                        "event_id": f"{cid}-{suffix}",
                        "type": "login.succeeded",
                        "occurred_at": rfc3339(now - dt),
                        "device_id": f"{cid}-{device}",
                        "country": country,
                    }
                )
            )
    return lines


async def test_every_login_alert_reaches_the_graph_api_once_under_faults(tmp_path: Path, graph: FakeGraph) -> None:
    faults = [error(130429), error(131056), server_error(503)]
    attempts: Counter[str] = Counter()
    accepted: Counter[str] = Counter()

    def first_attempt_fails(request: Received) -> web.Response | None:
        key = str(request.body["biz_opaque_callback_data"])
        attempts[key] += 1
        if attempts[key] == 1:
            answer: web.Response = faults[len(attempts) % len(faults)](request)
            return answer
        accepted[key] += 1
        return None

    graph.default = first_attempt_fails
    run = RunProcess(
        tmp_path,
        free_port(),
        {
            "ENGAGEMENT_PROVIDER": "whatsapp",
            "ENGAGEMENT_WHATSAPP_API_BASE": graph.base_url,
            "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
            "ENGAGEMENT_WHATSAPP_TOKEN": "test-token",
        },
    )
    await asyncio.to_thread(run.start)
    try:
        answer = await asyncio.to_thread(run.post_lines, login_events(f"wa{int(time.time())}"))
        assert answer["accepted"] == CUSTOMERS * 3
        deadline = time.monotonic() + 60
        while len(accepted) < CUSTOMERS and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
    finally:
        await asyncio.to_thread(run.kill)
    assert len(accepted) == CUSTOMERS
    assert set(accepted.values()) == {1}  # each alert accepted once
    assert all(n == 2 for n in attempts.values())  # one refused attempt, one accepted: no extra call
    assert all(key.startswith("anomalous_login-") for key in accepted)
