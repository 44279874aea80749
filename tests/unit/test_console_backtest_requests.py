"""`POST /console/api/backtests` on a real aiohttp server, from a hostile client: every refusal is
a 4xx with a reason, and is answered before the console looks for erasures made elsewhere (a look
may delete the kept live sides): only a backtest that starts makes one."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engagement.live.api_keys import KeyRing
from tests.console_app import console_app

READER, INGESTER = "egk_reader-key-for-these-tests-0000000000", "egk_ingest-key-for-these-tests-0000000000"
PATH = "/console/api/backtests"


@pytest.fixture
async def console(tmp_path: Path) -> Any:
    looks: list[float] = []

    async def look() -> None:
        looks.append(time.time())

    keys = KeyRing.of({"reader": (READER, ("read",)), "ingester": (INGESTER, ("ingest",))})
    app = console_app(tmp_path, keys, erasures_elsewhere=look)
    async with TestClient(TestServer(app)) as client:
        yield client, looks


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_hostile_backtest_request_is_refused_with_a_reason_and_looks_for_nothing(console: Any) -> None:
    client, looks = console
    now = time.time()
    week = {"files": {}, "since": now - 7 * 86_400, "until": now}
    deep = "[" * 100_000 + "]" * 100_000
    refused = [
        (None, json.dumps(week), {401}),  # no key
        (_bearer(INGESTER), json.dumps(week), {403}),  # a key without the read scope
        ({"Authorization": "Bearer egk_ключ"}, json.dumps(week), {401}),  # not a key, and not ASCII
        (_bearer(READER), "{" + '"a":' * 10 + "1" + "}" * 10, {400}),  # not an object of the right shape
        (_bearer(READER), '{"files": {}, "since": ' + deep + "}", {400, 413}),  # nested deeply
        (_bearer(READER), '{"files": {}, "since": NaN, "until": 1}', {400}),
        (_bearer(READER), '{"files": {}, "since": 1, "until": Infinity}', {400}),
        (_bearer(READER), json.dumps({**week, "since": "١٢٣"}), {400}),  # Arabic-Indic digits, as text
        (_bearer(READER), json.dumps({**week, "until": 1e400}), {400}),
        (_bearer(READER), json.dumps({**week, "since": 253_402_300_000, "until": 253_402_300_799}), {400}),  # 9999
        (_bearer(READER), json.dumps({**week, "since": now - 90 * 86_400}), {400}),  # over 31 days
        (_bearer(READER), json.dumps({**week, "since": now, "until": now - 60}), {400}),  # backwards
        (_bearer(READER), json.dumps({**week, "files": {"../../etc/passwd": "x"}}), {400}),
        (_bearer(READER), json.dumps({**week, "files": {"triggers/a.yaml": "x" * 50_000_000}}), {400, 413}),
    ]
    for headers, body, statuses in refused:
        answer = await client.post(
            PATH, data=io.BytesIO(body.encode()), headers={"Content-Type": "application/json", **(headers or {})}
        )
        assert answer.status in statuses, (body[:80], answer.status, await answer.text())
        problem = await answer.json(content_type=None)
        assert problem.get("detail") or problem.get("title") or problem.get("error"), problem  # a reason
    assert looks == []  # nothing refused made the console look (and perhaps delete what is kept)
    started = await client.post(PATH, json=week, headers=_bearer(READER))
    assert started.status == 202, await started.text()
    assert len(looks) == 1
