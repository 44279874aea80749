"""`engagement report` gives the same figures whether `run` or a worker took the same traffic: the
same events, the same provider statuses and replies through each one's webhook, the same orders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engagement.timefmt import rfc3339
from tests.integration.processes import DEMO_TRIGGERS, running, wait_for
from tests.integration.whatsapp_payloads import ENV, signed, status, webhook
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration

CUSTOMERS = 16


def phone(n: int) -> str:
    return f"+8869123400{n:02d}"


def traffic(now: float, prefix: str) -> list[str]:
    lines = []
    for n in range(CUSTOMERS):
        customer = f"c-{n:02d}"
        lines.append(json.dumps({"event_id": f"{prefix}-p{n}", "type": "customer.updated", "customer_id": customer,
                                 "occurred_at": rfc3339(now - 60), "phone": phone(n), "locale": "en",
                                 "whatsapp_opt_in": True}))  # fmt: skip
        item = {"product_id": f"p-{n}", "quantity": 1, "unit_price": 100.0 * (n + 1)}
        lines.append(json.dumps({"event_id": f"{prefix}-c{n}", "type": "cart.updated", "customer_id": customer,
                                 "occurred_at": rfc3339(now + 1), "cart_id": f"cart-{n}",
                                 "items": [item]}))  # fmt: skip
    return lines


def follow_up(url: str, headers: dict[str, str], decisions: list[dict[str, object]], prefix: str) -> None:
    """Through one runtime's API: statuses of the sends, two replies (one a STOP), and orders from
    every third customer, sent or held out."""
    sends = sorted((d for d in decisions if d["outcome"] == "send"), key=lambda d: str(d["customer_id"]))
    items = []
    for number, send in enumerate(sends):
        n = int(str(send["customer_id"])[2:])
        for kind in ("delivered", "read") if number % 2 else ("delivered",):
            item = status(f"wamid.{prefix}{n}{kind}", kind)
            item["biz_opaque_callback_data"], item["recipient_id"] = send["key"], phone(n)[1:]
            items.append(item)
    body = webhook({"statuses": items})
    assert httpx.post(f"{url}/v1/webhooks/whatsapp", content=body, headers=signed(body), timeout=30).status_code == 200
    now = int(time.time()) + 1
    for n, text in ((int(str(sends[0]["customer_id"])[2:]), "thanks"), (int(str(sends[1]["customer_id"])[2:]), "STOP")):
        inbound = {"from": phone(n)[1:], "id": f"wamid.in{prefix}{n}", "timestamp": str(now), "type": "text",
                   "text": {"body": text}}  # fmt: skip
        body = webhook({"messages": [inbound]})
        assert (
            httpx.post(f"{url}/v1/webhooks/whatsapp", content=body, headers=signed(body), timeout=30).status_code == 200
        )
    orders = [
        json.dumps({"event_id": f"{prefix}-o{n}", "type": "order.placed", "customer_id": f"c-{n:02d}",
                    "occurred_at": rfc3339(now + 2), "order_id": f"o-{n}",
                    "items": [{"product_id": f"p-{n}", "quantity": 1, "unit_price": 100.0 * (n + 1)}],
                    "total": 100.0 * (n + 1), "currency": "TWD"})
        for n in range(0, CUSTOMERS, 3)
    ]  # fmt: skip
    answer = httpx.post(
        f"{url}/v1/events", content="\n".join(orders), headers={"Content-Type": "application/x-ndjson", **headers}
    )
    assert answer.status_code == 202, answer.text


def unique(decisions: list[dict[str, object]]) -> list[dict[str, object]]:
    """The worker's decisions, one per key (its output is at least once)."""
    return list({str(d["key"]): d for d in decisions}.values())


def report_of(url: str, headers: dict[str, str]) -> list[dict[str, object]]:
    answer = httpx.get(f"{url}/v1/report", headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()
    return rows


def test_run_and_a_worker_report_the_same_figures(tmp_path: Path, workers: list[WorkerProcess]) -> None:
    triggers = tmp_path / "triggers"
    shutil.copytree(DEMO_TRIGGERS, triggers)
    cart = triggers / "cart_idle.yaml"
    cart.write_text(cart.read_text(encoding="utf-8").replace("policies:\n", "policies:\n  holdout_percent: 50\n"))
    env = {**ENV, "ENGAGEMENT_TRIGGERS_DIR": str(triggers)}
    space = Namespace("report")
    space.create_topics()
    worker = WorkerProcess(space, tmp_path / "w", tmp_path / "w-sent.jsonl", env)
    workers.append(worker)
    (tmp_path / "w").mkdir(exist_ok=True)
    worker.start(wait_for_partitions=4)
    lines = traffic(time.time(), "rr")
    with running(tmp_path / "r", env) as run:
        assert run.post_lines(lines)["accepted"] == len(lines)
        posted = httpx.post(
            f"{worker.url}/v1/events", content="\n".join(lines),
            headers={"Content-Type": "application/x-ndjson", **worker.headers},
        )  # fmt: skip
        assert posted.status_code == 202, posted.text

        def settled(decisions: list[dict[str, object]]) -> bool:
            return len({d["customer_id"] for d in decisions if d["trigger"] == "cart_idle"}) == CUSTOMERS

        wait_for(lambda: settled(run.decisions()), 60, "run's cart decisions")
        wait_for(lambda: settled(unique(space.decisions())), 60, "the worker's cart decisions")
        run_decisions, worker_decisions = run.decisions(), unique(space.decisions())
        assert {d["key"]: d["outcome"] for d in run_decisions} == {d["key"]: d["outcome"] for d in worker_decisions}
        sends = [d for d in run_decisions if d["outcome"] == "send"]
        assert 2 <= len(sends) <= CUSTOMERS - 2  # half held out, near enough
        follow_up(run.url, run.headers, run_decisions, "r")
        follow_up(worker.url, worker.headers, worker_decisions, "w")

        def settled_report(url: str, headers: dict[str, str]) -> bool:
            rows = {r["trigger"]: r for r in report_of(url, headers)}
            row = rows.get("cart_idle", {})
            converted = int(str(row.get("conversions", 0))) + int(str(row.get("holdout_conversions", 0)))
            return row.get("replied") == 2 and converted == 6

        wait_for(lambda: settled_report(run.url, run.headers), 30, "run's report of the orders and replies")
        wait_for(lambda: settled_report(worker.url, worker.headers), 60, "the worker's report")
        from_run = report_of(run.url, run.headers)
        from_worker = report_of(worker.url, worker.headers)
    assert from_worker == from_run
    (row,) = [r for r in from_run if r["trigger"] == "cart_idle"]
    assert (row["sent"], row["delivered"], row["read"]) == (len(sends), len(sends), len(sends) // 2)
    assert (row["replied"], row["opted_out"]) == (2, 1)
    assert row["uplift"] is not None
    cli = subprocess.run(
        [sys.executable, "-m", "engagement", "report", "--worker", "--json"],
        capture_output=True,
        text=True,
        env=worker.env,  # its brokers, topic prefix and configuration
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == from_run


def test_a_report_since_a_time_leaves_earlier_decisions_out(tmp_path: Path) -> None:
    with running(tmp_path, ENV) as run:
        run.post_lines(traffic(time.time(), "since")[:2])
        wait_for(lambda: any(d["trigger"] == "cart_idle" for d in run.decisions()), 60, "the cart decision")
        everything = report_of(run.url, run.headers)
        assert [r["decided"] for r in everything if r["trigger"] == "cart_idle"] == [1]
        later = httpx.get(f"{run.url}/v1/report", params={"since": str(int(time.time()) + 60)}, headers=run.headers)
        assert later.status_code == 200
        assert later.json() == []
        for wrong in ("yesterday", "NaN", "-1", "1e400", "9" * 30, ""):
            bad = httpx.get(f"{run.url}/v1/report", params={"since": wrong}, headers=run.headers)
            assert bad.status_code == 400, wrong
            assert "since" in bad.text
        far = httpx.get(f"{run.url}/v1/report", params={"since": "253402300799"}, headers=run.headers)
        assert far.status_code == 200  # 9999-12-31: nothing decided since
        assert far.json() == []
